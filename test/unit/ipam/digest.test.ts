/**
 * IPAM's anti-entropy by digest (src/ipam/digest.ts), on two real Ipam cores
 * joined by the real gossip layer over an in-memory connection that records
 * every message: a settled pair exchanges hashes only; a missing usage record
 * or ring change travels alone; malformed versions are refused and change
 * nothing; a peer of an older build (no IPAM digest) keeps getting full state.
 */
import { describe, expect, it } from 'vitest';
import { IpamSim, withoutDigest } from '../../../scripts/lab/ipam-sim.js';
import { Ipam, type InitMode } from '../../../src/ipam/ipam.js';
import type { IpamGossip, PeerStats } from '../../../src/ipam/messages.js';
import type { RingWire } from '../../../src/ipam/ring.js';
import { SimClock } from '../../../src/lib/clock.js';
import { parseNetwork } from '../../../src/lib/ipv4.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { PeerName } from '../../../src/lib/peer-name.js';
import { seededRandom } from '../../../src/lib/random.js';
import type { Connection } from '../../../src/mesh/connection.js';
import type { GossipChannel } from '../../../src/mesh/gossip-channel.js';
import { Gossip } from '../../../src/mesh/gossip.js';
import { ProtocolError, type Message } from '../../../src/mesh/protocol.js';
import type { MeshCounters } from '../../../src/mesh/router-types.js';

const A = '02:00:00:00:00:0a' as PeerName;
const B = '02:00:00:00:00:0b' as PeerName;
const C = '02:00:00:00:00:0c' as PeerName;
const RANGE = parseNetwork('10.32.0.0/20'); // 64 chunks of 64 addresses
const CHUNK = 64;

interface Side {
  name: PeerName;
  ipam: Ipam;
  gossip: Gossip;
  /** This side's end of the connection. */
  conn: Connection;
  counters: MeshCounters;
  /** Messages this side sent, decoded. */
  sent: Message[];
  closed: string[];
}

function newCounters(): MeshCounters {
  return { gossipMessagesSent: 0, gossipMessagesReceived: 0, gossipBytesSent: 0, gossipBytesReceived: 0, largestGossipMessageBytes: 0, handshakesRejected: 0, framesRejected: 0, handshakesThrottled: 0 };
}

/**
 * Two peers over one in-memory connection; `pump` delivers what is in flight,
 * in order. `channelOf` lets a test register an older build's view of the channel.
 */
function pair(init: (p: PeerName) => InitMode, opts: { channelOf?: (p: PeerName, ipam: Ipam) => GossipChannel; version?: number } = {}) {
  const clock = new SimClock();
  const queue: { to: Side; m: Message }[] = [];
  const sides = new Map<PeerName, Side>();
  const make = (self: PeerName, other: PeerName): Side => {
    const sent: Message[] = [];
    const closed: string[] = [];
    const deliver = (m: Message) => {
      sent.push(m);
      queue.push({ to: sides.get(other)!, m });
    };
    const conn = {
      version: opts.version ?? 3,
      congested: false,
      remote: { name: other },
      send: (m: Message) => {
        const text = JSON.stringify(m);
        deliver(JSON.parse(text) as Message);
        return text.length;
      },
      sendEncoded: (b: Buffer) => {
        deliver(JSON.parse(String(b)) as Message);
        return b.length;
      },
      close: (reason: string) => void closed.push(reason),
    } as unknown as Connection;
    const counters = newCounters();
    const gossip = new Gossip({ clock, random: seededRandom(1), log: silentLogger, counters, coalesceMs: 10, neighbours: () => [conn], peerCount: () => 2, changed: () => undefined });
    let sender: { gossip(): void } | undefined;
    const ipam = new Ipam(
      { range: RANGE, defaultSubnet: RANGE, init: init(self), waitMs: 1_000 },
      {
        self,
        nickname: self.slice(-2),
        clock,
        epoch: 0,
        random: seededRandom(2),
        log: silentLogger,
        peers: () => [self, other].map((name) => ({ name, nickname: name.slice(-2), uid: name, reachable: true })),
        send: () => false,
        gossip: () => sender?.gossip(),
        persist: () => {},
      },
    );
    sender = gossip.register(opts.channelOf?.(self, ipam) ?? ipam, () => false);
    return { name: self, ipam, gossip, conn, counters, sent, closed };
  };
  const a = make(A, B);
  const b = make(B, A);
  sides.set(A, a).set(B, b);
  const pump = () => {
    while (queue.length) {
      const { to, m } = queue.shift()!;
      to.gossip.receive(to.conn, m);
    }
  };
  /** One anti-entropy round each way, delivered. */
  const round = () => {
    a.gossip.antiEntropyWith(a.conn);
    pump();
    b.gossip.antiEntropyWith(b.conn);
    pump();
  };
  const clear = () => {
    a.sent.length = 0;
    b.sent.length = 0;
  };
  return { a, b, pump, round, clear };
}

