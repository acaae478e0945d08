/**
 * When to probe which peer's data path (path-probes.ts does the probing).
 * A path is probed when it may have changed, not on a short fixed interval:
 *  - a new peer, or a change in what its path depends on (its underlay address,
 *    bridge link-local address, MTU, WireGuard key and port: the "path key"),
 *    is probed after a short settle window, so a burst of gossip costs one probe;
 *  - a path that failed is probed again every retryMs until it passes;
 *  - every other path is refreshed every refreshMs, jittered by ±20 % per round
 *    so hosts do not probe in step. This refresh is what finds a path that
 *    died with nothing else changing (a firewall dropping VXLAN, say): such a
 *    path is reported within 1.2 × refreshMs plus the probe's own tries.
 * Peers due close together go in one round (coalesceMs early at most), so an
 * idle daemon wakes once per refresh for all its peers, not once per peer.
 * Pure: time is passed in, randomness injected.
 */
import type { PeerName } from '../lib/peer-name.js';
import type { Random } from '../lib/random.js';

export interface ProbeTimings {
  refreshMs: number;
  retryMs: number;
  settleMs: number;
  coalesceMs: number;
}

export const PROBE_TIMINGS: ProbeTimings = { refreshMs: 60_000, retryMs: 2_000, settleMs: 1_000, coalesceMs: 5_000 };

export class ProbeSchedule {
  /** When each peer's next probe is due; a peer being probed has none until its result is in. */
  private readonly due = new Map<PeerName, number>();
  private readonly keys = new Map<PeerName, string>();

  constructor(
    private readonly t: ProbeTimings,
    private readonly random: Random,
  ) {}

  /**
   * The paths as they are now (peer → path key, for the reachable peers that can be probed).
   * A new or changed key is due after the settle window; returns the peers no longer there.
   */
  update(now: number, paths: ReadonlyMap<PeerName, string>): PeerName[] {
    const gone = [...this.keys.keys()].filter((p) => !paths.has(p));
    for (const p of gone) {
      this.keys.delete(p);
      this.due.delete(p);
    }
    for (const [p, key] of paths) {
      if (this.keys.get(p) === key) continue;
      this.keys.set(p, key);
      this.due.set(p, Math.min(this.due.get(p) ?? Infinity, now + this.t.settleMs));
    }
    return gone;
  }

  /** Every path: due after the settle window (our own side of all paths changed). */
  all(now: number): void {
    for (const p of this.keys.keys()) this.due.set(p, Math.min(this.due.get(p) ?? Infinity, now + this.t.settleMs));
  }

  /** Whether the peer's path is one being probed (it is reachable and can be). */
  tracks(peer: PeerName): boolean {
    return this.keys.has(peer);
  }

  /** When the next round is due, if any path is waiting. */
  next(): number | undefined {
    let at: number | undefined;
    for (const d of this.due.values()) if (at === undefined || d < at) at = d;
    return at;
  }

  /** The peers to probe in a round starting now: those due, and those due within the coalescing window. */
  take(now: number): PeerName[] {
    const next = this.next();
    if (next === undefined || next > now) return [];
    const out = [...this.due].filter(([, d]) => d <= now + this.t.coalesceMs).map(([p]) => p);
    for (const p of out) this.due.delete(p);
    return out;
  }

  /**
   * A round's verdicts. Passed paths are refreshed together, one jitter for the round;
   * failed ones are retried soon. A peer whose path changed meanwhile keeps its settle probe.
   */
  done(now: number, verdicts: ReadonlyMap<PeerName, boolean>): void {
    const refresh = now + Math.round(this.t.refreshMs * (0.8 + 0.4 * this.random()));
    for (const [p, ok] of verdicts) {
      if (!this.keys.has(p) || this.due.has(p)) continue;
      this.due.set(p, ok ? refresh : now + this.t.retryMs);
    }
  }
}
