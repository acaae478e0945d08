/**
 * The container ports under isolation, and both layers that enforce it: the
 * nftables table (isolation.ts writes the rules) and each port's tc filter
 * (port-filter.ts). Ports are kept in the store, so rules come back after a
 * restart. Rule changes run one at a time: a new port's rules are appended in
 * place, a removed port's rules are swept by one rebuild once removals quiet
 * down, and a table found changed is rebuilt whole. A port's filter goes on
 * with its veth (filterFor(): attach.ts for `overlay attach`, the CNI plugin
 * from its port plan); the periodic check puts back filters someone removed.
 */
import type { Logger } from '../lib/logger.js';
import type { Store } from '../store/store.js';
import { appendPortRules, applyIsolation, isolationIntact, type IsolatedPort } from './isolation.js';
import { ensurePortFilters, portFilterPrograms, type PortFilterContext, type PortFilterPrograms } from './port-filter.js';

const KEY_PORT_PREFIX = 'dataplane/port/';
/** How long after the last removal the rules of removed ports are swept. */
const STALE_RULES_SWEEP_MS = 2_000;
/**
 * The CNI plugin creates a port's veth and filters after the daemon registered
 * it (a millisecond later, longer on a loaded host). Until then a missing veth
 * is not a reason to forget the port, nor a missing filter one to install it
 * (which would only be a duplicate of the plugin's work).
 */
const PLUG_IN_GRACE_MS = 10_000;
const FILTER_GRACE_MS = 1_000;

export class IsolatedPorts {
  private readonly ports = new Map<string, IsolatedPort>();
  /** Whether the table in the kernel was last written from `ports` (else the next check rebuilds it). */
  private applied = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly registeredAt = new Map<string, number>();
  /** Rules still in the table for ports already removed (swept by the next rebuild). */
  private readonly stale = new Map<string, IsolatedPort>();
  private sweepTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /** This host's bridge MAC and the whole overlay range (the host's own traffic from another overlay subnet is refused). */
    private readonly ctx: PortFilterContext,
    /** Called with what was restored when the table had been changed behind our back. */
    private readonly onRepair: (what: string) => void,
  ) {}

  async load(): Promise<void> {
    for (const [k, v] of await this.store.entries<IsolatedPort>(KEY_PORT_PREFIX)) this.ports.set(k.slice(KEY_PORT_PREFIX.length), v);
  }

  get size(): number {
    return this.ports.size;
  }

  has(hostVeth: string): boolean {
    return this.ports.has(hostVeth);
  }

  list(): IsolatedPort[] {
    return [...this.ports.values()];
  }

  /** The filter programs of a port: as `tc` text for attach.ts, or for netlink (the CNI plugin's port plan). */
  filterFor(p: IsolatedPort, form: 'tc' | 'netlink' = 'tc'): PortFilterPrograms {
    return portFilterPrograms(p, this.ctx, form);
  }

  /** A link list taken before now may not show this port's veth yet: do not prune it on that list. */
  touch(hostVeth: string): void {
    if (this.ports.has(hostVeth)) this.registeredAt.set(hostVeth, Date.now());
  }

  /**
   * Put a port under isolation. It is recorded (in memory and in the store) when this
   * returns; its rules follow in turn: a new port's are appended (~5 ms), a changed one's
   * need a rebuild (~15 ms). `rules` settles when they are in; if they fail, the table is
   * marked stale and the next check rebuilds it.
   */
  async register(p: IsolatedPort): Promise<{ rules: Promise<void> }> {
    const append = !this.ports.has(p.hostVeth) && !this.stale.has(p.hostVeth);
    this.ports.set(p.hostVeth, p);
    this.registeredAt.set(p.hostVeth, Date.now());
    const recorded = this.store.put(KEY_PORT_PREFIX + p.hostVeth, p);
    const rules = this.inTurn(async () => {
      // After the caller has answered: starting `nft` holds the event loop for milliseconds.
      await recorded.catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
      if (!append || !this.applied) return this.rebuild();
      await appendPortRules(p, this.ctx.range).catch(() => this.rebuild());
    });
    rules.catch(() => undefined); // the caller may not wait for them
    await recorded;
    return { rules };
  }

  /** Rules of a port whose veth is gone match nothing: they wait for one sweep instead of a rebuild per DEL. */
  async unregister(hostVeth: string): Promise<void> {
    const p = this.ports.get(hostVeth);
    if (!p) return;
    this.ports.delete(hostVeth);
    this.registeredAt.delete(hostVeth);
    await this.store.batch([{ type: 'del', key: KEY_PORT_PREFIX + hostVeth }]);
    this.stale.set(hostVeth, p);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      if (!this.stopped) void this.inTurn(() => this.rebuild()).catch((e: unknown) => this.log.warn('cannot rebuild isolation rules', { error: String(e) }));
    }, STALE_RULES_SWEEP_MS);
    this.sweepTimer.unref();
  }

  /**
   * The periodic check: forget ports whose veth is gone (`present` is a link list taken at
   * `listedAt`; ports still being attached are kept), rebuild a table someone changed, and
   * put back port filters someone removed.
   */
  async reconcile(present: Set<string>, listedAt: number, attaching: (hostVeth: string) => boolean, initial: boolean): Promise<void> {
    const youngerThan = (v: string, ms: number) => attaching(v) || (this.registeredAt.get(v) ?? 0) >= listedAt - ms;
    const gone = [...this.ports.keys()].filter((v) => !present.has(v) && !youngerThan(v, PLUG_IN_GRACE_MS));
    if (gone.length) {
      for (const v of gone) {
        this.ports.delete(v);
        this.registeredAt.delete(v);
      }
      await this.store.batch(gone.map((v) => ({ type: 'del' as const, key: KEY_PORT_PREFIX + v })));
      this.applied = false;
    }
    if (!this.applied || !(await this.intact())) {
      const wasApplied = this.applied;
      await this.inTurn(() => this.rebuild());
      if (wasApplied && !initial) this.onRepair('isolation rules were changed or flushed; restored');
    }
    const settled = [...this.ports.values()].filter((p) => present.has(p.hostVeth) && !youngerThan(p.hostVeth, FILTER_GRACE_MS));
    for (const v of await ensurePortFilters(settled, this.ctx)) if (!initial) this.onRepair(`restored the port filters of ${v}`);
  }

  /** After an nftables event: our own rebuilds show up too, so check first and rebuild only a real loss. */
  checkNow(): void {
    if (this.stopped || !this.applied) return;
    void this.inTurn(async () => {
      if (this.stopped || (await this.intact())) return;
      await this.rebuild();
      this.onRepair('isolation rules were removed; restored at once');
    }).catch((e: unknown) => this.log.warn('cannot restore isolation rules', { error: String(e) }));
  }

  stop(): void {
    this.stopped = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
  }

  private intact(): Promise<boolean> {
    return isolationIntact([...this.ports.values(), ...this.stale.values()], this.ctx.range);
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
