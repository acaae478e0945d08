/**
 * The IPAM ring: the address range split into spans, each owned by one peer.
 * A token is the first address of a span; the span runs to the next token (or
 * the end of the range). Every token carries the owner and a version that only
 * the owner bumps, so replicas merge by "highest version wins" per token.
 *
 * Tokens are never deleted, and a peer only inserts tokens inside its own
 * spans. The range is cut into at most 256 fixed chunks, and the first
 * address of every chunk is a token from the seeding on, so no span ever
 * crosses a chunk boundary. Gossip then carries only the chunks that
 * changed, each one whole: any replica that knows a token at some version
 * also knows every token of its chunk that existed when it was written, as
 * if the whole ring had been sent, and that is what keeps two spans from
 * ever overlapping. (A ring seeded without those tokens, by an older
 * version, is gossiped whole.) Replies, hand-overs and new connections
 * carry the whole ring; anti-entropy compares a hash per chunk and sends the
 * chunks that differ, each whole (see digest.ts).
 *
 * A ring has an id, fixed when it is seeded (a hash of the range and seeds).
 * Two rings with different ids were initialised separately and are never
 * merged: that is a split ring, reported to the user.
 */
import { createHash } from 'node:crypto';
import type { PeerName } from '../lib/peer-name.js';
import { formatCidr, type Cidr } from '../lib/ipv4.js';
import { hash64, hashText } from '../mesh/record-versions.js';

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
  /** Some chunks only (each one whole): never adopted as a whole ring, never stored. */
  partial?: true;
}
export interface Span {
  start: number;
  end: number;
  peer: PeerName;
}

/**
 * What anti-entropy by digest compares (see digest.ts): a 64-bit hash of each
 * chunk's tokens, owners and versions (8 bytes per chunk, in address order),
 * and one hash of the whole ring. Two replicas with the same id whose chunk
 * hashes differ only in some chunks need only those chunks, each whole (the
 * unit deltas travel in), to agree.
 */
export interface RingDigest {
  id: string;
  chunks: Buffer;
  /** Whether this ring takes chunks (else whole rings only: seeded by an older version). */
  takesChunks: boolean;
  hash: string;
}

export type MergeOutcome =
  | { kind: 'unchanged' }
  /** owners: every peer whose spans the merge changed (gained or lost addresses). */
  | { kind: 'changed'; tokens: number[]; owners: Set<PeerName> }
  | { kind: 'split'; ours: string; theirs: string; theirSeeds: PeerName[] }
  | { kind: 'range-mismatch'; theirs: string };

