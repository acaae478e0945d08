/**
 * The IPAM core on a few simulated peers (real Routers, simulated network and
 * clock): initialisation modes, allocation rules, refusals with reasons,
 * restart, rmpeer and hand-over.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { IpamSim } from '../../../scripts/lab/ipam-sim.js';
import { simName } from '../../../scripts/lab/mesh-sim.js';
import { Ipam, IpamError } from '../../../src/ipam/ipam.js';
import { SimClock } from '../../../src/lib/clock.js';
import { intToIp, ipToInt, parseNetwork } from '../../../src/lib/ipv4.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { seededRandom } from '../../../src/lib/random.js';

const NET = parseNetwork('10.32.0.0/20');
let sim: IpamSim | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

async function cluster(n: number, opts: ConstructorParameters<typeof IpamSim>[2] = {}): Promise<IpamSim> {
  sim = new IpamSim(42, n, opts);
  await sim.start();
  return sim;
}

async function ready(s: IpamSim): Promise<void> {
  expect(await s.runUntil(() => s.allReady() && s.ringsAgree() && s.mesh.converged(), 60_000)).toBe(true);
}

/** Await an allocation while simulated time runs. */
async function alloc(s: IpamSim, peer: number, owner: string, subnet = NET, ip?: number): Promise<number> {
  const [r] = await s.settle([s.ipams[peer]!.allocate(owner, subnet, ip)]);
  if (r!.status === 'rejected') throw r.reason;
  return r!.value;
}

