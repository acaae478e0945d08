/**
 * This peer's allocations: which owner id holds which address. A bitset over
 * the whole range finds free addresses quickly (the range is at most a /8,
 * so at most 2 MiB), and two maps answer lookups both ways. A second bitset
 * marks addresses other peers hold in space this peer may own (claims after
 * an rmpeer of a live peer): they are not free either, but not ours.
 */
import type { Cidr } from '../lib/ipv4.js';

export const MAX_RANGE_PREFIX = 8;

export class Space {
  private readonly used: Uint32Array;
  private readonly reserved: Uint32Array;
  private readonly byOwner = new Map<string, number>();
  private readonly byAddr = new Map<number, string>();

  constructor(readonly range: Cidr) {
    if (range.prefix < MAX_RANGE_PREFIX) throw new Error(`the allocation range may be at most a /${MAX_RANGE_PREFIX}`);
    this.used = new Uint32Array(Math.ceil(range.size / 32));
    this.reserved = new Uint32Array(this.used.length);
  }

  /** Used or reserved bits of one word. */
  private taken(w: number): number {
    return this.used[w]! | this.reserved[w]!;
  }

  /** Mark (or unmark) an address another peer holds: never handed out or donated from here. */
  setReserved(addr: number, on: boolean): void {
    if (addr < this.range.start || addr >= this.range.start + this.range.size) return;
    const [w, m] = this.bit(addr);
    if (on) this.reserved[w]! |= m;
    else this.reserved[w]! &= ~m;
  }

  get size(): number {
    return this.byAddr.size;
  }

  private bit(addr: number): [number, number] {
    const i = addr - this.range.start;
    return [i >>> 5, 1 << (i & 31)];
  }

  isFree(addr: number): boolean {
    const [w, m] = this.bit(addr);
    return (this.taken(w) & m) === 0;
  }

  add(owner: string, addr: number): void {
    const [w, m] = this.bit(addr);
    this.used[w]! |= m;
    this.byOwner.set(owner, addr);
    this.byAddr.set(addr, owner);
  }

  removeOwner(owner: string): number | undefined {
    const addr = this.byOwner.get(owner);
    if (addr === undefined) return undefined;
    this.removeAddr(addr);
    return addr;
  }

  removeAddr(addr: number): string | undefined {
    const owner = this.byAddr.get(addr);
    if (owner === undefined) return undefined;
    const [w, m] = this.bit(addr);
    this.used[w]! &= ~m;
    this.byAddr.delete(addr);
    this.byOwner.delete(owner);
    return owner;
  }

  addressOf(owner: string): number | undefined {
    return this.byOwner.get(owner);
  }

  ownerOf(addr: number): string | undefined {
    return this.byAddr.get(addr);
  }

  entries(): IterableIterator<[string, number]> {
    return this.byOwner.entries();
  }

  /** The lowest free address in [start, end), or undefined. Skips full 32-address words. */
  firstFree(start: number, end: number): number | undefined {
    let a = start;
    while (a < end) {
      const i = a - this.range.start;
      const word = this.taken(i >>> 5);
      if (word === -1 && (i & 31) === 0) {
        a += 32;
        continue;
      }
      if ((word & (1 << (i & 31))) === 0) return a;
      a++;
    }
    return undefined;
  }

  /** Count used addresses in [start, end). */
  countUsed(start: number, end: number): number {
    let n = 0;
    for (const addr of this.byAddr.keys()) if (addr >= start && addr < end) n++;
    return n;
  }

  /** The longest run of free addresses in [start, end) (the first of equal ones), or undefined if none is free. */
  largestFreeRun(start: number, end: number): { start: number; end: number } | undefined {
    let best: { start: number; end: number } | undefined;
    let runStart = -1;
    let a = start;
    while (a < end) {
      const i = a - this.range.start;
      const word = this.taken(i >>> 5);
      // Whole words at once when aligned: all free extends the run, all used ends it.
      if ((i & 31) === 0 && a + 32 <= end && (word === 0 || word === -1)) {
        if (word === 0) {
          if (runStart < 0) runStart = a;
        } else if (runStart >= 0) {
          if (!best || a - runStart > best.end - best.start) best = { start: runStart, end: a };
          runStart = -1;
        }
        a += 32;
        continue;
      }
      if ((word & (1 << (i & 31))) === 0) {
        if (runStart < 0) runStart = a;
      } else if (runStart >= 0) {
        if (!best || a - runStart > best.end - best.start) best = { start: runStart, end: a };
        runStart = -1;
      }
      a++;
    }
    if (runStart >= 0 && (!best || end - runStart > best.end - best.start)) best = { start: runStart, end };
    return best;
  }
}
