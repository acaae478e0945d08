import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeBinaryGossip, ProtocolError } from '../../../src/mesh/protocol.js';
import { decodeRecords, Topology, type PeerRecord } from '../../../src/mesh/topology.js';
import { assembleTopology, encodeTopology, encodeTopologyParts } from '../../../src/mesh/topology-wire.js';

const name = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

/** A full mesh of n peers, as every peer's topology holds it. */
function fullMesh(n: number): PeerRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    name: name(i),
    nickname: `host${i}`,
    uid: `uid${i}`,
    version: 1_700_000_000_000 + i,
    conns: Array.from({ length: n }, (_, j) => j)
      .filter((j) => j !== i)
      .map((j) => ({ peer: name(j), address: `198.51.100.${j % 250}:6783`, outbound: j < i })),
  }));
}

/** n peers with `degree` connections each (a mesh capped by a conn-limit), as the daemon names them (hex uids). */
function partialMesh(n: number, degree: number): PeerRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    name: name(i),
    nickname: `h${i}`,
    uid: (0x10000000_0000 + i * 7919).toString(16).padStart(16, '0'),
    version: 1_700_000_000_000 + i,
    conns: Array.from({ length: degree }, (_, k) => (i + 1 + k * 37) % n).map((j) => ({ peer: name(j), address: `198.51.${100 + (j >> 8)}.${j & 255}:6783`, outbound: j < i })),
  }));
}

const decode = (b: Uint8Array) => decodeRecords(b);

describe('compact topology encoding (protocol v3)', () => {
  it('round-trips records exactly, including unusual addresses, IPv6 and non-hex uids', () => {
    const recs = fullMesh(20);
    recs[3]!.conns[0]!.address = '[2001:db8::1]:6783';
    recs[4]!.conns[1]!.address = '198.51.100.250:7000'; // not the address other records use for that peer
    recs[5]!.uid = 'aabbccddeeff0011';
    recs[6]!.nickname = 'hôte-6';
    expect(decode(encodeTopology(recs))).toEqual(recs);
    expect(decodeRecords(JSON.parse(JSON.stringify(recs)))).toEqual(recs); // the v1 form still decodes
  });

  it('costs at most 8 bytes per edge on the wire, for a full mesh of 300 and for 1,000 and 5,000 peers at a conn-limit of 10 (v1 JSON: ~60)', () => {
    for (const recs of [fullMesh(300), partialMesh(1000, 10), partialMesh(5000, 10)]) {
      const edges = recs.reduce((e, r) => e + r.conns.length, 0);
      const bytes = encodeTopology(recs).length;
      expect(bytes / edges, `${recs.length} peers`).toBeLessThanOrEqual(8);
    }
    const recs = fullMesh(300);
    expect(Buffer.byteLength(JSON.stringify(recs)) / (300 * 299)).toBeGreaterThan(40);
  });

  it('travels in a binary gossip frame', () => {
    const payload = encodeTopology(fullMesh(3));
    const m = decodeMessage(encodeBinaryGossip('topology', payload));
    expect(m.t).toBe('g');
    expect(m.t === 'g' && m.c).toBe('topology');
    expect(m.t === 'g' && decode(m.d as Uint8Array)).toEqual(fullMesh(3));
    expect(() => decodeMessage(Buffer.from([1, 40, 0x61]))).toThrow(ProtocolError);
  });

  it('hands on only the records that are new to the receiver', () => {
    const recs = fullMesh(5);
    const topo = new Topology(recs[0]!);
    topo.merge([recs[1]!]);
    const b = encodeTopology(recs.slice(1));
    const wants = (n: string, v: number, u: () => string) => topo.wants(n, v, u);
    expect(decodeRecords(b, { wants }).map((r) => r.name)).toEqual([name(2), name(3), name(4)]);
  });

  it('assembles a message of some of the records from their one encoding, which decodes to just those', () => {
    const recs = partialMesh(50, 6);
    const enc = encodeTopologyParts(recs);
    expect(assembleTopology(enc)).toEqual(encodeTopology(recs));
    const keep = [0, 3, 4, 17, 49];
    expect(decode(assembleTopology(enc, keep))).toEqual(keep.map((k) => recs[k]));
    expect(decode(assembleTopology(enc, []))).toEqual([]);
  });

  it('refuses malformed payloads with a ProtocolError', () => {
    const good = encodeTopology(fullMesh(3));
    const bad: Uint8Array[] = [
      Buffer.from([]),
      Buffer.from([9]), // unknown format
      good.subarray(0, good.length - 1), // truncated
      Buffer.concat([good, Buffer.from([0])]), // trailing bytes
      Buffer.from([1, 200]), // more names than bytes
    ];
    // A record whose name index is out of range.
    const oneName = Buffer.from([1, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 5]);
    bad.push(Buffer.concat([oneName, Buffer.alloc(8), Buffer.from([0, 0, 0])]));
    // A record whose edge refers to a name that is not there.
    bad.push(Buffer.concat([Buffer.from([1, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0]), Buffer.alloc(8), Buffer.from([0, 0, 1, 40])]));
    for (const b of bad) expect(() => decode(b), Buffer.from(b).toString('hex').slice(0, 60)).toThrow(ProtocolError);
  });
});
