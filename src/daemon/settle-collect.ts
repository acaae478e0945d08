/**
 * One full garbage collection once the mesh has settled, 5 s after the last
 * change of membership or of gossiped state. Forming a mesh, or a join into
 * a large one, parses megabytes of gossip, and so do containers attached
 * across the cluster (each host merges every endpoint); an idle daemon then
 * allocates so little that the collector may not run for minutes, and the
 * garbage stays resident: at 50 hosts a daemon's JS heap was 23 MB 30 s
 * after the mesh formed and 6.8 MB after a collection.
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
 * function that stops it. A change only notes its time: a burst of thousands
 * (a mesh forming) costs one timer, re-armed when it fires early.
 */
export function collectAfterSettling(subscribe: (onChange: () => void) => () => void, clock: Clock, collect: (() => void) | undefined, quietMs = 5_000): () => void {
  if (!collect) return () => undefined;
  let timer: TimerHandle | undefined;
  let lastChange = 0;
  const fire = (): void => {
    const quietFor = clock.now() - lastChange;
    if (quietFor < quietMs) {
      timer = clock.setTimeout(fire, quietMs - quietFor);
      return;
    }
    timer = undefined;
    collect();
  };
  const unsubscribe = subscribe(() => {
    lastChange = clock.now();
    timer ??= clock.setTimeout(fire, quietMs);
  });
  return () => {
    clock.clearTimeout(timer);
    timer = undefined;
    unsubscribe();
  };
}
