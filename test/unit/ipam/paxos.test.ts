import { describe, expect, it } from 'vitest';
import { Paxos, type PaxosRecord } from '../../../src/ipam/paxos.js';
import { seededRandom, pick } from '../../../src/lib/random.js';

const names = (n: number) => Array.from({ length: n }, (_, i) => `02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`);

/**
 * n participants exchange their records over a network that drops, delays
 * and reorders; proposers start at random. No two participants may ever see
 * different chosen values.
 */
function run(seed: number, n: number, lossy: boolean, steps = 3000, duelUntil = steps): { chosen: (string[] | undefined)[] } {
  const rnd = seededRandom(seed);
  const peers = names(n);
  const quorum = Math.floor(n / 2) + 1;
  const px = new Map(peers.map((p) => [p, new Paxos(p, quorum)]));
  const inflight: { to: string; from: string; r: PaxosRecord }[] = [];
  const seen = new Map<string, string>();
  for (let step = 0; step < steps; step++) {
    const me = pick(rnd, peers);
    const p = px.get(me)!;
    // Competing proposers until duelUntil; then one last proposal by the lowest name, as the stall timer would do.
    if (step < duelUntil) {
      if (rnd() < 0.02) p.propose();
    } else if (step === duelUntil) px.get(peers[0]!)!.propose();
    p.step();
    // Gossip every record I know to one random peer (lossy: some never arrive).
    const to = pick(rnd, peers);
    for (const [from, r] of p.records) if (!lossy || rnd() > 0.3) inflight.push({ to, from, r: structuredClone(r) });
    // Deliver a random subset, out of order.
    for (let k = 0; k < 3 && inflight.length; k++) {
      const m = inflight.splice(Math.floor(rnd() * inflight.length), 1)[0]!;
      px.get(m.to)!.mergeRecord(m.from, m.r);
    }
    for (const [name, q] of px) {
      const c = q.chosen();
      if (!c) continue;
      const key = c.join(',');
      seen.set(name, key);
    }
    expect(new Set(seen.values()).size, `seed ${seed} step ${step}: two values chosen`).toBeLessThanOrEqual(1);
  }
  return { chosen: peers.map((p) => px.get(p)!.chosen()) };
}

describe('Paxos on gossiped records', () => {
  it('never chooses two values, over lossy reordering links with competing proposers', () => {
    for (let seed = 1; seed <= 40; seed++) run(seed, 1 + (seed % 7), true);
  });

  it('once proposers stop duelling, one proposal decides and every participant learns it', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { chosen } = run(seed, 5, seed % 2 === 0, 4000, 1500);
      expect(chosen.every((c) => c !== undefined), `seed ${seed}`).toBe(true);
      expect(chosen[0]!.length).toBeGreaterThanOrEqual(3);
    }
  });

  it('a single participant with quorum 1 decides on itself', () => {
    const p = new Paxos('02:00:00:00:00:01', 1);
    p.propose();
    p.step();
    expect(p.chosen()).toEqual(['02:00:00:00:00:01']);
  });

  it('keeps only newer records of others and never lets others write ours', () => {
    const p = new Paxos('02:00:00:00:00:01', 2);
    expect(p.mergeRecord('02:00:00:00:00:02', { version: 2 })).toBe(true);
    expect(p.mergeRecord('02:00:00:00:00:02', { version: 1 })).toBe(false);
    expect(p.mergeRecord('02:00:00:00:00:01', { version: 99 })).toBe(false);
    expect(p.own.version).toBe(0);
  });

  it('parseRecord validates untrusted records', () => {
    expect(Paxos.parseRecord({ version: 1, promise: { round: 1, proposer: 'a' } })).toBeDefined();
    for (const bad of [null, {}, { version: -1 }, { version: 1, promise: { round: 'x' } }, { version: 1, accepted: { ballot: { round: 1, proposer: 'a' }, value: [1] } }])
      expect(Paxos.parseRecord(bad)).toBeUndefined();
  });
});
