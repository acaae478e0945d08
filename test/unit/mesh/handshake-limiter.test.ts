import { describe, expect, it } from 'vitest';
import { HandshakeLimiter } from '../../../src/mesh/handshake-limiter.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('handshake limiter', () => {
  const limits = { freeFailures: 2, baseDelayMs: 1_000, maxDelayMs: 8_000, forgetAfterMs: 60_000, logEveryMs: 60_000, maxAddresses: 3 };

  it('lets the free failures through, then doubles the delay up to the cap', () => {
    const c = clock();
    const l = new HandshakeLimiter(c, limits);
    l.failed('a');
    l.failed('a');
    expect(l.blockedFor('a')).toBe(0);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      l.failed('a');
      delays.push(l.blockedFor('a'));
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 8_000]);
    expect(l.blockedFor('b')).toBe(0); // per address
    c.advance(8_000);
    expect(l.blockedFor('a')).toBe(0);
  });

  it('logs an address at most once a minute, counting what it did not log', () => {
    const c = clock();
    const l = new HandshakeLimiter(c, { ...limits, forgetAfterMs: 600_000 });
    expect(l.failed('a')).toMatchObject({ host: 'a', failures: 1, failuresSinceLastLog: 1 });
    for (let i = 0; i < 10; i++) {
      expect(l.failed('a')).toBeUndefined();
      expect(l.refused('a')).toBeUndefined();
    }
    c.advance(60_000);
    expect(l.refused('a')).toMatchObject({ failures: 11, failuresSinceLastLog: 10, refusedSinceLastLog: 11 });
  });

  it('a success forgets the address; so does a quiet spell; memory is bounded', () => {
    const c = clock();
    const l = new HandshakeLimiter(c, limits);
    for (let i = 0; i < 4; i++) l.failed('a');
    l.succeeded('a');
    expect(l.blockedFor('a')).toBe(0);
    for (let i = 0; i < 4; i++) l.failed('b');
    c.advance(60_000);
    expect(l.blockedFor('b')).toBe(0);
    expect(l.refused('b')).toBeUndefined(); // forgotten, nothing to refuse
    for (const h of ['c', 'd', 'e', 'f']) l.failed(h);
    expect(l.size).toBe(3);
  });
});