/** A delta holds at most 1/256 of the range per chunk it carries; chunks are never smaller than 64 addresses. */
const MAX_CHUNKS = 256;
const MIN_CHUNK = 64;

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
  private wireCache?: { rev: number; wire: RingWire };
  private spansCache?: { rev: number; spans: readonly Span[] };
  /** Tokens changed since the last takeDelta(). */
  private dirty = new Set<number>();
  /** Size of the fixed chunks whose first addresses are always tokens (a power of two). */
  private readonly chunkSize: number;
  private chunkedCache?: { rev: number; chunked: boolean };
  private digestCache?: { rev: number; digest: RingDigest };
  private _id?: string;
  private _seeds: PeerName[] = [];

  constructor(readonly range: Cidr) {
    this.chunkSize = Math.max(MIN_CHUNK, Math.floor(range.size / MAX_CHUNKS));
  }

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
    const even = sorted.map((peer, i) => ({ token: this.range.start + Math.floor((i * this.range.size) / sorted.length), peer }));
    // Every chunk starts with a token, owned as the even split says.
    const tokens = new Map<number, PeerName>();
    let k = 0;
    for (let at = this.range.start; at < this.end; at += this.chunkSize) {
      while (k + 1 < even.length && even[k + 1]!.token <= at) k++;
      tokens.set(at, even[k]!.peer);
    }
    for (const e of even) tokens.set(e.token, e.peer);
    this.entries = [...tokens].sort((a, b) => a[0] - b[0]).map(([token, peer]) => ({ token, peer, version: 1 }));
    for (const e of this.entries) this.dirty.add(e.token);
  }

  /** Whether every chunk starts with a token (a ring seeded by this version): then deltas may carry chunks only. */
  private chunked(): boolean {
    if (this.chunkedCache?.rev !== this.rev) {
      let ok = this.initialised;
      for (let at = this.range.start; ok && at < this.end; at += this.chunkSize) ok = this.entries[this.indexOf(at)]?.token === at;
      this.chunkedCache = { rev: this.rev, chunked: ok };
    }
    return this.chunkedCache.chunked;
  }

  private chunkOf(addr: number): number {
    return Math.floor((addr - this.range.start) / this.chunkSize);
  }

  /** How many fixed chunks the range is cut into. */
  get chunkCount(): number {
    return Math.ceil(this.range.size / this.chunkSize);
  }

  /** This ring's digest (computed once per revision), or undefined before seeding. */
  digest(): RingDigest | undefined {
    if (!this.initialised) return undefined;
    if (this.digestCache?.rev !== this.rev) {
      const text: string[] = new Array<string>(this.chunkCount).fill('');
      for (const e of this.entries) text[this.chunkOf(e.token)] += `${e.token}:${e.peer}:${e.version};`;
      const chunks = Buffer.alloc(this.chunkCount * 8);
      text.forEach((t, c) => {
        const [a, b] = hash64(t);
        chunks.writeUInt32BE(a, c * 8);
        chunks.writeUInt32BE(b, c * 8 + 4);
      });
      const hash = hashText(`${this._id}|${this._seeds.join(',')}|${chunks.toString('base64')}`);
      this.digestCache = { rev: this.rev, digest: { id: this._id!, chunks, takesChunks: this.chunked(), hash } };
    }
    return this.digestCache.digest;
  }

  /**
   * What a replica of this ring (same id) with these chunk hashes lacks: the
   * chunks that differ, each whole, as a delta; the whole ring when that is
   * everything, when either ring takes whole rings only, or undefined when no
   * chunk differs. Merging it gives the replica what merging our whole ring
   * would: chunks whose hashes agree hold the same tokens.
   */
  chunksDifferingFrom(theirs: Buffer, theyTakeChunks: boolean): RingWire | undefined {
    const mine = this.digest()?.chunks;
    if (!mine || theirs.length !== mine.length) throw new Error('chunk hashes of another ring');
    const differ = new Set<number>();
    for (let c = 0; c < this.chunkCount; c++) if (mine.compare(theirs, c * 8, c * 8 + 8, c * 8, c * 8 + 8) !== 0) differ.add(c);
    if (differ.size === 0) return undefined;
    return theyTakeChunks ? this.chunksWire(differ) : this.toWire();
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

  /** Every span in order (shared until the next change: do not modify it). */
  spans(): readonly Span[] {
    if (this.spansCache?.rev !== this.rev) this.spansCache = { rev: this.rev, spans: this.entries.map((e, i) => ({ start: e.token, end: this.entries[i + 1]?.token ?? this.end, peer: e.peer })) };
    return this.spansCache.spans;
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
    this.dirty.add(at);
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
    // A delta holds some chunks only: a peer without a (chunked) ring waits for a whole one (its connections bring it).
    if (w.partial && !this.chunked()) return { kind: 'unchanged' };
    const theirs = decodeEntries(w, this.range.start).filter((e) => e.token < this.end);
    const wins = (b: RingEntry, a: RingEntry) => b.version > a.version || (b.version === a.version && b.peer > a.peer);
    const changed: number[] = [];
    const owners = new Set<PeerName>();
    if (theirs.length * 2 >= this.entries.length) {
      // A whole ring (or most of one): one linear merge pass of two sorted lists.
      const merged: RingEntry[] = [];
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
          owners.add(b.peer);
          const before = this.entries[i - 1]?.peer; // whose span the new token cuts
          if (before !== undefined) owners.add(before);
          j++;
        } else {
          if (wins(b, a)) {
            merged.push(b);
            changed.push(b.token);
            owners.add(b.peer).add(a.peer);
          } else merged.push(a);
          i++;
          j++;
        }
      }
      if (changed.length) this.entries = merged;
    } else {
      // A delta (a few chunks): each token found by binary search, bumped in place or inserted.
      for (const b of theirs) {
        const i = this.indexOf(b.token);
        const a = i < 0 ? undefined : this.entries[i]!;
        if (a?.token !== b.token) this.entries.splice(i + 1, 0, b);
        else if (!wins(b, a)) continue;
        else this.entries[i] = b;
        changed.push(b.token);
        owners.add(b.peer);
        if (a) owners.add(a.peer); // the replaced owner, or the one whose span the new token cuts
      }
    }
    if (this._id === undefined) {
      this._id = w.id;
      this._seeds = [...w.seeds];
    }
    if (changed.length === 0) return { kind: 'unchanged' };
    this.rev++;
    for (const t of changed) this.dirty.add(t);
    return { kind: 'changed', tokens: changed, owners };
  }

  /**
   * Every chunk with a token changed since the last call, whole (see the
   * header), or undefined when nothing changed. The whole ring when that is
   * everything, or when the ring is not chunked.
   */
  takeDelta(): RingWire | undefined {
    if (this.dirty.size === 0 || !this.initialised) return undefined;
    const chunks = new Set<number>();
    for (const token of this.dirty) chunks.add(this.chunkOf(token));
    this.dirty.clear();
    return this.chunksWire(chunks);
  }

  /** The chunks holding [start, end] (end included: a transfer pins it), for a reply that moved that block. */
  deltaOf(start: number, end: number): RingWire {
    const chunks = new Set<number>();
    for (let c = this.chunkOf(start); c <= this.chunkOf(Math.min(end, this.end - 1)); c++) chunks.add(c);
    return this.chunksWire(chunks);
  }

  /** These chunks, each whole; the whole ring when that is everything or when the ring is not chunked. */
  private chunksWire(chunks: Set<number>): RingWire {
    if (!this.chunked() || chunks.size * this.chunkSize >= this.range.size) return this.toWire();
    const picked: RingEntry[] = [];
    for (const c of [...chunks].sort((a, b) => a - b)) {
      const start = this.range.start + c * this.chunkSize;
      // Every chunk starts with a token (chunked), so the chunk is entries[indexOf(start)..] up to the next chunk.
      for (let i = this.indexOf(start); i < this.entries.length && this.entries[i]!.token < start + this.chunkSize; i++) picked.push(this.entries[i]!);
    }
    return { ...this.encode(picked), partial: true };
  }

  /** The whole ring (a fresh object per ring revision, shared by every caller until the next change: do not modify it). */
  toWire(): RingWire {
    if (this.wireCache?.rev !== this.rev) this.wireCache = { rev: this.rev, wire: this.encode(this.entries) };
    return this.wireCache.wire;
  }

  private encode(entries: readonly RingEntry[]): RingWire {
    const index = new Map<PeerName, number>();
    const e: number[] = [];
    let prev = this.range.start;
    for (const x of entries) {
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
    if (w.partial !== undefined && w.partial !== true) return undefined;
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
