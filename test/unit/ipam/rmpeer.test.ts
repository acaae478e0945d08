/**
 * rmpeer on simulated peers: the one operator mistake no design can prevent
 * (removing a peer that is alive behind a partition) leads to addresses held
 * twice, and every one of them is reported on both sides at the heal, with
 * both owner ids; the removed peer keeps its addresses. Removing a peer that
 * is really dead never leads to a duplicate. rmpeer refuses a peer seen alive
 * less than a heartbeat timeout ago unless forced, and works when the dead
 * peer was the only owner (Weave's "seed alone, then die" scenario).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { IpamSim } from '../../../scripts/lab/ipam-sim.js';
import { simName } from '../../../scripts/lab/mesh-sim.js';
import { IpamError } from '../../../src/ipam/ipam.js';
import { parseNetwork, type Cidr } from '../../../src/lib/ipv4.js';

const NET = parseNetwork('10.32.0.0/20');
const HEARTBEAT_TIMEOUT_MS = 30_000;
let sim: IpamSim | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

async function ready(s: IpamSim): Promise<void> {
  expect(await s.runUntil(() => s.allReady() && s.ringsAgree() && s.mesh.converged(), 60_000)).toBe(true);
}

/** A cluster of `peers` on a /20, started and ready (rings agreed, mesh converged); stopped after the test. */
async function readyCluster(seed: number, peers = 5): Promise<IpamSim> {
  const s = new IpamSim(seed, peers, { range: '10.32.0.0/20' });
  sim = s;
  await s.start();
  await ready(s);
  return s;
}

async function settled<T>(s: IpamSim, p: Promise<T>): Promise<T> {
  const [r] = await s.settle([p]);
  if (r!.status === 'rejected') throw r.reason;
  return r!.value;
}

const sees = (s: IpamSim, i: number, peer: string, reachable: boolean) => s.mesh.routers[i]!.peers().some((p) => p.name === peer && p.reachable) === reachable;

/** Waits until h1 sees `peer` unreachable, then until it has been gone longer than a heartbeat timeout (what rmpeer without --force needs). */
async function gonePastHeartbeat(s: IpamSim, peer: string): Promise<void> {
  expect(await s.runUntil(() => sees(s, 0, peer, false), 60_000)).toBe(true);
  await s.run(HEARTBEAT_TIMEOUT_MS + 1_000);
}

/** A /24 lying wholly inside [start, end). */
function subnetInside(span: { start: number; end: number }): Cidr {
  const start = Math.ceil(span.start / 256) * 256;
  if (start + 256 > span.end) throw new Error('span too small for a /24');
  return { start, prefix: 24, size: 256 };
}

/**
 * 5 peers; h5 allocates 3 addresses, is removed by rmpeer on h1 while it runs
 * behind a partition, and after the heal holds those 3 as claims.
 */
async function peerHoldingClaims(seed: number) {
  const s = await readyCluster(seed);
  const [h1, h5] = [s.ipams[0]!, s.ipams[4]!];
  const h5Name = h5.self;
  const span = h5.ownedSpans()[0]!;
  const sub = subnetInside(span);
  s.excuse = (addr) => addr >= span.start && addr < span.end; // the removal of a live peer
  const mine: number[] = [];
  for (let k = 0; k < 3; k++) mine.push(await settled(s, h5.allocate(`h5-c${k}`, sub)));
  s.mesh.net.partition(['p4'], ['p0', 'p1', 'p2', 'p3']);
  expect(await s.runUntil(() => sees(s, 0, h5Name, false), 60_000)).toBe(true);
  await settled(s, h1.rmpeer(h5Name, { force: true }));
  s.mesh.net.healAll();
  const claimsSeen = () => (h1.peerStats().get(h5Name)?.claims?.length ?? 0) === 3;
  expect(await s.runUntil(() => claimsSeen() && s.ringsAgree() && h5.heldOutsideOwnSpace() === 3, 120_000)).toBe(true);
  return { s, h1, h5, h5Name, sub, mine };
}

