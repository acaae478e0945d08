import { describe, expect, it } from 'vitest';
import { SimClock } from '../../../src/lib/clock.js';
import { collectAfterSettling } from '../../../src/daemon/settle-collect.js';

function source() {
  const listeners = new Set<() => void>();
  return {
    subscribe: (cb: () => void) => {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    change: () => listeners.forEach((cb) => cb()),
    get size() {
      return listeners.size;
    },
  };
}

describe('a collection once the mesh has settled', () => {
  it('collects once, quietMs after the last change of a burst, and not while nothing changes', async () => {
    const clock = new SimClock();
    const src = source();
    let collections = 0;
    collectAfterSettling(src.subscribe, clock, () => collections++, 10_000);
    clock.advance(60_000);
    expect(collections).toBe(0);
    for (let i = 0; i < 5; i++) {
      src.change();
      clock.advance(3_000);
    }
    expect(collections).toBe(0); // still changing
    clock.advance(7_000);
    expect(collections).toBe(1);
    clock.advance(60_000);
    expect(collections).toBe(1);
  });

  it('a burst of thousands of changes costs one timer, not one per change', () => {
    const clock = new SimClock();
    const src = source();
    let armed = 0;
    const setTimeout = clock.setTimeout.bind(clock);
    clock.setTimeout = (fn, ms) => (armed++, setTimeout(fn, ms));
    let collections = 0;
    collectAfterSettling(src.subscribe, clock, () => collections++, 5_000);
    for (let i = 0; i < 5_000; i++) {
      src.change();
      clock.advance(1);
    }
    clock.advance(5_000);
    expect(collections).toBe(1);
    expect(armed).toBeLessThanOrEqual(2);
  });

  it('stops: no collection pending, no listener left; without a collector it does nothing', () => {
    const clock = new SimClock();
    const src = source();
    let collections = 0;
    const stop = collectAfterSettling(src.subscribe, clock, () => collections++, 10_000);
    src.change();
    stop();
    clock.advance(20_000);
    expect(collections).toBe(0);
    expect(src.size).toBe(0);
    collectAfterSettling(src.subscribe, clock, undefined)();
    expect(src.size).toBe(0);
  });
});
