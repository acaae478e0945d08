/**
 * Slows down an address whose inbound handshakes keep failing (a wrong
 * password, garbage, a dropped handshake): after a few free failures, new
 * connections from it are closed at once, before our hello, for a delay that
 * doubles with each further failure. So an online guesser gets one try per
 * delay, and the log gets one line per address per minute, not one per try.
 * Pure: time comes from the clock it is handed.
 */
export interface HandshakeLimits {
  /** Failures allowed before any delay (a restarting peer with a typo should see its error quickly). */
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** An address with no failure for this long starts afresh. */
  forgetAfterMs: number;
  /** At most one log line per address per this. */
  logEveryMs: number;
  /** Addresses remembered at most; the stalest is dropped first. */
  maxAddresses: number;
}

export const DEFAULT_HANDSHAKE_LIMITS: HandshakeLimits = {
  freeFailures: 3,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  forgetAfterMs: 10 * 60_000,
  logEveryMs: 60_000,
  maxAddresses: 10_000,
};

interface AddressRecord {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
  lastLogAt: number;
  /** Failures and refused connections since the last log line. */
  unloggedFailures: number;
  unloggedRefusals: number;
}

/** What to log about an address, when it is time to (else undefined). */
export interface LimiterLogLine {
  host: string;
  failures: number;
  failuresSinceLastLog: number;
  refusedSinceLastLog: number;
  blockedForMs: number;
}

export class HandshakeLimiter {
  private readonly byHost = new Map<string, AddressRecord>();

  constructor(
    private readonly clock: { now(): number },
    private readonly limits: HandshakeLimits = DEFAULT_HANDSHAKE_LIMITS,
  ) {}

  /** How long a new connection from `host` must wait (0: let it in). */
  blockedFor(host: string): number {
    const r = this.current(host);
    return r ? Math.max(0, r.blockedUntil - this.clock.now()) : 0;
  }

  /** A connection from `host` was closed unstarted because it is blocked. */
  refused(host: string): LimiterLogLine | undefined {
    const r = this.current(host);
    if (!r) return undefined;
    r.unloggedRefusals++;
    return this.logLine(host, r);
  }

  /** An inbound handshake from `host` failed. */
  failed(host: string): LimiterLogLine | undefined {
    const now = this.clock.now();
    const r = this.current(host) ?? this.create(host);
    r.failures++;
    r.unloggedFailures++;
    r.lastFailureAt = now;
    const over = r.failures - this.limits.freeFailures;
    if (over > 0) r.blockedUntil = now + Math.min(this.limits.maxDelayMs, this.limits.baseDelayMs * 2 ** Math.min(over - 1, 30));
    return this.logLine(host, r);
  }

  /** An inbound handshake from `host` succeeded: its record goes. */
  succeeded(host: string): void {
    this.byHost.delete(host);
  }

  get size(): number {
    return this.byHost.size;
  }

  private current(host: string): AddressRecord | undefined {
    const r = this.byHost.get(host);
    if (r && this.clock.now() - r.lastFailureAt >= this.limits.forgetAfterMs && this.clock.now() >= r.blockedUntil) {
      this.byHost.delete(host);
      return undefined;
    }
    return r;
  }

  private create(host: string): AddressRecord {
    if (this.byHost.size >= this.limits.maxAddresses) {
      // Map order is insertion order; re-inserted on every failure below, so the first is the stalest.
      this.byHost.delete(this.byHost.keys().next().value!);
    }
    const r: AddressRecord = { failures: 0, lastFailureAt: 0, blockedUntil: 0, lastLogAt: -Infinity, unloggedFailures: 0, unloggedRefusals: 0 };
    this.byHost.set(host, r);
    return r;
  }

  private logLine(host: string, r: AddressRecord): LimiterLogLine | undefined {
    // Keep the most recently active address last, for the eviction above.
    this.byHost.delete(host);
    this.byHost.set(host, r);
    const now = this.clock.now();
    if (now - r.lastLogAt < this.limits.logEveryMs) return undefined;
    const line: LimiterLogLine = {
      host,
      failures: r.failures,
      failuresSinceLastLog: r.unloggedFailures,
      refusedSinceLastLog: r.unloggedRefusals,
      blockedForMs: Math.max(0, r.blockedUntil - now),
    };
    r.lastLogAt = now;
    r.unloggedFailures = 0;
    r.unloggedRefusals = 0;
    return line;
  }
}
