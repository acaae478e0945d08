/**
 * The data path check to every reachable peer: a full-MTU ICMPv6 echo over the overlay to
 * the peer's bridge link-local address (probe.ts, raw sockets: no process), every 10 s, 2 s
 * after a failure, and soon after peers or their records change. Verdicts go to
 * `status connections` through the router, and to the log when they flip.
 */
import type { Logger } from '../lib/logger.js';
import type { PeerName } from '../lib/peer-name.js';
import type { Router } from '../mesh/router.js';
import type { EndpointTable } from './endpoints.js';
import { PathProber, type ProbeResult } from './probe.js';

const PROBE_EVERY_MS = 10_000;
const PROBE_RETRY_MS = 2_000;

export class PathProbes {
  private readonly prober: PathProber;
  private readonly results = new Map<PeerName, ProbeResult>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** A round is under way; a change meanwhile asks for one more after it, never a second round beside it. */
  private running = false;
  private again = false;

  constructor(
    bridge: string,
    private readonly router: Router,
    private readonly table: EndpointTable,
    private readonly mtu: () => number,
    /** A peer's verdict is in (show it). */
    private readonly onResult: (peer: PeerName) => void,
    private readonly log: Logger,
  ) {
    this.prober = new PathProber(bridge);
  }

  get(peer: PeerName): ProbeResult | undefined {
    return this.results.get(peer);
  }

  all(): ReadonlyMap<PeerName, ProbeResult> {
    return this.results;
  }

  /** Probe every peer in a second (peers or records changed). */
  soon(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(1_000);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.probeAll(), ms);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.prober.close();
  }

  private async probeAll(): Promise<void> {
    this.running = true;
    this.again = false;
    try {
      await this.probeRound();
    } finally {
      this.running = false;
    }
  }

  private async probeRound(): Promise<void> {
    const peers = this.router.peers().filter((p) => p.reachable && p.name !== this.router.name);
    await Promise.all(
      peers.map(async (p) => {
        const rec = this.table.get(p.name);
        if (!rec?.linkLocal) return;
        const r = await this.prober.probe(rec.linkLocal, Math.min(this.mtu(), rec.mtu));
        if (this.stopped) return; // cut short by stop(): not a verdict on the path
        const before = this.results.get(p.name);
        this.results.set(p.name, r);
        this.onResult(p.name);
        if (!r.ok && (before?.ok ?? true)) this.log.warn('VXLAN data path check failed', { peer: p.name, nickname: p.nickname, reason: r.reason });
        if (r.ok && before && !before.ok) this.log.info('VXLAN data path recovered', { peer: p.name, nickname: p.nickname });
      }),
    );
    for (const name of [...this.results.keys()]) if (!peers.some((p) => p.name === name)) this.results.delete(name);
    if (this.stopped) return;
    // A failing path (or one whose peer has not published its endpoint yet) is checked again soon.
    const pending = peers.some((p) => !this.results.get(p.name)?.ok);
    this.schedule(this.again ? 1_000 : pending ? PROBE_RETRY_MS : PROBE_EVERY_MS);
  }
}
