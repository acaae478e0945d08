import { describe, expect, it } from 'vitest';
import { Space } from '../../../src/ipam/space.js';
import { ipToInt, parseNetwork } from '../../../src/lib/ipv4.js';

const RANGE = parseNetwork('10.32.0.0/24');
const at = (n: number) => RANGE.start + n;

describe('Space', () => {
  it('tracks owners and addresses both ways', () => {
    const s = new Space(RANGE);
    s.add('c1', at(5));
    expect(s.addressOf('c1')).toBe(at(5));
    expect(s.ownerOf(at(5))).toBe('c1');
    expect(s.isFree(at(5))).toBe(false);
    expect(s.size).toBe(1);
    expect(s.removeOwner('c1')).toBe(at(5));
    expect(s.isFree(at(5))).toBe(true);
    expect(s.removeOwner('c1')).toBeUndefined();
    expect(s.size).toBe(0);
  });

  it('finds the first free address, skipping full words', () => {
    const s = new Space(RANGE);
    for (let i = 0; i < 70; i++) s.add(`o${i}`, at(i));
    expect(s.firstFree(at(0), at(256))).toBe(at(70));
    expect(s.firstFree(at(10), at(70))).toBeUndefined();
    s.removeAddr(at(33));
    expect(s.firstFree(at(0), at(256))).toBe(at(33));
    expect(s.countUsed(at(0), at(64))).toBe(63);
  });

  it('finds the largest free run, across whole free words and single holes', () => {
    const s = new Space(RANGE);
    expect(s.largestFreeRun(at(0), at(256))).toEqual({ start: at(0), end: at(256) });
    for (let i = 0; i < 256; i++) if (i !== 7 && !(i >= 100 && i < 140)) s.add(`o${i}`, at(i));
    expect(s.largestFreeRun(at(0), at(256))).toEqual({ start: at(100), end: at(140) });
    expect(s.largestFreeRun(at(0), at(50))).toEqual({ start: at(7), end: at(8) });
    expect(s.largestFreeRun(at(110), at(120))).toEqual({ start: at(110), end: at(120) });
    s.add('x', at(7));
    expect(s.largestFreeRun(at(0), at(100))).toBeUndefined();
  });

  it('refuses ranges larger than a /8', () => {
    expect(() => new Space(parseNetwork('10.0.0.0/7'))).toThrow(/at most a \/8/);
    expect(new Space(parseNetwork('10.0.0.0/8')).firstFree(ipToInt('10.0.0.0'), ipToInt('10.0.0.9'))).toBe(ipToInt('10.0.0.0'));
  });
});
