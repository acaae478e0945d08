/**
 * Anti-entropy by digest for a channel whose digest came after protocol v3
 * (ChannelDigest.announced, the data plane's endpoint records): its full state
 * goes with the hash until the peer's own hashes name the channel, so a peer
 * built before it (which ignores the hash) still gets the records; after that,
 * only the hash goes.
 */
import { describe, expect, it } from 'vitest';
import { EndpointTable } from '../../../src/dataplane/endpoints.js';
import { SimClock } from '../../../src/lib/clock.js';
import type { Logger } from '../../../src/lib/logger.js';
import type { PeerName } from '../../../src/lib/peer-name.js';
import { seededRandom } from '../../../src/lib/random.js';
import type { Connection } from '../../../src/mesh/connection.js';
import { Gossip } from '../../../src/mesh/gossip.js';
import type { Message } from '../../../src/mesh/protocol.js';

const A = '00:00:00:00:00:0a' as PeerName;
const B = '00:00:00:00:00:0b' as PeerName;
const silent = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
const rec = { underlay: '198.51.100.1', bridgeMac: '02:00:00:00:00:01', linkLocal: 'fe80::1', mtu: 1450, macs: [] };

/** A connection that records what it was sent (as decoded messages). */
function fakeConnection(remote: PeerName) {
  const sent: Message[] = [];
  const c = {
    version: 3,
    congested: false,
    remote: { name: remote },
    send: (m: Message) => {
      sent.push(m);
      return 1;
    },
    sendEncoded: (b: Buffer) => {
      sent.push(JSON.parse(String(b)) as Message);
      return b.length;
    },
    close: () => {},
  };
  return { c: c as unknown as Connection, sent };
}

function gossipOf(table: EndpointTable, neighbours: Connection[], changed: () => void = () => undefined) {
  const counters = { gossipMessagesSent: 0, gossipMessagesReceived: 0, gossipBytesSent: 0, gossipBytesReceived: 0, largestGossipMessageBytes: 0, handshakesRejected: 0, framesRejected: 0, handshakesThrottled: 0 };
  const g = new Gossip({ clock: new SimClock(), random: seededRandom(1), log: silent, counters, coalesceMs: 10, neighbours: () => neighbours, peerCount: () => 2, changed });
  g.register(table, () => true);
  return g;
}

describe('anti-entropy for a digest newer than the protocol', () => {
  it('sends full state with the hash until the peer names the channel in its own hashes, then the hash alone', () => {
    const table = new EndpointTable(A, () => {});
    table.setOwn(rec, 1);
    const { c, sent } = fakeConnection(B);
    const g = gossipOf(table, [c]);
    g.antiEntropyWith(c);
    expect(sent.map((m) => m.t)).toEqual(['g', 'ah']); // an older peer ignores the hash, but gets the records
    sent.length = 0;
    g.receive(c, { t: 'ah', h: { dataplane: table.digest.hash() } } as Message);
    expect(sent).toEqual([]); // equal hashes: nothing to send
    g.antiEntropyWith(c);
    expect(sent.map((m) => m.t)).toEqual(['ah']);
  });

  it('a peer that never names the channel (built before its digest) keeps getting full state', () => {
    const table = new EndpointTable(A, () => {});
    table.setOwn(rec, 1);
    const { c, sent } = fakeConnection(B);
    const g = gossipOf(table, [c]);
    g.receive(c, { t: 'ah', h: {} } as Message);
    for (let i = 0; i < 3; i++) g.antiEntropyWith(c);
    expect(sent.filter((m) => m.t === 'g')).toHaveLength(3);
  });

  it('endpoint digests: equal states hash alike; compare sends just what the other lacks', () => {
    const a = new EndpointTable(A, () => {});
    const b = new EndpointTable(B, () => {});
    a.setOwn(rec, 1);
    b.setOwn({ ...rec, underlay: '198.51.100.2' }, 1);
    expect(a.digest.hash()).not.toBe(b.digest.hash());
    const forB = a.digest.compare(b.digest.versions());
    expect(forB.weLack).toBe(true);
    b.merge(A, forB.send);
    const forA = b.digest.compare(a.digest.versions());
    expect(forA.weLack).toBe(false);
    a.merge(B, forA.send);
    expect(a.digest.hash()).toBe(b.digest.hash());
    expect(a.digest.compare(b.digest.versions())).toEqual({ send: undefined, weLack: false });
    expect(() => a.digest.compare('nonsense')).toThrow(/malformed dataplane versions/);
  });
});

