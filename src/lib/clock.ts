/**
 * Time and timers, injected so that pure cores can run against a simulated
 * clock in tests and against the real one in the daemon.
 */
export type TimerHandle = { readonly id: number };

export interface Clock {
  /** Milliseconds since an arbitrary epoch; monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The real clock, backed by Node timers. Timers do not keep the process alive. */
export class SystemClock implements Clock {
  private next = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();

  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, Math.max(0, ms));
    t.unref();
    this.timers.set(id, t);
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t) clearTimeout(t);
    this.timers.delete(handle.id);
  }
}

/**
 * A deterministic clock for simulations: time moves only when the test calls
 * advance()/runUntil(), and timers fire in (time, insertion) order.
 */
export class SimClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly queue: { at: number; seq: number; id: number; fn: () => void }[] = [];
  private readonly cancelled = new Set<number>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.queue.push({ at: this.time + Math.max(0, ms), seq: id, id, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.cancelled.add(handle.id);
  }

  /** Number of timers still waiting to fire. */
  pending(): number {
    return this.queue.length - this.cancelled.size;
  }

  /** Fire every timer due up to now + ms, in order; timers they create also fire if due. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const next = this.popNext(until);
      if (!next) break;
      this.time = next.at;
      next.fn();
    }
    this.time = until;
  }

  private popNext(until: number): { at: number; fn: () => void } | undefined {
    let best = -1;
    for (let i = 0; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (e.at > until) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      const b = this.queue[best]!;
      if (e.at < b.at || (e.at === b.at && e.seq < b.seq)) best = i;
    }
    if (best < 0) return undefined;
    const [e] = this.queue.splice(best, 1);
    if (this.cancelled.delete(e!.id)) return this.popNext(until);
    return e;
  }
}
