/**
 * IPAM on real daemons in namespaces:
 *  - launch → IPAM ready for 3 peers launched together (consensus), against
 *    launch → full mesh in the same runs (the floor consensus builds on);
 *  - allocation latency (p50/p99) and throughput over the API socket with
 *    10,000 addresses allocated on each of the 3 peers at once, against a
 *    no-op API call (GET /ipam/status) measured the same way;
 *  - daemon RSS holding 100k allocations, against the same daemon idle.
 * And, simulated (benchIpamRestSim), IPAM's gossip at rest against main's
 * full-state anti-entropy of the same cluster.
 */
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, daemonPid, launch, type DaemonHost } from '../lab/daemons.js';
import { IpamSim } from '../lab/ipam-sim.js';
import { simName } from '../lab/mesh-sim.js';
import { Lab } from '../lab/lab.js';
import { median, percentile, ratio, rssMb } from './measure.js';

async function untilOk(check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ready = (d: DaemonHost) => async () => (await apiRequest(d.apiSocket, 'GET', '/ipam/status', undefined, { timeoutMs: 2000 })).status === 200;
const meshed = (d: DaemonHost) => async () =>
  (await apiRequest(d.apiSocket, 'GET', '/status/peers?format=json', undefined, { timeoutMs: 2000 })).json<{ connections: unknown[] }[]>().every((p) => p.connections.length === 2);

/** Issue `n` calls with `concurrency` in flight; returns per-call latencies (ms) and the wall time. */
async function load(n: number, concurrency: number, call: (i: number) => Promise<void>): Promise<{ lat: number[]; wallMs: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await call(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { lat, wallMs: performance.now() - t0 };
}

export async function benchIpam(runs = 3): Promise<Record<string, number>> {
  const readyMs: number[] = [];
  const meshMs: number[] = [];
  let perPeer: { alloc: { lat: number[]; wallMs: number }; noop: { lat: number[]; wallMs: number } } | undefined;
  for (let run = 0; run < runs; run++) {
    const lab = await Lab.create({ hosts: 3, label: 'benchipam' });
    const hosts = [1, 2, 3].map((i) => daemonHost(lab, i));
    try {
      const t0 = performance.now();
      await Promise.all(hosts.map((d, i) => launch(d, [1, 2, 3].filter((j) => j !== i + 1).map((j) => `198.51.100.${j}`))));
      const mesh = Promise.all(hosts.map((d) => untilOk(meshed(d)))).then(() => meshMs.push(performance.now() - t0));
      await Promise.all(hosts.map((d) => untilOk(ready(d))));
      readyMs.push(performance.now() - t0);
      await mesh;
      if (run === runs - 1) {
        // 10,000 addresses on each of the 3 peers at once, against a no-op API call measured the same way.
        const noop = await Promise.all(hosts.map((d) => load(10_000, 16, async () => void (await apiRequest(d.apiSocket, 'GET', '/ipam/status')))));
        const alloc = await Promise.all(
          hosts.map((d, h) =>
            load(10_000, 16, async (i) => {
              const r = await apiRequest(d.apiSocket, 'POST', '/ipam/allocate', { owner: `bench-${h}-${i}:eth0` });
              if (r.status !== 200) throw new Error(r.body);
            }),
          ),
        );
        const merge = (xs: { lat: number[]; wallMs: number }[]) => ({ lat: xs.flatMap((x) => x.lat), wallMs: Math.max(...xs.map((x) => x.wallMs)) });
        perPeer = { alloc: merge(alloc), noop: merge(noop) };
      }
    } finally {
      await cleanupDaemons(hosts);
      await lab.destroy();
    }
  }

  const lab = await Lab.create({ hosts: 1, label: 'benchalloc' });
  const d = daemonHost(lab, 1);
  try {
    await launch(d, ['--ipalloc-range', '10.32.0.0/12']);
    await untilOk(ready(d));
    await new Promise((r) => setTimeout(r, 2000));
    const pid = daemonPid(d)!;
    const idleRss = rssMb(pid);
    await load(100_000, 32, async (i) => {
      const r = await apiRequest(d.apiSocket, 'POST', '/ipam/allocate', { owner: `rss-${i}:eth0` });
      if (r.status !== 200) throw new Error(r.body);
    });
    await new Promise((r) => setTimeout(r, 2000));
    const fullRss = rssMb(pid);
    const { alloc, noop } = perPeer!;
    const n = alloc.lat.length;
    return {
      launchToIpamReadyMs: Math.round(median(readyMs)),
      launchToFullMeshMs: Math.round(median(meshMs)),
      ipamReadyVsMesh: ratio(median(readyMs), median(meshMs)),
      allocP50Ms: +percentile(alloc.lat, 50).toFixed(2),
      allocP99Ms: +percentile(alloc.lat, 99).toFixed(2),
      allocPerSecond3Peers: Math.round(n / (alloc.wallMs / 1000)),
      noopApiP50Ms: +percentile(noop.lat, 50).toFixed(2),
      noopApiP99Ms: +percentile(noop.lat, 99).toFixed(2),
      noopApiPerSecond3Peers: Math.round(noop.lat.length / (noop.wallMs / 1000)),
      allocVsNoopP50: ratio(percentile(alloc.lat, 50), percentile(noop.lat, 50)),
      allocVsNoopThroughput: ratio(n / alloc.wallMs, noop.lat.length / noop.wallMs),
      idleRssMb: +idleRss.toFixed(1),
      rssWith100kAllocationsMb: +fullRss.toFixed(1),
      rss100kVsIdle: ratio(fullRss, idleRss),
    };
  } finally {
    await cleanupDaemons([d]);
    await lab.destroy();
  }
}

/** Gossip bytes the live peers sent: IPAM's, and all channels'. */
function ipamBytes(sim: IpamSim): { ipam: number; all: number } {
  let ipam = 0;
  let all = 0;
  for (const r of sim.mesh.alive()) {
    ipam += r.counters.gossipBytesSentByChannel?.['ipam'] ?? 0;
    all += r.counters.gossipBytesSent;
  }
  return { ipam, all };
}

/**
 * IPAM at rest, simulated: N peers (real Routers and Ipam cores on a
 * simulated network and clock) launched together with the same seed list
 * (`--ipalloc-init seed=...`: the ring consensus would choose, without
 * simulating 300 peers' Paxos), settled (ring agreed, mesh converged), then
 * one minute of simulated time. Per peer
 * per minute: IPAM's gossip bytes with its digest, against the same cluster
 * (same seed) with the digest off, which is main's anti-entropy (the ring and
 * every usage record to ~2·log2(N) neighbours every round); and all gossip.
 * IPAM_REST_SIZES="20,100,300" picks the sizes.
 */
export async function benchIpamRestSim(sizes = (process.env['IPAM_REST_SIZES'] ?? '20,100,300').split(',').map(Number), log = console.log): Promise<Record<string, number>[]> {
  const rows: Record<string, number>[] = [];
  for (const n of sizes) {
    const figures: Record<string, { ipam: number; all: number; settleMs: number; wallS: number }> = {};
    for (const mode of ['digest', 'full'] as const) {
      const wall = performance.now();
      const seeds = Array.from({ length: n }, (_, i) => simName(i));
      const sim = new IpamSim(7000 + n, n, { range: '10.32.0.0/12', init: () => ({ mode: 'seed', seeds }), ipamDigest: () => mode === 'digest' });
      await sim.start();
      const t0 = sim.mesh.clock.now();
      if (!(await sim.runUntil(() => sim.allReady() && sim.ringsAgree() && sim.mesh.converged(), 600_000, 100))) throw new Error(`${n} IPAM peers (${mode}) did not settle`);
      const settleMs = sim.mesh.clock.now() - t0;
      await sim.run(10_000, 100);
      const before = ipamBytes(sim);
      await sim.run(60_000, 100);
      const after = ipamBytes(sim);
      const peers = sim.alive().length;
      figures[mode] = { ipam: (after.ipam - before.ipam) / peers, all: (after.all - before.all) / peers, settleMs, wallS: (performance.now() - wall) / 1000 };
      await sim.stop();
    }
    const d = figures['digest']!;
    const f = figures['full']!;
    const row = {
      peers: n,
      ipamRestBytesPerPeerPerMin: Math.round(d.ipam),
      mainIpamRestBytesPerPeerPerMin: Math.round(f.ipam),
      ipamRestVsMain: +(d.ipam / f.ipam).toFixed(4),
      allGossipRestBytesPerPeerPerMin: Math.round(d.all),
      mainAllGossipRestBytesPerPeerPerMin: Math.round(f.all),
      allGossipRestVsMain: +(d.all / f.all).toFixed(4),
      settleSimMs: d.settleMs,
      mainSettleSimMs: f.settleMs,
      wallS: Math.round(d.wallS + f.wallS),
    };
    rows.push(row);
    log(JSON.stringify(row)); // progress: 300 peers take minutes
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === 'rest-sim') benchIpamRestSim().then((r) => console.table(r));
  else benchIpam().then((r) => console.log(JSON.stringify(r, null, 2)));
}