/** Two gossips joined by one connection each way; messages are queued and delivered by flush(). */
function linkedPair(a: EndpointTable, b: EndpointTable) {
  const queue: [to: 'a' | 'b', m: Message][] = [];
  const lists: Message[] = [];
  const conn = (remote: PeerName, to: 'a' | 'b') =>
    ({
      version: 3,
      congested: false,
      remote: { name: remote },
      send: (m: Message) => {
        if (m.t === 'av') lists.push(m);
        queue.push([to, m]);
        return 1;
      },
      sendEncoded: (buf: Buffer) => {
        queue.push([to, JSON.parse(String(buf)) as Message]);
        return buf.length;
      },
      close: () => {},
    }) as unknown as Connection;
  const toB = conn(B, 'b');
  const toA = conn(A, 'a');
  const ga = gossipOf(a, [toB]);
  const gb = gossipOf(b, [toA]);
  const flush = () => {
    while (queue.length) {
      const [to, m] = queue.shift()!;
      if (to === 'b') gb.receive(toA, m);
      else ga.receive(toB, m);
    }
  };
  /** Each side has heard the other name the channel (its own hash back: nothing to answer), so only hashes go. */
  const announce = () => {
    gb.receive(toA, { t: 'ah', h: { dataplane: b.digest.hash() } } as Message);
    ga.receive(toB, { t: 'ah', h: { dataplane: a.digest.hash() } } as Message);
  };
  return { ga, gb, toA, toB, flush, lists, announce };
}

/** Two tables that differ (one record each), linked, each side knowing the other digests the channel. */
function differingPair() {
  const a = new EndpointTable(A, () => {});
  const b = new EndpointTable(B, () => {});
  a.setOwn(rec, 1);
  b.setOwn({ ...rec, underlay: '198.51.100.2' }, 1);
  const p = linkedPair(a, b);
  p.announce();
  return { a, b, p };
}

describe('version lists on a new connection', () => {
  it('both ends send hashes: one version list each way, not a second in reply, and both converge', () => {
    const { a, b, p } = differingPair();
    p.ga.antiEntropyWith(p.toB);
    p.gb.antiEntropyWith(p.toA);
    p.flush();
    expect(p.lists.filter((m) => m.t === 'av' && m.r)).toEqual([]);
    expect(p.lists).toHaveLength(2);
    expect(a.digest.hash()).toBe(b.digest.hash());
  });

  it('a round one end starts still fixes both sides (the reply carries the starter\'s versions)', () => {
    const { a, b, p } = differingPair();
    p.ga.antiEntropyWith(p.toB);
    p.flush();
    expect(p.lists.map((m) => m.t === 'av' && m.r)).toEqual([false, true]);
    expect(a.digest.hash()).toBe(b.digest.hash());
  });

  it('tells its owner of each change a merge makes (what the daemon collects garbage after), and not of gossip that changes nothing', () => {
    const table = new EndpointTable(A, () => {});
    table.setOwn(rec, 1);
    const other = new EndpointTable(B, () => {});
    other.setOwn({ ...rec, underlay: '198.51.100.2' }, 1);
    const { c } = fakeConnection(B);
    let changes = 0;
    const g = gossipOf(table, [c], () => changes++);
    g.receive(c, { t: 'g', c: 'dataplane', d: other.encodeFull() } as Message);
    expect(changes).toBe(1);
    g.receive(c, { t: 'g', c: 'dataplane', d: other.encodeFull() } as Message); // known already
    g.receive(c, { t: 'ah', h: { dataplane: table.digest.hash() } } as Message);
    g.antiEntropyWith(c);
    expect(changes).toBe(1);
  });
});
