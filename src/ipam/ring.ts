/**
 * The IPAM ring: the address range split into spans, each owned by one peer.
 * A token is the first address of a span; the span runs to the next token (or
 * the end of the range). Every token carries the owner and a version that only
 * the owner bumps, so replicas merge by "highest version wins" per token.
 *
 * Tokens are never deleted, and a peer only inserts tokens inside its own
 * spans. The ring is always gossiped whole, so any replica that knows a token
 * at some version also knows every token that existed when it was written;
 * that is what keeps two spans from ever overlapping.
 *
 * A ring has an id, fixed when it is seeded (a hash of the range and seeds).
 * Two rings with different ids were initialised separately and are never
 * merged: that is a split ring, reported to the user.
 */
import { createHash } from 'node:crypto';
import type { PeerName } from '../lib/peer-name.js';
import { formatCidr, type Cidr } from '../lib/ipv4.js';

export interface RingEntry {
  token: number;
  peer: PeerName;
  version: number;
}

/**
 * The wire and disk form, compact because the whole ring travels in every
 * ring gossip: peer names once, then flat triples per token (offset from the
 * previous token, index into peers, version). About 8 bytes per token
 * instead of 32.
 */
export interface RingWire {
  id: string;
  range: string;
  seeds: PeerName[];
  peers: PeerName[];
  e: number[];
}
export interface Span {
  start: number;
  end: number;
  peer: PeerName;
}

export type MergeOutcome =
  | { kind: 'unchanged' }
  | { kind: 'changed'; tokens: number[] }
  | { kind: 'split'; ours: string; theirs: string; theirSeeds: PeerName[] }
  | { kind: 'range-mismatch'; theirs: string };

export function ringId(range: Cidr, seeds: PeerName[]): string {
  return createHash('sha256')
    .update(`${formatCidr(range)}|${[...seeds].sort().join(',')}`)
    .digest('hex')
    .slice(0, 16);
}

export class Ring {
  private entries: RingEntry[] = [];
  /** Bumped on every change of `entries`: caches of derived views key on it. */
  private rev = 0;
  private spansOfCache?: { rev: number; peer: PeerName; spans: { start: number; end: number }[] };
  private _id?: string;
  private _seeds: PeerName[] = [];

  constructor(readonly range: Cidr) {}

  get id(): string | undefined {
    return this._id;
  }

  get seeds(): readonly PeerName[] {
    return this._seeds;
  }

  get initialised(): boolean {
    return this._id !== undefined;
  }

  get end(): number {
    return this.range.start + this.range.size;
  }

  /** Split the range evenly among the seeds (sorted, so every seed computes the same ring). */
  seed(seeds: PeerName[]): void {
    if (this.initialised) throw new Error('ring already initialised');
    const sorted = [...new Set(seeds)].sort();
    if (sorted.length === 0) throw new Error('cannot seed a ring with no peers');
    this._id = ringId(this.range, sorted);
    this._seeds = sorted;
    this.rev++;
    this.entries = sorted.map((peer, i) => ({
      token: this.range.start + Math.floor((i * this.range.size) / sorted.length),
      peer,
      version: 1,
    }));
  }

  all(): readonly RingEntry[] {
    return this.entries;
  }

  /** Index of the entry whose span holds addr, or -1 before seeding. */
  private indexOf(addr: number): number {
    let lo = 0;
    let hi = this.entries.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid]!.token <= addr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  ownerOf(addr: number): PeerName | undefined {
    if (addr < this.range.start || addr >= this.end) return undefined;
    const i = this.indexOf(addr);
    return i < 0 ? undefined : this.entries[i]!.peer;
  }

  spans(): Span[] {
    return this.entries.map((e, i) => ({ start: e.token, end: this.entries[i + 1]?.token ?? this.end, peer: e.peer }));
  }

  /** Spans of one peer, adjacent ones joined (a fresh copy: callers may keep it across ring changes). */
  spansOf(peer: PeerName): { start: number; end: number }[] {
    // Asked for on every gossip merge and allocation: computed once per ring revision.
    if (this.spansOfCache?.rev !== this.rev || this.spansOfCache.peer !== peer) this.spansOfCache = { rev: this.rev, peer, spans: this.computeSpansOf(peer) };
    return this.spansOfCache.spans.map((s) => ({ start: s.start, end: s.end }));
  }

  private computeSpansOf(peer: PeerName): { start: number; end: number }[] {
    const out: { start: number; end: number }[] = [];
    const n = this.entries.length;
    for (let i = 0; i < n; i++) {
      const e = this.entries[i]!;
      if (e.peer !== peer) continue;
      const end = i + 1 < n ? this.entries[i + 1]!.token : this.end;
      const last = out[out.length - 1];
      if (last && last.end === e.token) last.end = end;
      else out.push({ start: e.token, end });
    }
    return out;
  }

  /** How many addresses each peer owns. */
  ownership(): Map<PeerName, number> {
    const m = new Map<PeerName, number>();
    for (const s of this.spans()) m.set(s.peer, (m.get(s.peer) ?? 0) + s.end - s.start);
    return m;
  }

