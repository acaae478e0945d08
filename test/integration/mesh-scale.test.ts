/**
 * A partial control mesh still gives a full data plane: 30 real daemons in
 * namespaces, launched in parallel, each naming up to 3 earlier hosts, with
 * --conn-limit 5. Each host attaches one container; every pair of containers
 * on different hosts pings (VXLAN goes directly over UDP to every peer,
 * whatever the control connections are).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, statusJson, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

const N = 30;
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
  const ips: { ns: string; ip: string }[] = [];

  beforeAll(async () => {
    lab = await Lab.create({ hosts: N, label: 'scale' });
    d = Array.from({ length: N }, (_, i) => daemonHost(lab, i + 1));
    // All at once, each naming up to 3 earlier hosts.
    await Promise.all(
      d.map((x, i) => {
        const earlier = [i - 1, i - 2, i - 3].filter((j) => j >= 0).map((j) => `198.51.100.${j + 1}`);
        return launch(x, ['--conn-limit', String(LIMIT), '--ipalloc-init', `consensus=${N}`, ...earlier]);
      }),
    );
  }, 600_000);
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  }, 600_000);

  it('every host sees every peer reachable, within its conn-limit (plus the hosts it named)', { timeout: 600_000 }, async () => {
    const all = await waitFor(async () => {
      for (const x of d) {
        const peers = await statusJson<PeerView[]>(x, 'peers');
        if (peers.length !== N || peers.some((p) => !p.reachable)) return false;
      }
      return true;
    }, 300_000, 1000);
    expect(all).toBe(true);
    // Connections let in over the limit while the mesh was forming (from peers
    // reachable no other way yet) are closed once their peers have other links.
    const counts = async () =>
      Promise.all(d.map(async (x) => (await statusJson<{ connections: ConnView[] }>(x, 'connections')).connections.filter((c) => c.state === 'established').length));
    const within = await waitFor(async () => (await counts()).every((n) => n <= LIMIT + 3), 120_000, 1000);
    expect(within, `established connections per host: ${(await counts()).join(' ')}`).toBe(true);
    expect(await ipamReady(d, 300_000)).toBe(true);
  });

  it('every pair of containers on different hosts pings', { timeout: 900_000 }, async () => {
    for (const [i, x] of d.entries()) {
      const ns = await lab.addNamespace(`c${i + 1}`);
      const r = await overlay(x, ['attach', ns], { timeoutMs: 120_000 });
      expect(r.exitCode, r.stderr).toBe(0);
      ips.push({ ns, ip: r.stdout.trim().split('/')[0]! });
    }
    const ping = async (ns: string, ip: string) => (await lab.exec(ns, 'ping', ['-c', '1', '-W', '1', ip], { reject: false })).exitCode === 0;
    const failed: string[] = [];
    // One source at a time, its pings in parallel: 870 pairs.
    for (const [i, src] of ips.entries()) {
      const results = await Promise.all(
        ips.map(async (dst, j) => (j === i ? true : (await ping(src.ns, dst.ip)) || (await waitFor(() => ping(src.ns, dst.ip), 60_000, 500)))),
      );
      results.forEach((ok, j) => {
        if (!ok) failed.push(`c${i + 1} -> c${j + 1}`);
      });
    }
    expect(failed).toEqual([]);
  });
});
