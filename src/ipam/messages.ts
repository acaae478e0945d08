/**
 * IPAM's gossip payload and its request/response messages (unicast over the
 * mesh channel). Everything arriving from the network is validated here
 * before the core sees it.
 */
import type { PeerName } from '../lib/peer-name.js';
import { contentTag } from '../mesh/record-versions.js';
import { Paxos, type PaxosRecord } from './paxos.js';
import { Ring, type RingWire } from './ring.js';

/** The most peers one rmpeer removes together (far more space owners than a cluster has). */
export const MAX_TOGETHER = 4096;

/** An address and the owner id holding it on the publishing peer. */
export type Holding = [addr: number, owner: string];

/** Per-peer usage, published by each peer about itself (for status, donor choice and conflicts). */
export interface PeerStats {
  version: number;
  nickname: string;
  inUse: number;
  free: number;
  /** Addresses this peer holds in space the ring gives to others (it was removed by rmpeer while running). */
  claims?: Holding[];
  /** Addresses this peer holds in its own space that another peer claims too: conflicts. */
  contested?: Holding[];
  /**
   * Set on a record published for this peer by the peer that removed it with
   * rmpeer (versioned above its last record and the remover's clock): its claims went with its space.
   * If it was alive after all, it answers with a newer record of its own.
   */
  removedBy?: PeerName;
}

/** What breaks a tie between two usage records of one peer at one version (its own and a removal made in the same millisecond). */
export function statsTag(s: PeerStats): string {
  return contentTag({ ...s, version: undefined });
}

/** Whether `a` replaces `b`: a higher version, or at one version the larger tag, so that every replica keeps the same record. */
export function newerStats(a: PeerStats, b: PeerStats): boolean {
  return a.version > b.version || (a.version === b.version && statsTag(a) > statsTag(b));
}

export interface IpamGossip {
  ring?: RingWire;
  stats?: [PeerName, PeerStats][];
  paxos?: [PeerName, PaxosRecord][];
}

export type IpamMessage =
  | { t: 'donate'; id: string; subnet: string; ip?: number }
  | { t: 'donate-reply'; id: string; ok: boolean; reason?: string; inUse?: boolean; ring?: RingWire }
  /** `stats`: the leaving peer's last record (nothing held), carried with its space so it cannot be lost apart from it. */
  | { t: 'handover'; id: string; ring: RingWire; stats?: PeerStats }
  | { t: 'handover-ack'; id: string }
  /** `together`: the other peers removed by the same command, left out of the coordinator's quorum. */
  | { t: 'rmpeer'; id: string; target: PeerName; force?: boolean; together?: PeerName[] }
  /** The rmpeer coordinator's quorum read: each space owner answers with its ring. */
  | { t: 'ring-read'; id: string }
  | { t: 'ring-read-reply'; id: string; ring: RingWire }
  | { t: 'rmpeer-reply'; id: string; ok: boolean; reason?: string; moved?: number; ring?: RingWire };

function isHoldings(x: unknown): boolean {
  return x === undefined || (Array.isArray(x) && x.every((h) => Array.isArray(h) && h.length === 2 && Number.isInteger(h[0]) && typeof h[1] === 'string' && h[1].length <= 256));
}

function isStats(x: unknown): x is PeerStats {
  const s = x as Partial<PeerStats> | null;
  return (
    !!s &&
    typeof s === 'object' &&
    Number.isInteger(s.version) &&
    typeof s.nickname === 'string' &&
    Number.isInteger(s.inUse) &&
    Number.isInteger(s.free) &&
    isHoldings(s.claims) &&
    isHoldings(s.contested) &&
    (s.removedBy === undefined || typeof s.removedBy === 'string')
  );
}

function pairs<T>(x: unknown, check: (v: unknown) => T | undefined): [PeerName, T][] | undefined {
  if (!Array.isArray(x)) return undefined;
  const out: [PeerName, T][] = [];
  for (const p of x) {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string') return undefined;
    const v = check(p[1]);
    if (v === undefined) return undefined;
    out.push([p[0], v]);
  }
  return out;
}

export function parseGossip(x: unknown): IpamGossip | undefined {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return undefined;
  const o = x as Record<string, unknown>;
  const out: IpamGossip = {};
  if (o.ring !== undefined) {
    const ring = Ring.parseWire(o.ring);
    if (!ring) return undefined;
    out.ring = ring;
  }
  if (o.stats !== undefined) {
    const stats = pairs(o.stats, (v) => (isStats(v) ? v : undefined));
    if (!stats) return undefined;
    out.stats = stats;
  }
  if (o.paxos !== undefined) {
    const px = pairs(o.paxos, Paxos.parseRecord);
    if (!px) return undefined;
    out.paxos = px;
  }
  return out;
}

export function parseMessage(x: unknown): IpamMessage | undefined {
  const m = x as Record<string, unknown> | null;
  if (!m || typeof m !== 'object' || typeof m.id !== 'string' || m.id.length > 64) return undefined;
  const ringOk = (r: unknown) => r === undefined || Ring.parseWire(r) !== undefined;
  switch (m.t) {
    case 'donate':
      return typeof m.subnet === 'string' && (m.ip === undefined || Number.isInteger(m.ip)) ? (m as IpamMessage) : undefined;
    case 'donate-reply':
    case 'rmpeer-reply':
      return typeof m.ok === 'boolean' && ringOk(m.ring) ? (m as IpamMessage) : undefined;
    case 'handover':
      return m.ring !== undefined && ringOk(m.ring) && (m.stats === undefined || isStats(m.stats)) ? (m as IpamMessage) : undefined;
    case 'handover-ack':
    case 'ring-read':
      return m as IpamMessage;
    case 'ring-read-reply':
      return m.ring !== undefined && ringOk(m.ring) ? (m as IpamMessage) : undefined;
    case 'rmpeer':
      return typeof m.target === 'string' &&
        (m.force === undefined || typeof m.force === 'boolean') &&
        (m.together === undefined || (Array.isArray(m.together) && m.together.length <= MAX_TOGETHER && m.together.every((p: unknown) => typeof p === 'string')))
        ? (m as IpamMessage)
        : undefined;
    default:
      return undefined;
  }
}
