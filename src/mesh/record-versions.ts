/**
 * The versions of a channel's records, for anti-entropy by digest. Fits any
 * channel whose state is one versioned record per key that only grows by
 * "higher version wins" (topology; the data plane's endpoint records and
 * IPAM's per-peer stats have the same shape).
 *
 * Two levels, so that a settled mesh exchanges almost nothing:
 *  - hash(): an order-independent 64-bit hash of every (key, version, tag),
 *    kept up to date on each change (XOR of per-record hashes), so comparing
 *    whole states costs one short string;
 *  - versions()/compare(): only when hashes differ, the version list goes
 *    across and each side sends just the records the other lacks.
 * `tag` breaks version ties the way the channel does (topology: the uid).
 */
import type { ChannelDigest } from './gossip-channel.js';
import { ProtocolError } from './protocol.js';

export type VersionEntry = [key: string, version: number, tag: string];

/** Two independent 32-bit FNV-1a style hashes of a string (64 bits together). */
export function hash64(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [a >>> 0, b >>> 0];
}

/** A 64-bit hash as a short string (at most 15 characters). */
export function hashText(s: string): string {
  const [a, b] = hash64(s);
  return `${a.toString(36)}.${b.toString(36)}`;
}

/** JSON with every object's keys sorted: the same text for equal records, whatever order their fields came in. */
function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(',')}]`;
  if (x && typeof x === 'object')
    return `{${Object.keys(x)
      .filter((k) => (x as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((x as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(x) ?? 'null';
}

/**
 * A tag from a record's whole content, for channels whose records have no
 * natural tie-breaker: two replicas holding different records at one version
 * then hash apart, and both break the tie alike (the larger tag wins).
 */
export function contentTag(record: unknown): string {
  return hashText(canonicalJson(record));
}

export class RecordVersions {
  private readonly entries = new Map<string, { version: number; tag: string }>();
  private h1 = 0;
  private h2 = 0;

  private toggle(key: string, version: number, tag: string): void {
    const [a, b] = hash64(`${key}|${version}|${tag}`);
    this.h1 = (this.h1 ^ a) >>> 0;
    this.h2 = (this.h2 ^ b) >>> 0;
  }

  set(key: string, version: number, tag: string): void {
    this.delete(key);
    this.entries.set(key, { version, tag });
    this.toggle(key, version, tag);
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.toggle(key, e.version, e.tag);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Equal hashes mean (up to a 2^-64 accident) equal sets of record versions. */
  hash(): string {
    return `${this.entries.size.toString(36)}.${this.h1.toString(36)}.${this.h2.toString(36)}`;
  }

  versions(): VersionEntry[] {
    return [...this.entries].map(([k, e]) => [k, e.version, e.tag]);
  }

  /**
   * Compare a peer's versions with ours: the keys whose record we should send
   * it (it lacks them or holds an older one), and whether it holds something
   * we lack or hold older.
   */
  compare(theirs: VersionEntry[]): { theyLack: string[]; weLack: boolean } {
    const seen = new Set<string>();
    const theyLack: string[] = [];
    let weLack = false;
    for (const [key, version, tag] of theirs) {
      seen.add(key);
      const mine = this.entries.get(key);
      if (!mine) {
        weLack = true;
        continue;
      }
      const order = mine.version !== version ? mine.version - version : mine.tag === tag ? 0 : mine.tag > tag ? 1 : -1;
      if (order > 0) theyLack.push(key);
      else if (order < 0) weLack = true;
    }
    for (const key of this.entries.keys()) if (!seen.has(key)) theyLack.push(key);
    return { theyLack, weLack };
  }
}

/**
 * A channel's digest over its RecordVersions: `payloadFor(keys)` is the
 * merge() payload carrying the records of those keys (what the other side
 * lacks or holds older).
 */
export function recordDigest(versions: RecordVersions, payloadFor: (keys: string[]) => unknown, what: string): ChannelDigest {
  return {
    hash: () => versions.hash(),
    versions: () => versions.versions(),
    compare: (theirs) => {
      const v = parseVersions(theirs);
      if (!v) throw new ProtocolError(`malformed ${what} versions`);
      const { theyLack, weLack } = versions.compare(v);
      return { send: theyLack.length ? payloadFor(theyLack) : undefined, weLack };
    },
  };
}

/** Validate a version list from the wire; undefined when malformed. */
export function parseVersions(x: unknown, maxEntries = 100_000): VersionEntry[] | undefined {
  if (!Array.isArray(x) || x.length > maxEntries) return undefined;
  for (const e of x) {
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'string' || e[0].length > 64) return undefined;
    if (typeof e[1] !== 'number' || !Number.isFinite(e[1]) || typeof e[2] !== 'string' || e[2].length > 64) return undefined;
  }
  return x as VersionEntry[];
}