describe('rmpeer', () => {
  it('of a live peer behind a partition: the addresses both sides handed out are conflicts on both sides at the heal, never resolved silently', async () => {
    const s = await readyCluster(7);
    const h5 = s.ipams[4]!;
    const h5Name = h5.self;
    const span = h5.ownedSpans()[0]!;
    const sub = subnetInside(span);
    s.excuse = (addr) => addr >= span.start && addr < span.end; // the operator's mistake, below
    s.mesh.net.partition(['p4'], ['p0', 'p1', 'p2', 'p3']);
    expect(await s.runUntil(() => sees(s, 0, h5Name, false), 60_000)).toBe(true);

    // Seen alive moments ago: refused unless forced, with the reason in plain words.
    await expect(settled(s, s.ipams[0]!.rmpeer(h5Name))).rejects.toThrow(/seen alive .* ago.*--force/);
    const [r] = await settled(s, s.ipams[0]!.rmpeer(h5Name, { force: true }));
    expect(r.moved).toBe(span.end - span.start);
    expect(r.message).toMatch(/only cut off by a partition.*conflict/);

    const onH1 = [];
    const onH5 = [];
    for (let k = 0; k < 3; k++) onH1.push(await settled(s, s.ipams[0]!.allocate(`h1-c${k}`, sub)));
    for (let k = 0; k < 3; k++) onH5.push(await settled(s, h5.allocate(`h5-c${k}`, sub)));
    expect(onH1.sort()).toEqual(onH5.sort()); // the duplicates no design can prevent during the partition
    expect(s.duplicates()).toHaveLength(3);

    s.mesh.net.healAll();
    const reported = (i: number) => s.ipams[i]!.conflicts().length === 3;
    expect(await s.runUntil(() => reported(0) && reported(4) && s.ringsAgree(), 120_000), 'conflicts reported on both sides').toBe(true);
    for (const c of s.ipams[0]!.conflicts()) {
      expect(onH1).toContain(c.address);
      expect(c.owner).toMatch(/^h1-c\d$/);
      expect(c.otherPeer).toBe(h5Name);
      expect(c.otherOwner).toMatch(/^h5-c\d$/);
    }
    for (const c of h5.conflicts()) {
      expect(c.owner).toMatch(/^h5-c\d$/);
      expect(c.otherPeer).toBe(s.ipams[0]!.self);
    }
    // The removed peer did not give way: it still holds every address it handed out.
    for (let k = 0; k < 3; k++) expect(h5.lookup(`h5-c${k}`)).toBe(onH5.sort()[k]);
    // Nobody hands out an address the removed peer still holds.
    for (let k = 0; k < 20; k++) {
      const a = await settled(s, s.ipams[1 + (k % 3)]!.allocate(`more-${k}`, sub));
      expect(onH5).not.toContain(a);
    }
    expect(s.duplicates()).toHaveLength(3);

    // The way out: release one of the two holders; the conflict clears on both sides.
    s.ipams[0]!.release('h1-c0');
    const gone = (i: number) => s.ipams[i]!.conflicts().length === 2;
    expect(await s.runUntil(() => gone(0) && gone(4), 30_000)).toBe(true);
    expect(s.duplicates()).toHaveLength(2);
    expect(s.violations).toEqual([]);
  });

  it('of a peer that holds claims: its claims go with it, and come back as conflicts on both sides if it was alive after all', async () => {
    const { s, h1, h5, h5Name, sub, mine } = await peerHoldingClaims(9);
    // Removed again: its space (asked for after the heal) and its claims go to h1.
    s.mesh.net.partition(['p4'], ['p0', 'p1', 'p2', 'p3']);
    // Cut off as seen from the whole side, not only from h1: a neighbour whose connection to h5 has not timed out
    // yet still names it in its record, which makes h5 reachable for h1 again.
    expect(await s.runUntil(() => [0, 1, 2, 3].every((i) => sees(s, i, h5Name, false)), 60_000)).toBe(true);
    await settled(s, h1.rmpeer(h5Name, { force: true }));
    // Its claims went with it: the owner of that space hands the addresses out again.
    expect(await s.runUntil(() => h1.peerStats().get(h5Name)?.claims === undefined, 10_000)).toBe(true);
    const again = await settled(s, h1.allocate('h1-again', sub, mine[0]));
    expect(again).toBe(mine[0]);
    expect(h1.conflicts()).toEqual([]);
    // It was alive after all: at the heal it answers the removal with its claims, and the address held twice is a conflict on both sides.
    s.mesh.net.healAll();
    const reported = () =>
      h1.conflicts().some((c) => c.address === mine[0] && c.owner === 'h1-again' && c.otherPeer === h5Name && c.otherOwner === 'h5-c0') &&
      h5.conflicts().some((c) => c.address === mine[0] && c.owner === 'h5-c0' && c.otherPeer === h1.self && c.otherOwner === 'h1-again');
    expect(await s.runUntil(reported, 120_000), 'conflict reported on both sides').toBe(true);
    expect(h5.lookup('h5-c0')).toBe(mine[0]); // it did not give way
    // The two other claimed addresses are reserved again: nobody hands them out.
    await expect(settled(s, h1.allocate('h1-taken', sub, mine[1]))).rejects.toThrow(/in use/);
    expect(s.violations).toEqual([]);
  });

  it('of a dead peer that held claims frees them, and no duplicate arises', async () => {
    const { s, h1, h5Name, sub, mine } = await peerHoldingClaims(10);
    // Now it dies for good, with its containers; the operator removes it once it is gone longer than a heartbeat timeout.
    await s.destroy(4);
    s.excuse = () => false;
    await gonePastHeartbeat(s, h5Name);
    await settled(s, h1.rmpeer(h5Name));
    await s.run(2_000);
    for (const [k, a] of mine.entries()) expect(await settled(s, s.ipams[k % 4]!.allocate(`reuse-${k}`, sub, a))).toBe(a);
    await expect(settled(s, h1.rmpeer(h5Name, { force: true }))).rejects.toThrow(/holds no claimed or contested addresses/);
    expect(s.violations).toEqual([]);
    expect(s.duplicates()).toEqual([]);
  });

  it("of a dead peer outranks its last record even where that record never reached the remover", async () => {
    const s = await readyCluster(12);
    const [h1, h2, h5] = [s.ipams[0]!, s.ipams[1]!, s.ipams[4]!];
    const h5Name = h5.self;
    const sub = subnetInside(h5.ownedSpans()[0]!);
    // h5's last words reach h2 only: three allocations published while the two are cut off from the rest.
    s.mesh.net.partition(['p1', 'p4'], ['p0', 'p2', 'p3']);
    for (let k = 0; k < 3; k++) await settled(s, h5.allocate(`h5-last-${k}`, sub));
    expect(await s.runUntil(() => h2.peerStats().get(h5Name)?.inUse === 3, 60_000)).toBe(true);
    expect(h1.peerStats().get(h5Name)?.inUse).toBe(0);
    await s.destroy(4);
    await gonePastHeartbeat(s, h5Name);
    await settled(s, h1.rmpeer(h5Name));
    s.mesh.net.healAll();
    // At the heal the removal wins everywhere, h2 included: no peer keeps a record of h5 holding addresses.
    const removedEverywhere = () => s.alive().every(([, p]) => p.peerStats().get(h5Name)?.removedBy !== undefined && p.peerStats().get(h5Name)?.inUse === 0);
    expect(await s.runUntil(() => removedEverywhere() && s.ringsAgree(), 120_000)).toBe(true);
    await s.run(5_000);
    expect(removedEverywhere()).toBe(true);
    expect(s.violations).toEqual([]);
  });

  it('is refused by a coordinator cut off by a partition it has not noticed yet (a quorum of owners must answer)', async () => {
    const s = await readyCluster(13);
    const [h1, h5] = [s.ipams[0]!, s.ipams[4]!];
    const h5Name = h5.self;
    await s.destroy(4);
    await gonePastHeartbeat(s, h5Name);
    // h1 is cut off now; its connections look alive until a heartbeat timeout passes.
    s.mesh.net.partition(['p0'], ['p1', 'p2', 'p3']);
    expect(sees(s, 0, s.ipams[1]!.self, true)).toBe(true);
    await expect(settled(s, h1.rmpeer(h5Name, { force: true }))).rejects.toThrow(/only 1 of 4 other space owners answered/);
    expect(h1.ring.ownership().has(h5Name)).toBe(true);
    // Once healed, the same rmpeer goes through.
    s.mesh.net.healAll();
    await s.run(2_000);
    await settled(s, h1.rmpeer(h5Name, { force: true }));
    expect(await s.runUntil(() => s.ringsAgree() && !h1.ring.ownership().has(h5Name), 60_000)).toBe(true);
  });

  it('of most of the owners at once: each alone is refused (no majority answers), named together they go, and a live one named with them is refused', async () => {
    const s = await readyCluster(14);
    const dead = [2, 3, 4].map((i) => s.ipams[i]!.self);
    for (const i of [2, 3, 4]) await s.destroy(i);
    for (const name of dead) await gonePastHeartbeat(s, name);
    const h1 = s.ipams[0]!;
    // 2 of the 4 other owners are alive: no majority for any one removal.
    for (const name of dead) await expect(settled(s, h1.rmpeer(name))).rejects.toThrow(/only 2 of 4 other space owners answered.*in one command/);
    // A live peer named with the dead ones is refused before anything moves.
    await expect(settled(s, h1.rmpeer([...dead, s.ipams[1]!.self]))).rejects.toThrow(/is reachable/);
    expect(dead.every((n) => h1.ring.ownership().has(n))).toBe(true);
    const results = await settled(s, h1.rmpeer(dead));
    expect(results.map((r) => r.peer)).toEqual(dead);
    expect(await s.runUntil(() => s.ringsAgree() && dead.every((n) => !s.ipams[1]!.ring.ownership().has(n)), 60_000)).toBe(true);
    for (let k = 0; k < 20; k++) await settled(s, s.ipams[k % 2]!.allocate(`after-${k}`, NET));
    expect(s.violations).toEqual([]);
    expect(s.duplicates()).toEqual([]);
  });

  it('of a peer that is really dead never leads to a duplicate', async () => {
    const s = await readyCluster(8);
    const span = s.ipams[4]!.ownedSpans()[0]!;
    const sub = subnetInside(span);
    for (let k = 0; k < 5; k++) await settled(s, s.ipams[4]!.allocate(`dead-c${k}`, sub));
    const name = s.ipams[4]!.self;
    await s.run(2_000); // its usage is published
    await s.destroy(4);
    await gonePastHeartbeat(s, name);
    const [r] = await settled(s, s.ipams[0]!.rmpeer('p4'));
    expect(r.message).toMatch(/5 addresses in use/);
    for (let k = 0; k < 30; k++) await settled(s, s.ipams[k % 4]!.allocate(`after-${k}`, sub));
    expect(s.violations).toEqual([]);
    expect(s.duplicates()).toEqual([]);
  });

  it('refuses a reachable peer whatever the flags', async () => {
    const s = await readyCluster(9, 3);
    const err = await settled(s, s.ipams[0]!.rmpeer(s.ipams[2]!.self, { force: true })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpamError);
    expect(err).toMatchObject({ kind: 'conflict' });
    expect((err as Error).message).toMatch(/is reachable/);
  });

  it('of the only owner, gone longer than a heartbeat timeout, succeeds (seed alone, observers join with no space, seed dies)', async () => {
    const seed = simName(0);
    const s = new IpamSim(10, 3, { range: '10.32.0.0/20', init: (i) => (i === 0 ? { mode: 'seed', seeds: [seed] } : { mode: 'observer' }) });
    sim = s;
    await s.start();
    expect(await s.runUntil(() => s.ipams.every((p) => p!.ring.initialised) && s.mesh.converged(), 60_000)).toBe(true);
    expect(s.ipams[1]!.ownedSpans()).toEqual([]);
    await s.destroy(0);
    expect(await s.runUntil(() => sees(s, 1, seed, false) && sees(s, 2, seed, false), 60_000)).toBe(true);
    await expect(settled(s, s.ipams[1]!.rmpeer('p0'))).rejects.toThrow(/seen alive .* ago/);
    await s.run(HEARTBEAT_TIMEOUT_MS + 1_000);
    const [r] = await settled(s, s.ipams[1]!.rmpeer('p0'));
    expect(r.moved).toBe(NET.size);
    await settled(s, s.ipams[1]!.allocate('on-h2', NET));
    await settled(s, s.ipams[2]!.allocate('on-h3', NET));
    expect(s.violations).toEqual([]);
  });
});
