/**
 * IPAM's anti-entropy by digest: a settled mesh exchanges one hash per round,
 * not every peer's usage record and the whole ring. When hashes differ, the
 * versions go across and each side sends only what the other lacks:
 *  - usage records and consensus records: one versioned record per peer,
 *    highest version wins, ties broken by a tag of the content (the shared
 *    RecordVersions); a missing or older record is sent alone;
 *  - the ring: its id and a hash per chunk (see ring.ts). The chunks whose
 *    hashes differ are sent, each whole, as deltas are. The ring's merge is
 *    the larger (version, owner) per token, so merging those chunks gives the
 *    other side exactly what merging our whole ring would, and every token it
 *    then holds comes with its whole chunk, as the ring's safety argument needs.
 *    A peer without a ring, or with another ring (a split, a range mismatch),
 *    gets the whole ring, so it adopts it or reports the conflict as before.
 * Consensus records count only before the ring exists, and only between
 * peers that take them: a peer with a ring needs none and gets none.
 *
 * The hash covers exactly what encodeFull() carries (usage records with their
 * content, the ring's id, seeds and every token; the consensus records while
 * there is no ring), so equal hashes mean equal state.
 */
import type { PeerName } from '../lib/peer-name.js';
import type { ChannelDigest } from '../mesh/gossip-channel.js';
import { ProtocolError } from '../mesh/protocol.js';
import { hashText, parseVersions, type RecordVersions, type VersionEntry } from '../mesh/record-versions.js';
import type { IpamGossip, PeerStats } from './messages.js';
import type { Paxos } from './paxos.js';
import type { Ring } from './ring.js';

/** What versions() sends: the usage records' versions, the consensus records' (while they count), the ring's digest. */
export interface IpamVersions {
  s: VersionEntry[];
  p?: VersionEntry[];
  /** c: the chunk hashes, base64; w: this ring takes whole rings only. */
  r?: { id: string; c: string; w?: true };
}

/** What the digest reads; the Ipam core hands it these views of its state. */
export interface IpamDigestSource {
  readonly ring: Ring;
  readonly statsVersions: RecordVersions;
  stats(peer: PeerName): PeerStats | undefined;
  /** The consensus in progress (only before the ring exists, on a peer in consensus mode). */
  consensus(): Paxos | undefined;
}

const MAX_CHUNK_HASH_CHARS = Math.ceil((256 * 8) / 3) * 4;

function parseIpamVersions(x: unknown): IpamVersions {
  const bad = (what: string) => new ProtocolError(`malformed IPAM versions: ${what}`);
  if (!x || typeof x !== 'object' || Array.isArray(x)) throw bad('not an object');
  const o = x as Record<string, unknown>;
  const s = parseVersions(o['s']);
  if (!s) throw bad('usage records');
  const out: IpamVersions = { s };
  if (o['p'] !== undefined) {
    const p = parseVersions(o['p']);
    if (!p) throw bad('consensus records');
    out.p = p;
  }
  if (o['r'] !== undefined) {
    const r = o['r'] as Record<string, unknown> | null;
    if (!r || typeof r !== 'object' || typeof r['id'] !== 'string' || r['id'] === '' || r['id'].length > 64) throw bad('ring id');
    const c = r['c'];
    if (typeof c !== 'string' || c.length > MAX_CHUNK_HASH_CHARS || c.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(c)) throw bad('chunk hashes');
    if (r['w'] !== undefined && r['w'] !== true) throw bad('ring flags');
    out.r = { id: r['id'], c, ...(r['w'] ? { w: true as const } : {}) };
  }
  return out;
}

export function ipamDigest(src: IpamDigestSource): ChannelDigest {
  const ring = src.ring;
  return {
    // Builds before this one sent IPAM's full state each round and ignore its hash (ChannelDigest.announced).
    announced: true,

    hash(): string {
      const px = src.consensus();
      return hashText(`${src.statsVersions.hash()}|${px && !ring.initialised ? px.versions.hash() : ''}|${ring.digest()?.hash ?? ''}`);
    },

    versions(): IpamVersions {
      const px = src.consensus();
      const rd = ring.digest();
      return {
        s: src.statsVersions.versions(),
        ...(px && !rd ? { p: px.versions.versions() } : {}),
        ...(rd ? { r: { id: rd.id, c: rd.chunks.toString('base64'), ...(rd.takesChunks ? {} : { w: true as const }) } } : {}),
      };
    },

    compare(theirs: unknown): { send?: IpamGossip; weLack: boolean } {
      const v = parseIpamVersions(theirs);
      const send: IpamGossip = {};
      const stats = src.statsVersions.compare(v.s);
      let weLack = stats.weLack;
      if (stats.theyLack.length) send.stats = stats.theyLack.map((k) => [k, src.stats(k)!]);

      const rd = ring.digest();
      if (rd && (!v.r || v.r.id !== rd.id)) {
        // No ring there, or another one: the whole ring, to adopt or to report as a conflict (and theirs back).
        send.ring = ring.toWire();
        if (v.r) weLack = true;
      } else if (rd && v.r) {
        const chunks = Buffer.from(v.r.c, 'base64');
        if (chunks.length !== ring.chunkCount * 8) throw new ProtocolError('malformed IPAM versions: chunk hashes of another size');
        const wire = ring.chunksDifferingFrom(chunks, v.r.w === undefined);
        if (wire) {
          send.ring = wire;
          weLack = true; // a chunk hash does not say which side is newer: they answer with what we lack, if anything
        }
      } else if (v.r) weLack = true;

      const px = src.consensus();
      if (px && !rd && !v.r && v.p) {
        const c = px.versions.compare(v.p);
        if (c.theyLack.length) send.paxos = c.theyLack.map((k) => [k, px.records.get(k)!]);
        weLack ||= c.weLack;
      }
      return { send: send.stats || send.ring || send.paxos ? send : undefined, weLack };
    },
  };
}
