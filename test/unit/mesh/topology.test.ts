import { describe, expect, it } from 'vitest';
import { decodeRecords, supersedes, Topology, type PeerRecord } from '../../../src/mesh/topology.js';
import { TopologyChannel } from '../../../src/mesh/topology-channel.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';
const rec = (name: string, version: number, conns: string[] = [], uid = 'u1'): PeerRecord => ({
  name,
  nickname: name.slice(-1),
  uid,
  version,
  conns: conns.map((p) => ({ peer: p, address: `${p}:6783`, outbound: true })),
});

describe('topology merge rules', () => {
  it('a higher version wins; stale and equal versions change nothing', () => {
    const t = new Topology(rec(A, 10, [B]));
    expect(t.merge([rec(B, 5, [A])]).map((r) => r.version)).toEqual([5]);
    expect(t.merge([rec(B, 4, [])])).toEqual([]); // stale
    expect(t.merge([rec(B, 5, [A])])).toEqual([]); // equal
    expect(t.merge([rec(B, 6, [A, C])]).map((r) => r.version)).toEqual([6]);
  });

  it('conflicting records with the same version resolve by uid, the same everywhere', () => {
    const x = rec(B, 7, [A], 'aaa');
    const y = rec(B, 7, [], 'bbb');
    expect(supersedes(y, x)).toBe(true);
    const t1 = new Topology(rec(A, 1));
    const t2 = new Topology(rec(A, 1));
    t1.merge([x]);
    t1.merge([y]);
    t2.merge([y]);
    t2.merge([x]);
    expect(t1.get(B)).toEqual(t2.get(B));
  });

  it('a record of an earlier incarnation of ourselves makes us out-vote it', () => {
    const t = new Topology(rec(A, 100, [], 'new'));
    const changed = t.merge([rec(A, 150, [B], 'old')]);
    expect(changed).toHaveLength(1);
    expect(t.self.version).toBe(151);
    expect(t.self.uid).toBe('new');
  });

  it('only symmetric edges count; unreachable peers are removed', () => {
    const t = new Topology(rec(A, 1, [B]));
    t.merge([rec(B, 1, [A, C]), rec(C, 1, [])]); // C does not list B: not reachable
    expect([...t.routes().keys()].sort()).toEqual([B]);
    expect(t.removeUnreachable()).toEqual([C]);
    t.merge([rec(C, 2, [B])]);
    expect(t.routes().get(C)).toBe(B); // through B
  });

  it('setOwnConnections bumps the version only on change', () => {
    const t = new Topology(rec(A, 1));
    expect(t.setOwnConnections([{ peer: B, address: 'x', outbound: true }])?.version).toBe(2);
    expect(t.setOwnConnections([{ peer: B, address: 'x', outbound: true }])).toBeUndefined();
  });

  it('decodeRecords rejects malformed gossip', () => {
    expect(() => decodeRecords({})).toThrow();
    expect(() => decodeRecords([{ name: 'x' }])).toThrow(/malformed/);
    expect(() => decodeRecords([{ ...rec(A, 1), conns: [{ peer: 'zz' }] }])).toThrow(/malformed/);
    expect(decodeRecords([rec(A, 1, [B])])).toHaveLength(1);
  });
});

describe('topology deltas narrowed per neighbour', () => {
  const D = '02:00:00:00:00:0d';
  it('keeps our own record for everyone, and drops a record for its owner and the owner\'s neighbours', () => {
    const ch = new TopologyChannel(rec(A, 10, [B, C, D]), { gossip: () => undefined, changed: () => undefined });
    const own = ch.topo.self;
    const b = rec(B, 5, [A, C]); // B's neighbours: A (us) and C
    const delta = [own, b];
    expect(ch.narrow(delta, C)).toEqual([own]); // C hears of B from B itself
    expect(ch.narrow(delta, B)).toEqual([own]); // B has its own record
    expect(ch.narrow(delta, D)).toBe(delta); // D is not B's neighbour: the whole delta, not a copy
    expect(ch.narrow([b], C)).toBeUndefined(); // nothing left: nothing is sent
  });

  it('does not send a neighbour the version it sent us itself, first or as a duplicate before our flush', () => {
    const E = '02:00:00:00:00:0e';
    const ch = new TopologyChannel(rec(A, 10, [B, C, D]), { gossip: () => undefined, changed: () => undefined });
    const e = rec(E, 5, []); // E is nobody's neighbour here: only the holders narrow it
    const wire = (r: PeerRecord[]) => ch.wireFor(r, 3);
    ch.merge(B, wire([e])); // first from B
    ch.merge(C, wire([e])); // the same version again, from C
    const delta = ch.encodeDelta()!;
    expect(delta).toEqual([e]);
    expect(ch.narrow(delta, B)).toBeUndefined();
    expect(ch.narrow(delta, C)).toBeUndefined();
    expect(ch.narrow(delta, D)).toBe(delta);
    // A newer version from D: D holds that one, B and C do not.
    ch.merge(D, wire([rec(E, 6, [])]));
    const next = ch.encodeDelta()!;
    expect(ch.narrow(next, D)).toBeUndefined();
    expect(ch.narrow(next, B)).toBe(next);
  });

  it('a narrowed delta on the wire decodes to just its records', () => {
    const ch = new TopologyChannel(rec(A, 10, [B, C, D]), { gossip: () => undefined, changed: () => undefined });
    const own = ch.topo.self;
    const b = rec(B, 5, [A, C]);
    const delta = [own, b, rec(D, 3, [A])];
    const forC = ch.narrow(delta, C)!;
    expect(decodeRecords(ch.wireFor(forC, 3) as Uint8Array)).toEqual(forC);
    expect(decodeRecords(ch.wireFor(delta, 3) as Uint8Array)).toEqual(delta);
  });

  it('hands neighbours that get the same part of one delta the same array (encoded once for all of them)', () => {
    const E = '02:00:00:00:00:0e';
    const ch = new TopologyChannel(rec(A, 10, [B, C, D, E]), { gossip: () => undefined, changed: () => undefined });
    const own = ch.topo.self;
    const delta = [own, rec(B, 5, [A, C, D])];
    const forC = ch.narrow(delta, C);
    expect(forC).toEqual([own]);
    expect(ch.narrow(delta, D)).toBe(forC); // D neighbours B as C does: the same part
    expect(ch.narrow(delta, E)).toBe(delta);
    const next = [own, rec(B, 6, [A, C, D])];
    expect(ch.narrow(next, C)).not.toBe(forC); // a new delta: its own parts
  });
});
