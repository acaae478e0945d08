/**
 * The data path check to every reachable peer: a full-MTU ICMPv6 echo over the overlay to
 * the peer's bridge link-local address (probe.ts, raw sockets: no process). When to probe
 * whom is probe-schedule.ts: when a path may have changed, again soon after a failure, and
 * otherwise a slow refresh. Verdicts go to `status connections` through the router, and to
 * the log when they flip.
 */
import { SystemClock, type Clock, type TimerHandle } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { PeerName } from '../lib/peer-name.js';
import type { Router } from '../mesh/router.js';
import type { EndpointTable } from './endpoints.js';
import { PathProber, type ProbeResult } from './probe.js';
import { PROBE_TIMINGS, ProbeSchedule, type ProbeTimings } from './probe-schedule.js';

export class PathProbes {
  private readonly prober: PathProber;
  private readonly results = new Map<PeerName, ProbeResult>();
  private readonly schedule: ProbeSchedule;
  private timer?: TimerHandle;
  private timerAt = Infinity;
  /** A round is under way: the next one is armed when it ends, never run beside it. */
  private running = false;
  private stopped = false;

  constructor(
    bridge: string,
    private readonly router: Router,
    private readonly table: EndpointTable,
    private readonly mtu: () => number,
    /** A peer's verdict is in, or gone (show it). */
    private readonly onResult: (peer: PeerName) => void,
    private readonly log: Logger,
    timings: Partial<ProbeTimings> = {},
    private readonly clock: Clock = new SystemClock(),
  ) {
    this.prober = new PathProber(bridge);
    this.schedule = new ProbeSchedule({ ...PROBE_TIMINGS, ...timings }, Math.random);
  }

  get(peer: PeerName): ProbeResult | undefined {
    return this.results.get(peer);
  }

  all(): ReadonlyMap<PeerName, ProbeResult> {
    return this.results;
  }

  /** Peers or their records changed: probe the paths that did (after a settle window). */
  pathsChanged(): void {
    if (this.stopped) return;
    const paths = new Map<PeerName, string>();
    for (const p of this.router.peers()) {
      if (!p.reachable || p.name === this.router.name) continue;
      const rec = this.table.get(p.name);
      if (rec?.linkLocal) paths.set(p.name, [rec.underlay, rec.linkLocal, Math.min(this.mtu(), rec.mtu), rec.wgKey ?? '', rec.wgPort ?? ''].join(' '));
    }
    for (const p of this.schedule.update(this.clock.now(), paths)) if (this.results.delete(p)) this.onResult(p);
    this.arm();
  }

  /** Our side of every path changed (start, or our devices were repaired): probe them all soon. */
  recheckAll(): void {
    if (this.stopped) return;
    this.pathsChanged();
    this.schedule.all(this.clock.now());
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.prober.close();
  }

  /** One timer, at the earliest due probe. */
  private arm(): void {
    const at = this.schedule.next();
    if (this.stopped || this.running || at === undefined || at >= this.timerAt) return;
    this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      void this.round();
    }, Math.ceil(at - this.clock.now()));
  }

  private async round(): Promise<void> {
    this.running = true;
    try {
      await this.probe(this.schedule.take(this.clock.now()));
    } finally {
      this.running = false;
    }
    this.arm();
  }

  private async probe(peers: PeerName[]): Promise<void> {
    const verdicts = new Map<PeerName, boolean>();
    await Promise.all(
      peers.map(async (name) => {
        const rec = this.table.get(name);
        if (!rec?.linkLocal) return;
        const r = await this.prober.probe(rec.linkLocal, Math.min(this.mtu(), rec.mtu));
        // Cut short by stop(): not a verdict on the path. A peer gone meanwhile has none either.
        if (this.stopped || !this.schedule.tracks(name)) return;
        verdicts.set(name, r.ok);
        const before = this.results.get(name);
        this.results.set(name, r);
        this.onResult(name);
        const nickname = () => this.router.peers().find((p) => p.name === name)?.nickname;
        if (!r.ok && (before?.ok ?? true)) this.log.warn('VXLAN data path check failed', { peer: name, nickname: nickname(), reason: r.reason });
        if (r.ok && before && !before.ok) this.log.info('VXLAN data path recovered', { peer: name, nickname: nickname() });
      }),
    );
    if (!this.stopped) this.schedule.done(this.clock.now(), verdicts);
  }
}
