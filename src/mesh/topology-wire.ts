/**
 * The compact wire form of topology records (protocol v3 and later). Names
 * and addresses go once per message in tables; each edge is 4 bytes (the
 * peer's index, the address's index, the outbound bit) in base64, so about
 * 5.3 bytes per edge on the wire instead of ~60 in the v1 JSON form, which
 * matters because a full mesh has N² edges. A message holds at most 65,536
 * names and 32,768 addresses; the router splits bigger payloads anyway.
 */
import { isPeerName, type PeerName } from '../lib/peer-name.js';
import { ProtocolError } from './protocol.js';
import type { ConnRecord, PeerRecord } from './topology.js';

export interface CompactTopology {
  /** Peer names. */
  n: string[];
  /** Listen addresses. */
  a: string[];
  /** Records: [name index, nickname, uid, version, edges]. */
  r: [number, string, string, number, string][];
}

const MAX_NAMES = 1 << 16;
const MAX_ADDRS = 1 << 15;

export function isCompactTopology(x: unknown): x is CompactTopology {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && 'r' in x;
}

export function encodeCompact(records: PeerRecord[]): CompactTopology {
  const names = new Map<string, number>();
  const addrs = new Map<string, number>();
  const index = (m: Map<string, number>, k: string, max: number): number => {
    let i = m.get(k);
    if (i === undefined) {
      if (m.size >= max) throw new RangeError('too many distinct names or addresses for one compact topology message');
      m.set(k, (i = m.size));
    }
    return i;
  };
  const r = records.map((rec): CompactTopology['r'][number] => {
    const edges = Buffer.allocUnsafe(4 * rec.conns.length);
    rec.conns.forEach((c, j) => {
      const word = index(names, c.peer, MAX_NAMES) * 0x10000 + (index(addrs, c.address, MAX_ADDRS) << 1) + (c.outbound ? 1 : 0);
      edges.writeUInt32BE(word, 4 * j);
    });
    return [index(names, rec.name, MAX_NAMES), rec.nickname, rec.uid, rec.version, edges.toString('base64')];
  });
  return { n: [...names.keys()], a: [...addrs.keys()], r };
}

export function decodeCompact(x: CompactTopology, maxRecords: number, maxConns: number): PeerRecord[] {
  const { n, a, r } = x;
  if (!Array.isArray(n) || n.length > MAX_NAMES || !n.every((s) => typeof s === 'string' && isPeerName(s))) throw new ProtocolError('malformed compact topology: names');
  if (!Array.isArray(a) || a.length > MAX_ADDRS || !a.every((s) => typeof s === 'string' && s.length <= 300)) throw new ProtocolError('malformed compact topology: addresses');
  if (!Array.isArray(r) || r.length > maxRecords) throw new ProtocolError('malformed compact topology: records');
  return r.map((e): PeerRecord => {
    if (
      !Array.isArray(e) || e.length !== 5 || !Number.isInteger(e[0]) || n[e[0]] === undefined ||
      typeof e[1] !== 'string' || e[1].length > 64 || typeof e[2] !== 'string' || e[2].length > 64 ||
      typeof e[3] !== 'number' || !Number.isFinite(e[3]) || typeof e[4] !== 'string' || e[4].length > (maxConns * 16) / 3 + 4
    ) {
      throw new ProtocolError('malformed compact topology record');
    }
    const edges = Buffer.from(e[4], 'base64');
    if (edges.length % 4 !== 0) throw new ProtocolError('malformed compact topology edges');
    const conns: ConnRecord[] = [];
    for (let j = 0; j < edges.length; j += 4) {
      const word = edges.readUInt32BE(j);
      const peer = n[Math.floor(word / 0x10000)];
      const address = a[(word & 0xffff) >>> 1];
      if (peer === undefined || address === undefined) throw new ProtocolError('compact topology edge refers to no name or address');
      conns.push({ peer: peer as PeerName, address, outbound: (word & 1) === 1 });
    }
    return { name: n[e[0]] as PeerName, nickname: e[1], uid: e[2], version: e[3], conns };
  });
}
