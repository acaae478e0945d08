/**
 * The isolation of the container ports the port table (ports.ts) hands it, in both
 * layers that enforce it: the nftables table (isolation.ts writes the rules) and each
 * port's tc filter (port-filter.ts). Rule changes run one at a time: a new port's rules
 * are appended in place, a removed port's rules are swept by one rebuild once removals
 * quiet down, and a table found changed is rebuilt whole. A port's filter goes on with
 * its veth, from its port plan (filterFor(): the plugin's attach code installs it, for a
 * CNI ADD and for `overlay attach` alike); the safety pass and tc events put back filters someone removed, on plugged
 * ports only (a port the plugin is still making has no filter yet, by design).
 */
import type { Logger } from '../lib/logger.js';
import { appendPortRules, applyIsolation, isolationIntact, isolationIntactIn, type IsolatedPort } from './isolation.js';
import type { NftRule } from '../sys/nft.js';
import { ensurePortFilters, portFilterPrograms, type PortFilterContext, type PortFilterPrograms } from './port-filter.js';

/** How long after the last removal the rules of removed ports are swept (one rebuild for a burst of DELs). */
const STALE_RULES_SWEEP_MS = 2_000;

export class IsolatedPorts {
  private readonly ports = new Map<string, IsolatedPort>();
  /** Whether the table in the kernel was last written from `ports` (else the next check rebuilds it). */
  private applied = false;
  private chain: Promise<void> = Promise.resolve();
  /** Rules still in the table for ports already removed (swept by the next rebuild). */
  private readonly stale = new Map<string, IsolatedPort>();
  private sweepTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly log: Logger,
    /** This host's bridge MAC and the whole overlay range (the host's own traffic from another overlay subnet is refused). */
    private readonly ctx: PortFilterContext,
    /** Called with what was restored when the table had been changed behind our back. */
    private readonly onRepair: (what: string) => void,
  ) {}

  get size(): number {
    return this.ports.size;
  }

  has(hostVeth: string): boolean {
    return this.ports.has(hostVeth);
  }

  list(): IsolatedPort[] {
    return [...this.ports.values()];
  }

  /** The filter programs of a port, for its port plan (the plugin installs them over netlink). */
  filterFor(p: IsolatedPort): PortFilterPrograms {
    return portFilterPrograms(p, this.ctx, 'netlink');
  }

  /** Ports known before the table was checked (a restart): no rules are written until the first check. */
  load(ports: IsolatedPort[]): void {
    for (const p of ports) this.ports.set(p.hostVeth, p);
  }

  /**
   * Put a port under isolation. Its rules follow in turn: a new port's are appended
   * (~5 ms), a changed one's need a rebuild (~15 ms). The promise settles when they are
   * in; if they fail, the table is marked stale and the next check rebuilds it.
   */
  register(p: IsolatedPort): Promise<void> {
    const append = !this.ports.has(p.hostVeth) && !this.stale.has(p.hostVeth);
    this.ports.set(p.hostVeth, p);
    const rules = this.inTurn(async () => {
      // After the caller has answered: starting `nft` holds the event loop for milliseconds.
      await new Promise((resolve) => setImmediate(resolve));
      if (!append || !this.applied) return this.rebuild();
      await appendPortRules(p, this.ctx.range).catch(() => this.rebuild());
    });
    rules.catch(() => undefined); // the caller may not wait for them
    return rules;
  }

  /** Rules of a port whose veth is gone match nothing: they wait for one sweep instead of a rebuild per DEL. */
  unregister(hostVeth: string): void {
    const p = this.ports.get(hostVeth);
    if (!p) return;
    this.ports.delete(hostVeth);
    this.stale.set(hostVeth, p);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      if (!this.stopped) void this.inTurn(() => this.rebuild()).catch((e: unknown) => this.log.warn('cannot rebuild isolation rules', { error: String(e) }));
    }, STALE_RULES_SWEEP_MS);
    this.sweepTimer.unref();
  }

  /**
   * The safety pass: rebuild a table someone changed (`tableRules` are the table's rules
   * as the pass read them, undefined if it was gone), and put back the filters of
   * `plugged` ports someone removed.
   */
  async reconcile(tableRules: NftRule[] | undefined, plugged: IsolatedPort[], initial: boolean): Promise<void> {
    if (!this.applied || !isolationIntactIn(tableRules, [...this.ports.values(), ...this.stale.values()], this.ctx.range)) {
      const wasApplied = this.applied;
      await this.inTurn(() => this.rebuild());
      if (wasApplied && !initial) this.onRepair('isolation rules were changed or flushed; restored');
    }
    await this.ensureFilters(plugged, initial);
  }

  /** Put back the filters of these (plugged) ports where they are missing: one `tc` batch to look. */
  async ensureFilters(plugged: IsolatedPort[], initial = false): Promise<void> {
    for (const v of await ensurePortFilters(plugged, this.ctx)) if (!initial) this.onRepair(`restored the port filters of ${v}`);
  }

  /** After an nftables event: our own rebuilds show up too, so check first and rebuild only a real loss. */
  checkNow(): void {
    if (this.stopped || !this.applied) return;
    void this.inTurn(async () => {
      if (this.stopped || (await isolationIntact([...this.ports.values(), ...this.stale.values()], this.ctx.range))) return;
      await this.rebuild();
      this.onRepair('isolation rules were removed; restored at once');
    }).catch((e: unknown) => this.log.warn('cannot restore isolation rules', { error: String(e) }));
  }

  stop(): void {
    this.stopped = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
  }

  private async rebuild(): Promise<void> {
    this.applied = false;
    const swept = [...this.stale.keys()];
    await applyIsolation([...this.ports.values()], this.ctx.range);
    for (const v of swept) this.stale.delete(v);
    this.applied = true;
  }

  private inTurn(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
