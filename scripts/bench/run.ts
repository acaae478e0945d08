/**
 * `npm run bench`: every benchmark in sequence, each printing its numbers
 * with a baseline measured in the same run; results also go to
 * bench-results/<timestamp>.json, with charts in <timestamp>.html.
 * Speed targets live here, never in tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { benchCni } from './cni.js';
import { benchDataplane } from './dataplane.js';
import { benchEncryption } from './encryption.js';
import { benchExecutable } from './executable.js';
import { benchIpam, benchIpamRestSim } from './ipam.js';
import { benchIpamJoin } from './ipam-join.js';
import { benchMeshLaunch } from './mesh-launch.js';
import { benchMeshSim } from './mesh-sim.js';
import { benchMeshScaleReal } from './mesh-scale-real.js';
import { benchMeshScaleSim } from './mesh-scale-sim.js';
import { benchRest } from './rest.js';
import { renderReport } from './report.js';
import { benchSecurity } from './security.js';

const BENCHES: Record<string, () => Promise<unknown>> = {
  'mesh-launch (3 namespaced daemons; target < 1000 ms to full mesh, idle RSS < 80 MB)': () => benchMeshLaunch(),
  'executable (the overlay executable vs node dist/src/cli/main.js: CLI start-up and idle daemon RSS)': () => benchExecutable(),
  'mesh-sim (gossip convergence after a join and a death)': () => benchMeshSim(),
  'scale-real (daemons in namespaces at 10, 30, 60, 100 hosts launched in parallel; targets at 100: topology <= 15 s and IPAM ready <= 10 s after the last launch, RSS <= 70 MB, gossip at rest O(N))': () => benchMeshScaleReal(),
  'scale (simulated mesh: full mesh at 100 and 300, conn-limit 10 at 100, 1,000 and 5,000; per-peer gossip at rest vs main\'s full-state anti-entropy of the same mesh, target O(N); 5,000 peers under 5 min wall)': () => benchMeshScaleSim(),
  'dataplane (iperf3 container to container: overlay vs hand-made bridge+VXLAN, target >= 0.95; vs the host link with TSO/GSO off, target >= 0.9; RTT)': () => benchDataplane(),
  'encryption (iperf3 container to container: WireGuard-encrypted vs plain VXLAN, 1 and 4 streams; CPU of the WireGuard processes)': () => benchEncryption(),
  'cni (ADD/DEL latency of the plugin binary vs the reference bridge + host-local; target: medians at or below the reference)': () => benchCni(),
  'rest (idle daemons at 10, 20, 50 hosts, 0 and 5 containers each: processes/min target 0 outside the safety pass, CPU target <= 0.2 % at 50, RSS target <= 70 MB at 50; processes at a remote host per ADD)': () => benchRest(),
  'ipam (launch → ready for 3 peers, target < 2000 ms; allocations over the API; RSS with 100k allocations)': () => benchIpam(),
  'security (scrypt password key vs the v1 hash: daemon start-up, target < 1000 ms added; handshake, target ratio ~1.0; cost of one offline guess)': () => benchSecurity(),
  'ipam-rest (simulated IPAM at rest at 20, 100, 300 peers: gossip bytes per peer per minute by digest vs main\'s full-state anti-entropy of the same cluster)': () => benchIpamRestSim(),
  'ipam-join (first allocation on a newly joined peer vs an allocation on a peer owning space; target ratio <= 1)': () => benchIpamJoin(),
};

async function main(): Promise<void> {
  const only = process.argv[2];
  const results: Record<string, unknown> = {};
  for (const [name, run] of Object.entries(BENCHES)) {
    if (only && !name.startsWith(only)) continue;
    console.log(`\n== ${name}`);
    const t = performance.now();
    const r = await run();
    results[name] = r;
    if (Array.isArray(r)) console.table(r);
    else console.log(JSON.stringify(r, null, 2));
    console.log(`(${((performance.now() - t) / 1000).toFixed(1)} s)`);
  }
  mkdirSync('bench-results', { recursive: true });
  const when = new Date().toISOString();
  const file = `bench-results/${when.replace(/[:.]/g, '-')}`;
  writeFileSync(`${file}.json`, JSON.stringify(results, null, 2));
  writeFileSync(`${file}.html`, renderReport(results, when));
  console.log(`\nresults written to ${file}.json, charts to ${file}.html`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
