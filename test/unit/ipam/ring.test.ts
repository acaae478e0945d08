import { describe, expect, it } from 'vitest';
import { Ring, type RingWire } from '../../../src/ipam/ring.js';
import { parseNetwork } from '../../../src/lib/ipv4.js';
import { seededRandom, pick } from '../../../src/lib/random.js';

const RANGE = parseNetwork('10.32.0.0/24');
const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';

function seeded(seeds = [A, B]): Ring {
  const r = new Ring(RANGE);
  r.seed(seeds);
  return r;
}

function copy(r: Ring): Ring {
  const c = new Ring(RANGE);
  c.merge(r.toWire());
  return c;
}

/** The spans never overlap and cover the range exactly. */
function assertTiling(r: Ring): void {
  const spans = r.spans();
  expect(spans[0]!.start).toBe(RANGE.start);
  for (let i = 1; i < spans.length; i++) expect(spans[i]!.start).toBe(spans[i - 1]!.end);
  expect(spans[spans.length - 1]!.end).toBe(RANGE.start + RANGE.size);
}

describe('Ring', () => {
  it('splits the range evenly among sorted seeds, the same on every peer', () => {
    const r1 = seeded([B, A, C]);
    const r2 = seeded([C, A, B]);
    expect(r1.toWire()).toEqual(r2.toWire());
    expect([A, B, C].map((p) => r1.spansOf(p).map((s) => [s.start - RANGE.start, s.end - s.start]))).toEqual([[[0, 85]], [[85, 85]], [[170, 86]]]);
    // Every chunk (64 addresses here) starts with a token: spans never cross a chunk boundary.
    expect(r1.all().map((e) => e.token - RANGE.start)).toEqual([0, 64, 85, 128, 170, 192]);
    expect(() => r1.seed([A])).toThrow(/already/);
  });

  it('an uninitialised ring adopts the first ring it merges', () => {
    const r = new Ring(RANGE);
    expect(r.initialised).toBe(false);
    expect(r.merge(seeded().toWire()).kind).toBe('changed');
    expect(r.id).toBe(seeded().id);
    expect(r.ownerOf(RANGE.start)).toBe(A);
  });

  it('a stale version is ignored, a newer one wins', () => {
    const owner = seeded();
    const replica = copy(owner);
    const stale = owner.toWire();
    owner.transfer(RANGE.start + 10, RANGE.start + 20, B);
    expect(replica.merge(owner.toWire()).kind).toBe('changed');
    expect(replica.ownerOf(RANGE.start + 15)).toBe(B);
    expect(replica.merge(stale).kind).toBe('unchanged');
    expect(replica.ownerOf(RANGE.start + 15)).toBe(B);
    expect(replica.toWire()).toEqual(owner.toWire());
  });

  it('merging the same ring again changes nothing', () => {
    const r = seeded();
    expect(r.merge(r.toWire()).kind).toBe('unchanged');
  });

  it('equal versions with different owners resolve to the larger name, in either merge order', () => {
    const base = seeded();
    const w = base.toWire();
    // Same tokens and versions, every one claimed by C.
    const conflicting: RingWire = { ...w, peers: [C], e: w.e.map((x, i) => (i % 3 === 1 ? 0 : x)) };
    const x = copy(base);
    const y = new Ring(RANGE);
    y.merge(conflicting);
    x.merge(conflicting);
    y.merge(w);
    expect(x.toWire()).toEqual(y.toWire());
    expect(x.ownerOf(RANGE.start)).toBe(C);
  });

  it('a transfer pins the boundary so the rest of the span stays with its owner', () => {
    const r = seeded([A]);
    r.transfer(RANGE.start + 100, RANGE.start + 150, B);
    expect(r.ownerOf(RANGE.start + 99)).toBe(A);
    expect(r.ownerOf(RANGE.start + 100)).toBe(B);
    expect(r.ownerOf(RANGE.start + 149)).toBe(B);
    expect(r.ownerOf(RANGE.start + 150)).toBe(A);
    expect(r.ownership().get(B)).toBe(50);
    assertTiling(r);
  });

  it('transferAll moves every span of a peer and counts the addresses', () => {
    const r = seeded([A, B, C]);
    r.transfer(RANGE.start + 10, RANGE.start + 12, B);
    expect(r.transferAll(B, C)).toBe(85 + 2);
    expect(r.ownership().get(B) ?? 0).toBe(0);
    expect(r.spansOf(C).reduce((n, s) => n + s.end - s.start, 0)).toBe(256 - 83);
  });

  it('rings seeded separately are a split, never merged', () => {
    const mine = seeded([A]);
    const theirs = seeded([B]);
    const before = mine.toWire();
    const out = mine.merge(theirs.toWire());
    expect(out.kind).toBe('split');
    expect(out.kind === 'split' && out.theirSeeds).toEqual([B]);
    expect(mine.toWire()).toEqual(before);
  });

  it('a ring over another range is a range mismatch', () => {
    const other = new Ring(parseNetwork('10.33.0.0/24'));
    other.seed([A]);
    expect(seeded().merge(other.toWire())).toEqual({ kind: 'range-mismatch', theirs: '10.33.0.0/24' });
  });

  it('the wire form is compact and round-trips', () => {
    const r = seeded([A, B, C]);
    r.transfer(RANGE.start + 10, RANGE.start + 12, B);
    const w = r.toWire();
    expect(w.peers).toEqual([A, B, C]);
    expect(JSON.stringify(w.e).length / (w.e.length / 3)).toBeLessThan(12); // bytes per token
    expect(copy(r).toWire()).toEqual(w);
    expect(copy(r).spans()).toEqual(r.spans());
  });

  it('parseWire rejects malformed input', () => {
    const good = seeded().toWire();
    expect(Ring.parseWire(good)).toEqual(good);
    for (const bad of [
      null,
      1,
      {},
      { ...good, id: '' },
      { ...good, seeds: [1] },
      { ...good, peers: 'x' },
      { ...good, e: [0, 0] },
      { ...good, e: [0, 0, 1, 0, 0, 1] }, // two tokens at one address
      { ...good, e: [-1, 0, 1] },
      { ...good, e: [0, 5, 1] }, // no such peer
      { ...good, e: [0, 0, 0] }, // version 0
      { ...good, e: [0.5, 0, 1] },
      { ...good, e: 'x' },
    ])
      expect(Ring.parseWire(bad)).toBeUndefined();
  });

  it('replicas that gossip donations in random order converge to one tiling', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = seededRandom(seed);
      const peers = [A, B, C];
      const replicas = new Map(peers.map((p) => [p, seeded(peers)]));
      const inbox: RingWire[][] = peers.map(() => []);
      for (let step = 0; step < 200; step++) {
        const me = pick(rnd, peers);
        const r = replicas.get(me)!;
        if (rnd() < 0.5) {
          // Donate half of one of my spans to someone else, as the donor would.
          const mine = r.spans().filter((s) => s.peer === me && s.end - s.start >= 2);
          if (mine.length) {
            const s = pick(rnd, mine);
            const half = Math.floor((s.end - s.start) / 2);
            r.transfer(s.end - half, s.end, pick(rnd, peers.filter((p) => p !== me)));
          }
        }
        // Gossip my ring to a random peer; deliveries are delayed and reordered.
        inbox[peers.indexOf(pick(rnd, peers))]!.push(r.toWire());
        for (const [i, p] of peers.entries()) {
          const box = inbox[i]!;
          while (box.length && rnd() < 0.5) replicas.get(p)!.merge(box.splice(Math.floor(rnd() * box.length), 1)[0]!);
        }
      }
      for (const [i, p] of peers.entries()) for (const w of inbox[i]!) replicas.get(p)!.merge(w);
      for (let round = 0; round < 3; round++) for (const a of replicas.values()) for (const b of replicas.values()) b.merge(a.toWire());
      const wires = [...replicas.values()].map((r) => JSON.stringify(r.toWire()));
      expect(new Set(wires).size, `seed ${seed}`).toBe(1);
      assertTiling(replicas.get(A)!);
    }
  });
  it('a delta carries only the chunks that changed, each whole; a ring without an id ignores it', () => {
    const range = parseNetwork('10.32.0.0/20'); // 64 chunks of 64
    const owner = new Ring(range);
    owner.seed([A, B]);
    expect(owner.all().map((e) => e.token - range.start)).toEqual(Array.from({ length: 64 }, (_, i) => i * 64));
    const replica = new Ring(range);
    replica.merge(owner.toWire());
    expect(owner.takeDelta()!.partial).toBeUndefined(); // the seeding: everything
    owner.transfer(range.start + 300, range.start + 310, C);
    const d = owner.takeDelta()!;
    expect(d.partial).toBe(true);
    expect(Ring.parseWire(d)).toEqual(d);
    // Chunk 4 whole: its first token 256 (A), the new token 300 (C) and the pinned boundary 310 (A).
    expect(d.e.length / 3).toBe(3);
    const fresh = new Ring(range);
    expect(fresh.merge(d).kind).toBe('unchanged');
    expect(fresh.initialised).toBe(false);
    expect(replica.merge(d).kind).toBe('changed');
    expect(replica.toWire()).toEqual(owner.toWire());
    expect(owner.takeDelta()).toBeUndefined();
    expect(Ring.parseWire({ ...d, partial: false })).toBeUndefined();
  });

  it('a ring seeded without chunk tokens (an older version) is gossiped whole and ignores deltas', () => {
    const range = parseNetwork('10.32.0.0/20');
    const chunked = new Ring(range);
    chunked.seed([A, B]);
    chunked.takeDelta();
    chunked.transfer(range.start + 300, range.start + 310, C);
    const delta = chunked.takeDelta()!;
    // The old layout: one token per seed.
    const old = new Ring(range);
    old.merge({ ...chunked.toWire(), peers: [A, B], e: [0, 0, 1, 2048, 1, 1] });
    expect(old.merge(delta).kind).toBe('unchanged');
    old.transfer(range.start + 10, range.start + 20, C);
    expect(old.takeDelta()!.partial).toBeUndefined();
  });

  it('chunk deltas, lost, delayed, reordered and forwarded, never let two peers each believe they own one address', () => {
    const peers = [A, B, C, '02:00:00:00:00:0d'];
    const range = parseNetwork('10.32.0.0/22'); // 16 chunks of 64
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = seededRandom(seed);
      const replicas = new Map(
        peers.map((p) => {
          const r = new Ring(range);
          r.seed(peers);
          return [p, r];
        }),
      );
      for (const r of replicas.values()) r.takeDelta();
      const inbox = new Map<string, RingWire[]>(peers.map((p) => [p, []]));
      const sent = { partial: 0, whole: 0 };
      const send = (from: string) => {
        const d = replicas.get(from)!.takeDelta();
        if (!d) return;
        sent[d.partial ? 'partial' : 'whole']++;
        // Each neighbour may or may not get it (lost deltas), in any order later.
        for (const p of peers) if (p !== from && rnd() < 0.7) inbox.get(p)!.push(d);
      };
      const check = (step: number) => {
        // What each peer believes it owns, in its own view: no two of those overlap.
        const owned = [...replicas].flatMap(([p, r]) => r.spansOf(p).map((s) => ({ ...s, p }))).sort((x, y) => x.start - y.start);
        for (let i = 1; i < owned.length; i++)
          if (owned[i]!.start < owned[i - 1]!.end) expect.fail(`seed ${seed} step ${step}: ${owned[i - 1]!.p} and ${owned[i]!.p} both own ${owned[i]!.start - range.start}`);
      };
      for (let step = 0; step < 400; step++) {
        const me = pick(rnd, peers);
        const r = replicas.get(me)!;
        const mine = r.spansOf(me).filter((s) => s.end - s.start >= 2);
        if (mine.length && rnd() < 0.6) {
          // Give part of one of my spans away, as a donor or a hand-over would; the receiver learns it only by gossip.
          const s = pick(rnd, mine);
          const a = s.start + Math.floor(rnd() * (s.end - s.start - 1));
          const b = a + 1 + Math.floor(rnd() * (s.end - a - 1));
          r.transfer(a, b, pick(rnd, peers.filter((p) => p !== me)));
          send(me);
        }
        for (const p of peers) {
          const box = inbox.get(p)!;
          while (box.length && rnd() < 0.5) {
            replicas.get(p)!.merge(box.splice(Math.floor(rnd() * box.length), 1)[0]!);
            if (rnd() < 0.5) send(p); // forward what was new here
          }
        }
        check(step);
      }
      // Whole rings (anti-entropy) repair what lost deltas left out.
      for (let round = 0; round < 2; round++) for (const a of replicas.values()) for (const b of replicas.values()) b.merge(a.toWire());
      expect(new Set([...replicas.values()].map((r) => JSON.stringify(r.toWire()))).size, `seed ${seed}`).toBe(1);
      expect(sent.partial, `seed ${seed}: deltas were chunks`).toBeGreaterThan(sent.whole);
    }
  });
});