describe('IPAM core', () => {
  it('a peer that gets the ring owning nothing is ready only once it has space; an observer is ready with none', async () => {
    const s = await cluster(3, { init: (i) => (i === 0 ? { mode: 'seed', seeds: [simName(0)] } : i === 1 ? { mode: 'consensus', n: 3 } : { mode: 'observer' }) });
    const joiner = s.ipams[1]!;
    const observer = s.ipams[2]!;
    const seen = new Set<string>();
    expect(
      await s.runUntil(() => {
        if (joiner.ring.initialised) {
          const st = joiner.state().state;
          seen.add(st);
          if (st === 'ready') expect(joiner.ownedSpans().length, 'ready before it had space').toBeGreaterThan(0);
        }
        return joiner.state().state === 'ready' && observer.state().state === 'ready';
      }, 30_000, 5),
    ).toBe(true);
    expect(seen.has('awaiting-space')).toBe(true);
    expect(observer.ownedSpans()).toEqual([]);
  });

  it('three peers agree on one ring and split the range evenly', async () => {
    const s = await cluster(3);
    await ready(s);
    const own = s.ipams[0]!.ring.ownership();
    expect([...own.values()].sort()).toEqual([1365, 1365, 1366]);
  });

  it('consensus completes within seconds for 2, 3 and 5 peers: every step is gossiped at once, not left to anti-entropy', async () => {
    for (const n of [2, 3, 5]) {
      const s = new IpamSim(n, n, { init: () => ({ mode: 'consensus', n }) });
      sim = s;
      await s.start();
      expect(await s.mesh.runUntilConverged(10_000), `mesh of ${n}`).toBeGreaterThanOrEqual(0);
      const t0 = s.mesh.clock.now();
      expect(await s.runUntil(() => s.allReady(), 5_000, 20), `consensus of ${n}`).toBe(true);
      expect(s.mesh.clock.now() - t0).toBeLessThan(5_000);
      await s.stop();
      sim = undefined;
    }
  });

  it('allocation is idempotent per owner and never hands out network or broadcast addresses', async () => {
    const s = await cluster(3);
    await ready(s);
    const a = await alloc(s, 0, 'c1');
    expect(await alloc(s, 0, 'c1')).toBe(a);
    const small = parseNetwork('10.32.1.0/30');
    const got = [await alloc(s, 1, 'x1', small), await alloc(s, 1, 'x2', small)].map(intToIp).sort();
    expect(got).toEqual(['10.32.1.1', '10.32.1.2']);
    await expect(alloc(s, 1, 'x3', small)).rejects.toThrow(/the subnet is full/);
  });

  it('asks other peers for space when its own share of a subnet is used up', async () => {
    const s = await cluster(3);
    await ready(s);
    const sub = parseNetwork('10.32.0.0/24'); // inside peer 0's share only
    const addrs = new Set<number>();
    for (let i = 0; i < 40; i++) addrs.add(await alloc(s, 2, `d${i}`, sub));
    expect(addrs.size).toBe(40);
    expect(s.ipams[2]!.ring.ownerOf([...addrs][0]!)).toBe(s.ipams[2]!.self);
  });

  it('claims a specific address, and refuses one already in use', async () => {
    const s = await cluster(3);
    await ready(s);
    const ip = ipToInt('10.32.9.7');
    expect(await alloc(s, 0, 'claim1', NET, ip)).toBe(ip);
    await expect(alloc(s, 1, 'claim2', NET, ip)).rejects.toMatchObject({ kind: 'conflict' });
    await expect(alloc(s, 0, 'claim1', NET, ipToInt('10.32.9.8'))).rejects.toThrow(/already holds 10\.32\.9\.7/);
    await expect(alloc(s, 0, 'claim3', NET, ipToInt('10.32.15.255'))).rejects.toThrow(/not a host address/);
  });

  it('before consensus an allocation fails within the wait, saying quorum and known peers', async () => {
    const s = new IpamSim(1, 1, { init: () => ({ mode: 'consensus', n: 3 }), waitMs: 3_000 });
    sim = s;
    await s.start();
    const t0 = s.mesh.clock.now();
    await expect(alloc(s, 0, 'early')).rejects.toThrow('IPAM is not ready: awaiting consensus (quorum 2, known 1); try again later');
    expect(s.mesh.clock.now() - t0).toBeLessThanOrEqual(3_100);
    expect(s.ipams[0]!.state()).toEqual({ state: 'awaiting-consensus', quorum: 2, known: 1 });
  });

  it('a release while the allocation still waits cancels it: nothing is left held (a DEL after a killed ADD)', async () => {
    const s = new IpamSim(1, 1, { init: () => ({ mode: 'consensus', n: 3 }), waitMs: 3_000 });
    sim = s;
    await s.start();
    const pending = s.ipams[0]!.allocate('killed:eth0', NET);
    expect(s.ipams[0]!.release('killed:eth0')).toBeUndefined();
    const [r] = await s.settle([pending]);
    expect(r!.status).toBe('rejected');
    expect(String((r as PromiseRejectedResult).reason)).toMatch(/released while it waited/);
    expect(s.ipams[0]!.lookup('killed:eth0')).toBeUndefined();
  });

  it('a seed list initialises at once; an observer waits, then gets space by donation', async () => {
    const s = await cluster(3, { init: (i) => (i === 2 ? { mode: 'observer' } : { mode: 'seed', seeds: [simName(0), simName(1)] }) });
    expect(s.ipams[0]!.state().state).toBe('ready');
    expect(s.ipams[2]!.ring.initialised || s.ipams[2]!.state().state === 'observer-waiting').toBe(true);
    await ready(s);
    expect(s.ipams[2]!.ring.ownership().get(simName(2))).toBeUndefined();
    await alloc(s, 2, 'obs1');
    expect(s.ipams[2]!.ownedSpans().length).toBeGreaterThan(0);
  });

  it('two rings seeded separately are reported as a split with the way out, never merged', async () => {
    const s = await cluster(2, { init: (i) => ({ mode: 'seed', seeds: [simName(i)] }) });
    expect(await s.runUntil(() => s.ipams.every((p) => p!.state().state === 'split-ring'), 30_000)).toBe(true);
    const st = s.ipams[0]!.state();
    expect(st.state === 'split-ring' && st.detail).toMatch(/initialised separately.*overlay reset/);
    expect(s.ipams[0]!.ring.ownership().size).toBe(1);
    await expect(alloc(s, 0, 'c')).rejects.toThrow(/refusing allocations: split ring/);
  });

  it('a restarted peer keeps every allocation', async () => {
    const s = await cluster(3);
    await ready(s);
    const before = [await alloc(s, 1, 'keep1'), await alloc(s, 1, 'keep2')];
    await s.crash(1);
    await s.run(2_000);
    await s.startPeer(1);
    await ready(s);
    expect([s.ipams[1]!.lookup('keep1'), s.ipams[1]!.lookup('keep2')]).toEqual(before);
    expect(await alloc(s, 1, 'keep1')).toBe(before[0]);
  });

  it('a changed range against stored data is refused with a clear message', () => {
    const env = { self: simName(0), nickname: 'h', clock: new SimClock(), epoch: 0, random: seededRandom(1), log: silentLogger, peers: () => [], send: () => false, gossip: () => {}, persist: () => {} };
    const cfg = { range: parseNetwork('10.40.0.0/16'), defaultSubnet: parseNetwork('10.40.0.0/16'), init: { mode: 'consensus' as const, n: 1 }, waitMs: 1 };
    expect(() => new Ipam(cfg, env, { range: '10.32.0.0/12', allocations: [] })).toThrow(/stored IPAM range is 10\.32\.0\.0\/12 but --ipalloc-range is 10\.40\.0\.0\/16.*overlay reset/);
  });

  it('rmpeer refuses a reachable peer, takes a dead one’s space, and only one of two concurrent rmpeers wins', async () => {
    const s = await cluster(4);
    await ready(s);
    const victim = s.ipams[3]!.self;
    await expect(s.ipams[0]!.rmpeer(victim)).rejects.toMatchObject({ kind: 'conflict' });
    await s.crash(3);
    expect(await s.runUntil(() => !s.ipams[0]!['env'].peers().some((p) => p.name === victim && p.reachable) && !s.ipams[2]!['env'].peers().some((p) => p.name === victim && p.reachable), 30_000)).toBe(true);
    const results = await s.settle([s.ipams[1]!.rmpeer('p3', { force: true }), s.ipams[2]!.rmpeer(victim, { force: true })]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(IpamError);
    expect((lost.reason as Error).message).toMatch(/owns no space|already removed/);
    await s.run(2_000);
    expect(s.ipams[0]!.ring.ownership().get(victim)).toBeUndefined();
    expect(s.ringsAgree()).toBe(true);
  });

  it('a hand-over whose acknowledgement is lost still moves the space, and nothing is handed out twice', async () => {
    const s = await cluster(3);
    await ready(s);
    await alloc(s, 2, 'leaving');
    s.lose = (_from, _to, m) => m.t === 'handover-ack';
    const [r] = await s.settle([s.ipams[2]!.handOver()]);
    expect((r as PromiseFulfilledResult<{ acknowledged: boolean }>).value.acknowledged).toBe(false);
    const leaver = s.ipams[2]!.self;
    await s.wipe(2);
    s.lose = () => false;
    await s.run(2_000);
    expect(s.ipams[0]!.ring.ownership().get(leaver)).toBeUndefined();
    for (let k = 0; k < 50; k++) await alloc(s, k % 2, `after-${k}`, parseNetwork('10.32.10.0/23'));
    expect(s.violations).toEqual([]);
  });

  it('hand-over gives all of a peer’s space to a live peer and waits for the acknowledgement', async () => {
    const s = await cluster(3);
    await ready(s);
    await alloc(s, 2, 'gone-with-reset');
    const [r] = await s.settle([s.ipams[2]!.handOver()]);
    const out = (r as PromiseFulfilledResult<{ to?: string; moved: number; acknowledged: boolean }>).value;
    expect(out.acknowledged).toBe(true);
    expect(out.moved).toBe(1366);
    await s.run(1_000);
    expect(s.ipams[0]!.ring.ownership().get(s.ipams[2]!.self)).toBeUndefined();
    expect(s.ipams[2]!.lookup('gone-with-reset')).toBeUndefined();
  });
});
