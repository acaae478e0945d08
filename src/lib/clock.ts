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

  /** Milliseconds since the Unix epoch as at this process's start, plus monotonic time since: hosts' clocks agree on it as far as NTP does (see alignedDelay). */
  now(): number {
    return performance.timeOrigin + performance.now();
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
 * How long until the next multiple of `periodMs` on `clock`: periodic work
 * aligned this way runs at the same moments on every host (their clocks
 * agree to within milliseconds), so what the hosts send each other then
 * arrives while the receiver is awake for its own run, the way the kernel
 * rounds periodic timers to whole jiffies to save wakeups. Never less than a
 * tenth of the period, so a timer that fires a little early does not run twice.
 */
export function alignedDelay(clock: Clock, periodMs: number): number {
  const d = periodMs - (clock.now() % periodMs);
  return d < periodMs / 10 ? d + periodMs : d;
}

/**
 * A deterministic clock for simulations: time moves only when the test calls
 * advance(), and timers fire in (time, insertion) order. A binary heap keeps
 * it fast with tens of thousands of pending timers (hundreds of peers).
 */
export class SimClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly heap: { at: number; seq: number; fn: () => void }[] = [];
  private readonly cancelled = new Set<number>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.push({ at: this.time + Math.max(0, ms), seq: id, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.cancelled.add(handle.id);
  }

  /** Number of timers still waiting to fire. */
  pending(): number {
    return this.heap.length - this.cancelled.size;
  }

  /**
   * Fire every timer due up to now + ms, in order; timers they create also fire if due.
   * `stop`, asked every 1,024 timers, ends the advance early (one step of a huge simulation
   * can hold minutes of work): the time is then that of the last timer fired, the rest stay
   * queued, and the result is false.
   */
  advance(ms: number, stop?: () => boolean): boolean {
    const until = this.time + ms;
    let fired = 0;
    while (this.heap.length && this.heap[0]!.at <= until) {
      if (stop && (++fired & 1023) === 0 && stop()) return false;
      const e = this.pop();
      if (this.cancelled.delete(e.seq)) continue;
      this.time = e.at;
      e.fn();
    }
    this.time = until;
    return true;
  }

  private less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(e: { at: number; seq: number; fn: () => void }): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): { at: number; seq: number; fn: () => void } {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
