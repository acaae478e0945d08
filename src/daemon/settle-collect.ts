/**
 * One full garbage collection once the mesh has settled, 5 s after the last
 * change of membership. Forming a mesh, or a join into a large one, parses
 * megabytes of gossip; an idle daemon then allocates so little that the collector may not
 * run for minutes, and the garbage stays resident: at 50 hosts a daemon's JS
 * heap was 23 MB 30 s after the mesh formed and 6.8 MB after a collection.
 * Only where the runtime offers a collection (Bun; Node without --expose-gc
 * has none), and once per quiet period, not per change.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';

declare const Bun: { gc(force: boolean): void } | undefined;

/** The runtime's full collection, if it has one. */
export function runtimeCollector(): (() => void) | undefined {
  if (typeof Bun !== 'undefined') return () => Bun!.gc(true);
  const exposed = (globalThis as { gc?: () => void }).gc;
  return typeof exposed === 'function' ? exposed : undefined;
}

/**
 * Collect `quietMs` after the last of a burst of changes (`subscribe` hands
 * the callback to the event source and returns its unsubscribe). Returns a
 * function that stops it.
 */
export function collectAfterSettling(subscribe: (onChange: () => void) => () => void, clock: Clock, collect: (() => void) | undefined, quietMs = 5_000): () => void {
  if (!collect) return () => undefined;
  let timer: TimerHandle | undefined;
  const unsubscribe = subscribe(() => {
    clock.clearTimeout(timer);
    timer = clock.setTimeout(() => {
      timer = undefined;
      collect();
    }, quietMs);
  });
  return () => {
    clock.clearTimeout(timer);
    unsubscribe();
  };
}
