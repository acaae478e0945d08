/**
 * A partial control mesh still gives a full data plane: 30 real daemons in
 * namespaces, launched in parallel, each naming up to 3 earlier hosts, with
 * --conn-limit 5. Each host attaches one container; every pair of containers
 * on different hosts pings (VXLAN goes directly over UDP to every peer,
 * whatever the control connections are). The kernel's global neighbour tables
 * are raised for the run (30 hosts and 30 containers that all talk to each
 * other hold about 1,700 ARP entries, over the default 1,024: evicted entries
 * made pings wait on ARP again) and restored afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, statusJson, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';
import { raiseNeighbourTables } from '../../scripts/lab/neighbour-tables.js';

const N = 30;

/** Run fn over items, at most `width` at a time; results in item order. */
async function inBatches<T, R>(items: T[], width: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}
const LIMIT = 5;

interface PeerView {
  name: string;
  reachable: boolean;
}
interface ConnView {
  state: string;
}

describe(`${N} real hosts with --conn-limit ${LIMIT}`, () => {
  let lab: Lab;
  let d: DaemonHost[];
  let restoreNeighbourTables: (() => Promise<void>) | undefined;
  const ips: { ns: string; ip: string }[] = [];
  // Where the time goes, printed per phase (the suite's longest file).
  let phaseStart = performance.now();
  const phase = (what: string) => {
    console.log(`${what}: ${((performance.now() - phaseStart) / 1000).toFixed(1)} s`);
    phaseStart = performance.now();
  };
  /** Every host at once, each answering over its own socket through the CLI. */
  const everyHost = <T>(view: string) => Promise.all(d.map((x) => statusJson<T>(x, view)));

  beforeAll(async () => {
    restoreNeighbourTables = await raiseNeighbourTables();
    lab = await Lab.create({ hosts: N, label: 'scale' });
    phase('lab created');
    d = Array.from({ length: N }, (_, i) => daemonHost(lab, i + 1));
    // All at once, each naming up to 3 earlier hosts.
    await Promise.all(
      d.map((x, i) => {
        const earlier = [i - 1, i - 2, i - 3].filter((j) => j >= 0).map((j) => `198.51.100.${j + 1}`);
        return launch(x, ['--conn-limit', String(LIMIT), '--ipalloc-init', `consensus=${N}`, ...earlier]);
      }),
    );
    phase('daemons launched');
  }, 600_000);
  afterAll(async () => {
    try {
      if (d) await cleanupDaemons(d);
      await lab?.destroy();
    } finally {
      await restoreNeighbourTables?.();
    }
  }, 600_000);

  it('every host sees every peer reachable, within its conn-limit (plus the hosts it named)', { timeout: 600_000 }, async () => {
    const all = await waitFor(async () => (await everyHost<PeerView[]>('peers')).every((peers) => peers.length === N && peers.every((p) => p.reachable)), 300_000, 1000);
    expect(all).toBe(true);
    phase('full topology everywhere');
    // Connections let in over the limit while the mesh was forming (from peers
    // reachable no other way yet) are closed once their peers have other links.
    const counts = async () => (await everyHost<{ connections: ConnView[] }>('connections')).map((v) => v.connections.filter((c) => c.state === 'established').length);
    const within = await waitFor(async () => (await counts()).every((n) => n <= LIMIT + 3), 120_000, 1000);
    expect(within, `established connections per host: ${(await counts()).join(' ')}`).toBe(true);
    phase('connections within the limit');
    expect(await ipamReady(d, 300_000)).toBe(true);
    phase('IPAM ready everywhere');
  });

  it('every pair of containers on different hosts pings', { timeout: 900_000 }, async () => {
    // Containers attach a few hosts at a time (each attach is the real CNI path: IPAM, veth, bridge, FDB).
    const attached = await inBatches(d, 6, async (x, i) => {
      const ns = await lab.addNamespace(`c${i + 1}`);
      const r = await overlay(x, ['attach', ns], { timeoutMs: 120_000 });
      expect(r.exitCode, r.stderr).toBe(0);
      return { ns, ip: r.stdout.trim().split('/')[0]! };
    });
    ips.push(...attached);
    phase(`${N} containers attached`);
    // Every ordered pair (870): one shell per source pings all its targets at
    // once and names those that did not answer; only those are retried, one
    // by one, for up to a minute (a first ping may wait for ARP under load).
    const sweep = `for ip in "$@"; do (ping -c 1 -W 2 "$ip" >/dev/null 2>&1 || echo "$ip") & done; wait`;
    const ping = async (ns: string, ip: string) => (await lab.exec(ns, 'ping', ['-c', '1', '-W', '1', ip], { reject: false })).exitCode === 0;
    const failed: string[] = [];
    await inBatches(ips, 5, async (src, i) => {
      const targets = ips.filter((_, j) => j !== i).map((t) => t.ip);
      const r = await lab.exec(src.ns, 'sh', ['-c', sweep, 'sweep', ...targets], { reject: false });
      const missed = r.stdout.split('\n').filter(Boolean);
      for (const ip of missed) {
        if (!(await waitFor(() => ping(src.ns, ip), 60_000, 500))) failed.push(`c${i + 1} -> ${ip}`);
      }
    });
    phase(`${N * (N - 1)} pings`);
    expect(failed).toEqual([]);
  });
});
