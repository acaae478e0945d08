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
