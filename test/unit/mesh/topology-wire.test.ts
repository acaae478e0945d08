import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/mesh/protocol.js';
import { decodeRecords, type PeerRecord } from '../../../src/mesh/topology.js';
import { encodeCompact } from '../../../src/mesh/topology-wire.js';

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

describe('compact topology encoding (protocol v3)', () => {
  it('round-trips records exactly', () => {
    const recs = fullMesh(20);
    const wire = JSON.parse(JSON.stringify(encodeCompact(recs)));
    expect(decodeRecords(wire)).toEqual(recs);
    expect(decodeRecords(JSON.parse(JSON.stringify(recs)))).toEqual(recs); // the v1 form still decodes
  });

  it('costs at most 8 bytes per edge on the wire for a full mesh of 300 (v1 JSON: ~60)', () => {
    const recs = fullMesh(300);
    const edges = 300 * 299;
    const compact = Buffer.byteLength(JSON.stringify(encodeCompact(recs)));
    const v1 = Buffer.byteLength(JSON.stringify(recs));
    expect(compact / edges).toBeLessThanOrEqual(8);
    expect(v1 / edges).toBeGreaterThan(40);
  });

  it('refuses malformed compact payloads with a ProtocolError', () => {
    const good = JSON.parse(JSON.stringify(encodeCompact(fullMesh(3))));
    const bad = [
      { ...good, n: ['not-a-name'] },
      { ...good, a: [42] },
      { ...good, r: [[99, 'x', 'u', 1, '']] }, // name index out of range
      { ...good, r: [[0, 'x', 'u', 1, 'AAA']] }, // edges not a multiple of 4 bytes
      { ...good, r: [[0, 'x', 'u', 1, Buffer.from([0, 9, 0, 0]).toString('base64')]] }, // edge to no name
      { ...good, r: [[0, 'x', 'u', 'one', '']] },
      { ...good, r: 'x' },
    ];
    for (const b of bad) expect(() => decodeRecords(b), JSON.stringify(b).slice(0, 80)).toThrow(ProtocolError);
  });
});