  /**
   * Give [at, end-of-its-span) to `to`. Only the current owner of `at` may call
   * this (or the rmpeer coordinator, on behalf of a dead owner). An existing
   * token is bumped; a new token starts at version 1.
   */
  setOwner(at: number, to: PeerName): void {
    const i = this.indexOf(at);
    if (i < 0) throw new Error('ring not initialised');
    const e = this.entries[i]!;
    if (e.token === at) {
      if (e.peer === to) return;
      this.rev++;
      this.entries[i] = { token: at, peer: to, version: e.version + 1 };
    } else {
      this.rev++;
      this.entries.splice(i + 1, 0, { token: at, peer: to, version: 1 });
    }
  }

  /** Hand [start, end) to `to`; the caller owns all of it. The address `end` stays with its owner. */
  transfer(start: number, end: number, to: PeerName): void {
    if (end < this.end) {
      const owner = this.ownerOf(end)!;
      this.setOwner(end, owner); // pin the boundary so the rest stays where it is
    }
    this.setOwner(start, to);
    // Any tokens strictly inside the block belong to the giver too: pass them on.
    for (const e of this.entries) if (e.token > start && e.token < end && e.peer !== to) this.setOwner(e.token, to);
  }

  /** Every token of `peer` given to `to` (hand-over on reset, rmpeer). Returns how many addresses moved. */
  transferAll(peer: PeerName, to: PeerName): number {
    let moved = 0;
    for (const s of this.spans()) {
      if (s.peer !== peer) continue;
      moved += s.end - s.start;
      this.setOwner(s.start, to);
    }
    return moved;
  }

  /**
   * Fold in another replica's ring. Highest version wins per token; equal
   * versions with different owners can only come from a bug or a lost disk,
   * and resolve to the larger peer name so every replica agrees.
   */
  merge(w: RingWire): MergeOutcome {
    if (w.range !== formatCidr(this.range)) return { kind: 'range-mismatch', theirs: w.range };
    if (this._id !== undefined && w.id !== this._id) return { kind: 'split', ours: this._id, theirs: w.id, theirSeeds: w.seeds };
    const theirs = decodeEntries(w, this.range.start).filter((e) => e.token < this.end);
    // Both lists are sorted by token: one linear merge pass.
    const merged: RingEntry[] = [];
    const changed: number[] = [];
    let i = 0;
    let j = 0;
    while (i < this.entries.length || j < theirs.length) {
      const a = this.entries[i];
      const b = theirs[j];
      if (b === undefined || (a !== undefined && a.token < b.token)) {
        merged.push(a!);
        i++;
      } else if (a === undefined || b.token < a.token) {
        merged.push(b);
        changed.push(b.token);
        j++;
      } else {
        if (b.version > a.version || (b.version === a.version && b.peer > a.peer)) {
          merged.push(b);
          changed.push(b.token);
        } else merged.push(a);
        i++;
        j++;
      }
    }
    if (this._id === undefined) {
      this._id = w.id;
      this._seeds = [...w.seeds];
    }
    if (changed.length === 0) return { kind: 'unchanged' };
    this.rev++;
    this.entries = merged;
    return { kind: 'changed', tokens: changed };
  }

  toWire(): RingWire {
    const index = new Map<PeerName, number>();
    const e: number[] = [];
    let prev = this.range.start;
    for (const x of this.entries) {
      let k = index.get(x.peer);
      if (k === undefined) index.set(x.peer, (k = index.size));
      e.push(x.token - prev, k, x.version);
      prev = x.token;
    }
    return { id: this._id ?? '', range: formatCidr(this.range), seeds: [...this._seeds], peers: [...index.keys()], e };
  }

  /** Validate untrusted input (gossip or disk) before merging it. */
  static parseWire(x: unknown): RingWire | undefined {
    const w = x as Partial<RingWire> | null;
    if (!w || typeof w !== 'object' || typeof w.id !== 'string' || w.id === '' || typeof w.range !== 'string') return undefined;
    if (!Array.isArray(w.seeds) || !w.seeds.every((s) => typeof s === 'string')) return undefined;
    if (!Array.isArray(w.peers) || !w.peers.every((s) => typeof s === 'string')) return undefined;
    if (!Array.isArray(w.e) || w.e.length % 3 !== 0) return undefined;
    let offset = 0;
    for (let i = 0; i < w.e.length; i += 3) {
      const [d, p, v] = [w.e[i], w.e[i + 1], w.e[i + 2]];
      // Tokens strictly increase (only the first may sit at the range start) and stay inside 32 bits.
      if (!Number.isInteger(d) || (d as number) < (i === 0 ? 0 : 1) || (offset += d as number) > 0xffffffff) return undefined;
      if (!Number.isInteger(p) || (p as number) < 0 || (p as number) >= w.peers.length) return undefined;
      if (!Number.isInteger(v) || (v as number) < 1) return undefined;
    }
    return w as RingWire;
  }
}

function decodeEntries(w: RingWire, rangeStart: number): RingEntry[] {
  const out: RingEntry[] = [];
  let token = rangeStart;
  for (let i = 0; i < w.e.length; i += 3) {
    token += w.e[i]!;
    out.push({ token, peer: w.peers[w.e[i + 1]!]!, version: w.e[i + 2]! });
  }
  return out;
}
