import { describe, expect, it } from 'vitest';
import { alignedDelay, SimClock, SystemClock } from '../../../src/lib/clock.js';

describe('alignedDelay', () => {
  it('runs periodic work on multiples of the period, whatever the clock said when it was armed', () => {
    const clock = new SimClock();
    clock.advance(12_345);
    expect(alignedDelay(clock, 5_000)).toBe(2_655);
    clock.advance(2_655);
    expect(alignedDelay(clock, 5_000)).toBe(5_000);
  });

  it('does not run twice when a timer fires a little before the boundary', () => {
    const clock = new SimClock();
    clock.advance(4_999);
    expect(alignedDelay(clock, 5_000)).toBe(5_001);
  });

  it('the real clock counts from the Unix epoch, so hosts share the boundaries', () => {
    expect(Math.abs(new SystemClock().now() - Date.now())).toBeLessThan(1_000);
  });
});

describe('SimClock.advance with a stop condition', () => {
  it('stops between timers when asked, keeps the rest queued, and resumes in order', () => {
    const clock = new SimClock();
    const fired: number[] = [];
    for (let i = 0; i < 5_000; i++) clock.setTimeout(() => fired.push(i), i);
    let asked = 0;
    // Asked every 1,024 timers: the second time, it says stop.
    expect(clock.advance(10_000, () => ++asked >= 2)).toBe(false);
    expect(fired).toHaveLength(2_047);
    expect(clock.now()).toBe(2_046); // the last timer fired, not the end of the advance
    expect(clock.pending()).toBe(5_000 - 2_047);
    expect(clock.advance(10_000)).toBe(true);
    expect(fired).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
    expect(clock.now()).toBe(12_046);
  });
});