const seedBoth = () => ({ mode: 'seed', seeds: [A, B] }) as InitMode;
const ipamGossip = (s: Side) => s.sent.flatMap((m) => (m.t === 'g' && m.c === 'ipam' ? [m.d as IpamGossip] : []));
const types = (s: Side) => s.sent.map((m) => (m.t === 'g' ? `g:${m.c}` : m.t));
/** A peer's full state with records in key order (maps keep arrival order, which differs between peers). */
const state = (s: Side) => {
  const f = s.ipam.encodeFull();
  return { ...f, stats: [...(f.stats ?? [])].sort(([x], [y]) => (x < y ? -1 : 1)), paxos: f.paxos && [...f.paxos].sort(([x], [y]) => (x < y ? -1 : 1)) };
};
function tokens(w: RingWire): number[] {
  let t = RANGE.start;
  const out: number[] = [];
  for (let i = 0; i < w.e.length; i += 3) out.push((t += w.e[i]!));
  return out;
}

describe('IPAM anti-entropy by digest', () => {
  it('a settled pair exchanges only hashes', () => {
    const { a, b, round, clear } = pair(seedBoth);
    round(); // first contact: full state with the hash (announced), then the other's usage record by digest
    expect(a.ipam.digest!.hash()).toBe(b.ipam.digest!.hash());
    expect(state(a)).toEqual(state(b));
    clear();
    for (let i = 0; i < 3; i++) round();
    expect(types(a)).toEqual(['ah', 'ah', 'ah']);
    expect(types(b)).toEqual(['ah', 'ah', 'ah']);
    const ah = a.sent[0] as Extract<Message, { t: 'ah' }>;
    expect(Object.keys(ah.h)).toEqual(['ipam']);
    expect(ah.h['ipam']!.length).toBeLessThanOrEqual(15);
  });

  it('a peer missing one usage record gets exactly that record', () => {
    const { a, b, round, clear, pump } = pair(seedBoth);
    round();
    const rec: PeerStats = { version: 7, nickname: 'c', inUse: 3, free: 10 };
    a.ipam.merge(C, { stats: [[C, rec]] });
    clear();
    a.gossip.antiEntropyWith(a.conn);
    pump();
    expect(types(a)).toEqual(['ah', 'g:ipam']);
    expect(types(b)).toEqual(['av']); // b lacks, a does not: no versions back
    expect(ipamGossip(a)).toEqual([{ stats: [[C, rec]] }]);
    expect(b.ipam.peerStats().get(C)).toEqual(rec);
    expect(b.ipam.digest!.hash()).toBe(a.ipam.digest!.hash());
  });

  it('a peer missing one ring change gets only the chunk it lies in, whole', () => {
    const { a, b, round, clear, pump } = pair(seedBoth);
    round();
    const chunk5 = RANGE.start + 5 * CHUNK;
    a.ipam.ring.transfer(chunk5 + 10, chunk5 + 20, C); // two tokens, both inside chunk 5
    clear();
    a.gossip.antiEntropyWith(a.conn);
    pump();
    // b's versions show one chunk differs; a sends it and, not knowing which side is newer, its versions; b has nothing more.
    expect(types(a)).toEqual(['ah', 'g:ipam', 'av']);
    expect(types(b)).toEqual(['av']);
    const [g] = ipamGossip(a);
    expect(Object.keys(g!)).toEqual(['ring']);
    expect(g!.ring!.partial).toBe(true);
    expect(tokens(g!.ring!)).toEqual(a.ipam.ring.all().map((e) => e.token).filter((t) => t >= chunk5 && t < chunk5 + CHUNK));
    expect(tokens(g!.ring!)).toEqual([chunk5, chunk5 + 10, chunk5 + 20]);
    expect(b.ipam.ring.toWire()).toEqual(a.ipam.ring.toWire());
    expect(b.ipam.digest!.hash()).toBe(a.ipam.digest!.hash());
  });

  it('when both sides hold something the other lacks, each gets only its part, in one round trip', () => {
    const { a, b, round, clear, pump } = pair(seedBoth);
    round();
    a.ipam.ring.transfer(RANGE.start + 3 * CHUNK + 1, RANGE.start + 3 * CHUNK + 2, C);
    b.ipam.ring.transfer(RANGE.start + 40 * CHUNK + 1, RANGE.start + 40 * CHUNK + 2, C);
    clear();
    a.gossip.antiEntropyWith(a.conn);
    pump();
    const chunksOf = (s: Side) => ipamGossip(s).flatMap((g) => tokens(g.ring!).map((t) => Math.floor((t - RANGE.start) / CHUNK)));
    expect([...new Set(chunksOf(a))]).toEqual([3, 40]); // a sends both chunks that differ
    expect([...new Set(chunksOf(b))]).toEqual([40]); // b, having merged a's chunks, sends back only what a lacks
    expect(b.ipam.ring.toWire()).toEqual(a.ipam.ring.toWire());
  });

  it('malformed versions get a ProtocolError and change nothing', () => {
    const { a, b, round } = pair(seedBoth);
    round();
    const before = { hash: a.ipam.digest!.hash(), full: JSON.stringify(a.ipam.encodeFull()) };
    const id = a.ipam.ring.id!;
    const bad: unknown[] = [
      'nonsense',
      null,
      [],
      { s: 'x' },
      { s: [['k', 'one', 't']] },
      { s: [], p: 5 },
      { s: [], r: { id: 5, c: '' } },
      { s: [], r: { id, c: 'not base64!' } },
      { s: [], r: { id, c: 'AAAAAAAAAAA=' } }, // our ring's id, but 8 bytes of hashes for 64 chunks
      { s: [], r: { id, c: '', w: 'yes' } },
    ];
    for (const v of bad) expect(() => a.ipam.digest!.compare(v), JSON.stringify(v)).toThrow(ProtocolError);
    // Through the mesh: the connection that sent it is closed, nothing else happens.
    a.gossip.receive(a.conn, { t: 'av', c: 'ipam', v: { s: 'x' }, r: false });
    expect(a.closed).toEqual(['malformed IPAM versions: usage records']);
    expect(a.counters.framesRejected).toBe(1);
    expect(a.ipam.digest!.hash()).toBe(before.hash);
    expect(JSON.stringify(a.ipam.encodeFull())).toBe(before.full);
  });

  it('a peer of an older build (no IPAM digest) keeps getting full state, and its full state is merged', () => {
    // b is an older build: its IPAM channel has no digest, so its hashes never name the channel.
    const older = (p: PeerName, ipam: Ipam): GossipChannel => (p === B ? withoutDigest(ipam) : ipam);
    const { a, b, round, clear } = pair(seedBoth, { channelOf: older });
    a.ipam.ring.transfer(RANGE.start + 1, RANGE.start + 2, C);
    clear();
    for (let i = 0; i < 3; i++) round();
    const full = ipamGossip(a);
    expect(full).toHaveLength(3);
    for (const g of full) expect(g.ring?.partial).toBeUndefined(); // the whole ring, every round
    expect(full[2]!.stats?.map(([p]) => p).sort()).toEqual([A, B]); // every usage record
    expect(types(b)).toEqual(['g:ipam', 'g:ipam', 'g:ipam']); // as it always did
    expect(b.ipam.ring.toWire()).toEqual(a.ipam.ring.toWire());
    expect(a.ipam.digest!.hash()).toBe(b.ipam.digest!.hash());
  });

  it('a connection below the digest protocol gets full state only', () => {
    const { a, b, round, clear } = pair(seedBoth, { version: 2 });
    round();
    clear();
    round();
    expect(types(a)).toEqual(['g:ipam']);
    expect(types(b)).toEqual(['g:ipam']);
  });

  it('consensus records converge by digest before the ring exists, and a peer with the ring sends it whole to one without', () => {
    const { a, b, round, clear } = pair(() => ({ mode: 'consensus', n: 5 })); // a quorum of 3: two peers only exchange records
    expect(a.ipam.ring.initialised).toBe(false);
    round();
    expect(a.ipam.consensusRecords()!.map(([p]) => p).sort()).toEqual([A, B]);
    expect(state(b)).toEqual(state(a));
    expect(a.ipam.digest!.hash()).toBe(b.ipam.digest!.hash());
    clear();
    round();
    expect(types(a)).toEqual(['ah']);

    const seeded = pair((p) => (p === A ? { mode: 'seed', seeds: [A] } : { mode: 'consensus', n: 5 }));
    seeded.b.gossip.receive(seeded.b.conn, { t: 'ah', h: { ipam: 'x' } }); // b heard a's hash: a digest peer
    seeded.a.gossip.receive(seeded.a.conn, { t: 'ah', h: { ipam: 'x' } });
    seeded.clear();
    seeded.round();
    const sentByA = ipamGossip(seeded.a);
    expect(sentByA.some((g) => g.ring && !g.ring.partial)).toBe(true);
    expect(ipamGossip(seeded.b).some((g) => g.paxos)).toBe(false); // consensus records are no use to a peer with a ring
    expect(seeded.b.ipam.ring.toWire()).toEqual(seeded.a.ipam.ring.toWire());
  });

  it('two records of one peer at one version: both sides keep the same one (the larger tag), and hash alike', () => {
    const { a, b, round } = pair(seedBoth);
    round();
    const one: PeerStats = { version: 9, nickname: 'c', inUse: 1, free: 0 };
    const two: PeerStats = { version: 9, nickname: 'c', inUse: 2, free: 0 };
    a.ipam.merge(C, { stats: [[C, one]] });
    b.ipam.merge(C, { stats: [[C, two]] });
    expect(a.ipam.digest!.hash()).not.toBe(b.ipam.digest!.hash());
    round();
    expect(a.ipam.peerStats().get(C)).toEqual(b.ipam.peerStats().get(C));
    expect(a.ipam.digest!.hash()).toBe(b.ipam.digest!.hash());
  });

  it('rings seeded apart: each side gets the other whole and reports the split', () => {
    const { a, b, round, clear } = pair((p) => ({ mode: 'seed', seeds: [p] }));
    round(); // first contact: full state
    clear();
    round(); // by digest now: the hashes never agree, and each side sends its whole ring
    expect(ipamGossip(a).some((g) => g.ring && !g.ring.partial)).toBe(true);
    expect(ipamGossip(b).some((g) => g.ring && !g.ring.partial)).toBe(true);
    expect(a.ipam.state().state).toBe('split-ring');
    expect(b.ipam.state().state).toBe('split-ring');
  });

  it('a cluster of both builds (half without the IPAM digest) agrees on the ring and on every usage record', async () => {
    const sim = new IpamSim(5, 6, { ipamDigest: (i) => i % 2 === 0, timings: { gossipIntervalMs: 2_000 } });
    try {
      await sim.start();
      expect(await sim.runUntil(() => sim.allReady() && sim.ringsAgree() && sim.mesh.converged(), 60_000)).toBe(true);
      const results = await sim.settle([0, 1, 2, 3].map((i) => sim.ipams[i]!.allocate(`c${i}`, sim.cfg.defaultSubnet)));
      expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
      const usage = (p: Ipam) => JSON.stringify([...p.peerStats()].sort(([x], [y]) => (x < y ? -1 : 1)));
      expect(await sim.runUntil(() => new Set(sim.alive().map(([, p]) => usage(p))).size === 1 && sim.ringsAgree(), 30_000)).toBe(true);
      expect(new Set(sim.alive().map(([, p]) => p.digest!.hash())).size).toBe(1);
    } finally {
      await sim.stop();
    }
  });

  it('counts gossip bytes per channel', () => {
    const { a, round } = pair(seedBoth);
    round();
    const by = a.counters.gossipBytesSentByChannel!;
    expect(Object.keys(by)).toEqual(['ipam']);
    expect(Math.round(by['ipam']!)).toBe(a.counters.gossipBytesSent);
  });
});
