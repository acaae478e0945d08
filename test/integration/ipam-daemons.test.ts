/**
 * IPAM across real daemons in network namespaces, through the real API and
 * CLI: consensus at launch, hundreds of concurrent allocations with no
 * duplicate, kill -9 in the middle of allocating, rmpeer (refused while the
 * peer is reachable or was seen alive moments ago, one winner when run on two
 * hosts at once), reset handing space over, refusals with reasons, and a
 * changed range refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, killDaemon, launch, overlay, statusJson, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

interface IpamStatus {
  status: string;
  range: string;
  peers: { name: string; nickname: string; owned: number; inUse: number; reachable: boolean }[];
}
interface Allocation {
  owner: string;
  address: string;
}

const RANGE = '10.32.0.0/16';

async function allocate(d: DaemonHost, owner: string, extra: Record<string, string> = {}) {
  return apiRequest(d.apiSocket, 'POST', '/ipam/allocate', { owner, ...extra });
}

async function allocations(d: DaemonHost): Promise<Allocation[]> {
  const r = await apiRequest(d.apiSocket, 'GET', '/ipam/allocations');
  return r.json<Allocation[]>();
}

async function ipamReady(d: DaemonHost): Promise<boolean> {
  return (await statusJson<IpamStatus>(d, 'ipam')).status === 'ready';
}

describe('IPAM on real daemons', () => {
  let lab: Lab;
  let d: DaemonHost[];
  const names: string[] = [];
  const held = new Map<string, { host: number; address: string }>();

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 4, label: 'ipam' });
    d = [1, 2, 3, 4].map((i) => daemonHost(lab, i));
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  const peersOf = (i: number) => [1, 2, 3].filter((j) => j !== i).map((j) => `198.51.100.${j}`);

  it('three hosts reach consensus at launch and split the range', async () => {
    // Launched together, as a cluster is: one by one on a loaded machine, the first two could agree before the third is up.
    names.push(...(await Promise.all([1, 2, 3].map((i) => launch(d[i - 1]!, ['--ipalloc-range', RANGE, ...peersOf(i)])))));
    expect(await waitFor(async () => (await Promise.all(d.slice(0, 3).map(ipamReady))).every(Boolean), 20_000)).toBe(true);
    const st = await statusJson<IpamStatus>(d[0]!, 'ipam');
    expect(st.range).toBe(RANGE);
    expect(st.peers.map((p) => p.owned).sort()).toEqual([21845, 21845, 21846]);
    const text = (await overlay(d[0]!, ['status', 'ipam'])).stdout;
    for (const n of ['h1', 'h2', 'h3']) expect(text).toMatch(new RegExp(`\\(${n}\\)\\s+2184[56] IPs \\(\\s*33\\.3% of total\\)`));
    const summary = (await overlay(d[1]!, ['status'])).stdout;
    expect(summary).toMatch(/Status: ready/);
    expect(summary).toMatch(/Range: 10\.32\.0\.0\/16/);
    expect(summary).toMatch(/DefaultSubnet: 10\.32\.0\.0\/16/);
  });

  it('300 concurrent allocations on three hosts, in one small subnet: no duplicates, no network or broadcast address', async () => {
    const jobs: Promise<void>[] = [];
    for (let k = 0; k < 300; k++) {
      const host = k % 3;
      const owner = `c${k}:eth0`;
      jobs.push(
        allocate(d[host]!, owner, { subnet: '10.32.200.0/22' }).then((r) => {
          expect(r.status, r.body).toBe(200);
          const a = r.json<Allocation>();
          expect(a.address).toMatch(/^10\.32\.(20[0-3])\.\d+\/22$/);
          held.set(owner, { host, address: a.address });
        }),
      );
    }
    await Promise.all(jobs);
    const addrs = [...held.values()].map((h) => h.address);
    expect(new Set(addrs).size).toBe(300);
    expect(addrs).not.toContain('10.32.200.0/22');
    expect(addrs).not.toContain('10.32.203.255/22');
    // Idempotent: asking again returns the same address.
    const again = await allocate(d[1]!, 'c1:eth0', { subnet: '10.32.200.0/22' });
    expect(again.json<Allocation>().address).toBe(held.get('c1:eth0')!.address);
  });

  it('claims a named address, refuses one in use, and releases by owner and by address', async () => {
    const c = await allocate(d[2]!, 'claim:eth0', { ip: '10.32.7.7/24' });
    expect(c.status, c.body).toBe(200);
    expect(c.json<Allocation & { subnet: string }>()).toMatchObject({ address: '10.32.7.7/24', subnet: '10.32.7.0/24' });
    const dup = await allocate(d[0]!, 'other:eth0', { ip: '10.32.7.7/24' });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatch(/already in use/);
    expect((await apiRequest(d[2]!.apiSocket, 'POST', '/ipam/release', { ip: '10.32.7.7' })).json()).toMatchObject({ released: true, owner: 'claim:eth0' });
    const lookup = await apiRequest(d[2]!.apiSocket, 'GET', '/ipam/lookup?owner=claim:eth0');
    expect(lookup.status).toBe(404);
  });

  it('rejects malformed requests with a clear error', async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /"owner" is required/],
      [{ owner: 'x', subnet: '10.99.0.0/24' }, /not inside the allocation range/],
      [{ owner: 'x', subnet: 'nonsense' }, /subnet/],
      [{ owner: 'x', ip: '10.32.0.300' }, /not an IPv4 address/],
      [{ owner: 7 }, /"owner" must be a string/],
    ];
    for (const [body, msg] of cases) {
      const r = await apiRequest(d[0]!.apiSocket, 'POST', '/ipam/allocate', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json<{ error: string }>().error).toMatch(msg);
    }
  });

  it('kill -9 in the middle of allocating loses no answered allocation', async () => {
    const answered = new Map<string, string>();
    const jobs = Array.from({ length: 60 }, (_, k) =>
      allocate(d[1]!, `k${k}:eth0`)
        .then((r) => {
          if (r.status === 200) answered.set(`k${k}:eth0`, r.json<Allocation>().address);
        })
        .catch(() => undefined),
    );
    await waitFor(() => answered.size >= 5, 10_000, 5);
    await killDaemon(d[1]!);
    await Promise.all(jobs);
    expect(answered.size).toBeGreaterThanOrEqual(5);
    await launch(d[1]!, ['--ipalloc-range', RANGE, ...peersOf(2)]);
    expect(await waitFor(() => ipamReady(d[1]!), 20_000)).toBe(true);
    const after = new Map((await allocations(d[1]!)).map((a) => [a.owner, a.address]));
    for (const [owner, address] of answered) expect(after.get(owner), owner).toBe(address.split('/')[0]);
    // Still unique across the three hosts.
    const all = (await Promise.all(d.slice(0, 3).map(allocations))).flat().map((a) => a.address);
    expect(new Set(all).size).toBe(all.length);
  });

  it('rmpeer is refused while the peer is reachable', async () => {
    const r = await overlay(d[0]!, ['rmpeer', 'h3']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/reachable/);
    const forced = await overlay(d[0]!, ['rmpeer', '--force', 'h3']);
    expect(forced.exitCode).not.toBe(0);
    expect(forced.stderr).toMatch(/is reachable/);
    const bad = await apiRequest(d[0]!.apiSocket, 'POST', '/ipam/rmpeer', { peer: 'h3', force: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.json<{ error: string }>().error).toMatch(/"force" must be true or false/);
    // Several at once (named together, left out of the quorum): each must be removable, or nothing moves.
    const together = await overlay(d[0]!, ['rmpeer', 'h3', 'h2']);
    expect(together.exitCode).not.toBe(0);
    expect(together.stderr).toMatch(/is reachable/);
    for (const body of [{ peers: [] }, { peers: 'h3' }, { peers: ['h3', 7] }, { peer: 'h3', peers: ['h3'] }, { peers: Array(5000).fill('h3') }, {}]) {
      const r = await apiRequest(d[0]!.apiSocket, 'POST', '/ipam/rmpeer', body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
  });

  it('rmpeer of a dead peer run on two hosts at once: exactly one wins, and its space moves', async () => {
    await killDaemon(d[2]!);
    const gone = async (i: number) => (await statusJson<IpamStatus>(d[i]!, 'ipam')).peers.some((p) => p.nickname === 'h3' && !p.reachable);
    expect(await waitFor(async () => (await gone(0)) && (await gone(1)), 20_000)).toBe(true);
    const text = (await overlay(d[0]!, ['status', 'ipam'])).stdout;
    expect(text).toMatch(/\(h3\).*unreachable!/);
    // Gone only a moment ago (less than a heartbeat timeout): refused unless forced.
    const early = await overlay(d[0]!, ['rmpeer', 'h3']);
    expect(early.exitCode).not.toBe(0);
    expect(early.stderr).toMatch(/seen alive \d+ s ago.*--force/);
    const [a, b] = await Promise.all([overlay(d[0]!, ['rmpeer', '--force', 'h3']), overlay(d[1]!, ['rmpeer', '--force', names[2]!])]);
    expect([a.exitCode, b.exitCode].filter((c) => c === 0)).toHaveLength(1);
    expect((a.exitCode === 0 ? b : a).stderr).toMatch(/owns no space|already removed/);
    expect(await waitFor(async () => {
      const st = await statusJson<IpamStatus>(d[0]!, 'ipam');
      return !st.peers.some((p) => p.nickname === 'h3' && p.owned > 0) && st.peers.filter((p) => p.owned > 0).reduce((n, p) => n + p.owned, 0) === 65536;
    }, 10_000)).toBe(true);
    // The survivors can allocate where h3's space was.
    const r = await allocate(d[0]!, 'after-rmpeer:eth0', { ip: '10.32.250.1/16' });
    expect(r.status, r.body).toBe(200);
  });

  it('reset hands this peer’s space to a live peer before wiping its state', async () => {
    const before = await statusJson<IpamStatus>(d[1]!, 'ipam');
    const h2 = before.peers.find((p) => p.nickname === 'h2')!;
    expect(h2.owned).toBeGreaterThan(0);
    const r = await overlay(d[1]!, ['reset']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await waitFor(async () => {
      const st = await statusJson<IpamStatus>(d[0]!, 'ipam');
      return st.peers.find((p) => p.nickname === 'h1')!.owned === 65536;
    }, 10_000)).toBe(true);
  });

  it('an allocation before consensus fails within --ipalloc-wait, saying why', async () => {
    await launch(d[3]!, ['--ipalloc-range', RANGE, '--ipalloc-init', 'consensus=3', '--ipalloc-wait', '2']);
    const t0 = Date.now();
    const r = await allocate(d[3]!, 'early:eth0');
    const took = Date.now() - t0;
    expect(r.status).toBe(503);
    expect(r.body).toMatch(/awaiting consensus \(quorum 2, known 1\).*try again later/);
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect(took).toBeLessThan(5_000);
    expect((await overlay(d[3]!, ['status'])).stdout).toMatch(/awaiting consensus \(quorum 2, known 1\)/);
  });

  it('a changed --ipalloc-range against stored data is refused with a clear message', async () => {
    await killDaemon(d[0]!, 'SIGTERM');
    const r = await overlay(d[0]!, ['launch', '--nickname', 'h1', '--ipalloc-range', '10.40.0.0/16']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/stored IPAM range is 10\.32\.0\.0\/16 but --ipalloc-range is 10\.40\.0\.0\/16/);
    await launch(d[0]!, ['--ipalloc-range', RANGE]);
    expect(await waitFor(() => ipamReady(d[0]!), 10_000)).toBe(true);
    const mine = await allocations(d[0]!);
    expect(mine.some((a) => a.owner === 'after-rmpeer:eth0' && a.address === '10.32.250.1')).toBe(true);
  });
});
