/**
 * An in-process cluster of real Routers on a simulated network and clock, for
 * the simulation tests and the gossip benchmark: many peers, lossy links,
 * partitions, deaths and restarts, all replayable from a seed.
 */
import { SimClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { PeerName } from '../../src/lib/peer-name.js';
import { seededRandom, type Random } from '../../src/lib/random.js';
import { Router, type RouterTimings } from '../../src/mesh/router.js';
import { SimNetwork, type SimNetworkOptions } from '../../src/mesh/sim-transport.js';
import type { PeerRecord } from '../../src/mesh/topology.js';
import type { RecordPool } from '../../src/mesh/topology-wire.js';

/**
 * One copy of each decoded topology record for all the routers of the
 * simulation: 5,000 peers each holding 5,000 records of their own would not
 * fit in memory, and the copies would be identical (a record is immutable
 * and named by its owner, uid and version).
 */
class SharedRecordPool implements RecordPool {
  private readonly byName = new Map<string, PeerRecord[]>();

  get(name: string, uid: string, version: number): PeerRecord | undefined {
    const list = this.byName.get(name);
    if (list) for (let i = list.length - 1; i >= 0; i--) if (list[i]!.version === version && list[i]!.uid === uid) return list[i];
    return undefined;
  }

  add(r: PeerRecord): void {
    const list = this.byName.get(r.name);
    if (list) list.push(r);
    else this.byName.set(r.name, [r]);
  }
}

export interface MeshSimOptions extends SimNetworkOptions {
  timings?: Partial<RouterTimings>;
  /** How many earlier peers each new peer is given as targets (1 = a chain-like tree). */
  targetsPerPeer?: number;
  discovery?: boolean;
  connLimit?: number;
  /** The newest protocol version peer i speaks (default: this build's). */
  maxProtocolVersion?: (i: number) => number | undefined;
}

/** Thrown by a run that passed the simulation's wall-clock budget (see MeshSim.wallDeadline). */
export class SimBudgetExceeded extends Error {
  constructor(readonly simMs: number) {
    super(`the simulation's wall-clock budget ran out at ${simMs} ms of simulated time`);
  }
}

export function simName(i: number): PeerName {
  const hex = (i + 1).toString(16).padStart(8, '0');
  return `02:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}`;
}

export class MeshSim {
  readonly clock = new SimClock();
  readonly random: Random;
  readonly net: SimNetwork;
  readonly routers: (Router | undefined)[] = [];
  private readonly pool = new SharedRecordPool();
  private readonly targets: string[][] = [];
  private incarnation = 0;
  /** Per slot: how many times it was wiped (`overlay reset`), so it comes back under a new name. */
  private readonly generation: number[] = [];
  /** performance.now() after which a run throws SimBudgetExceeded (a benchmark's case that would take hours). */
  wallDeadline = Infinity;
  private readonly pastDeadline = (): boolean => performance.now() > this.wallDeadline;

  constructor(
    readonly seed: number,
    private readonly opts: MeshSimOptions = {},
  ) {
    this.random = seededRandom(seed);
    this.net = new SimNetwork(this.clock, this.random, opts);
  }

  host(i: number): string {
    return `p${i}`;
  }

  /** The peer name slot i has now. */
  name(i: number): PeerName {
    return simName(i + 0x10000 * (this.generation[i] ?? 0));
  }

  /** Slot i was reset: it starts next time as a new peer (new name, same host address). */
  renew(i: number): void {
    this.generation[i] = (this.generation[i] ?? 0) + 1;
  }

  /** Add peer i (and start it) with targets chosen among the existing peers. */
  async addPeer(i: number, targets?: string[]): Promise<Router> {
    if (!this.targets[i]) {
      const k = Math.min(i, this.opts.targetsPerPeer ?? 1);
      const chosen = new Set<number>();
      while (chosen.size < k) chosen.add(Math.floor(this.random() * i));
      this.targets[i] = targets ?? [...chosen].map((j) => this.host(j));
    }
    const r = new Router({
      name: this.name(i),
      nickname: this.host(i),
      uid: `u${i}-${this.incarnation++}`,
      port: 6783,
      transport: this.net.transport(this.host(i)),
      clock: this.clock,
      random: this.random,
      logger: silentLogger,
      discovery: this.opts.discovery ?? true,
      connLimit: this.opts.connLimit,
      maxProtocolVersion: this.opts.maxProtocolVersion?.(i),
      epoch: 1_000_000 + this.clock.now(),
      timings: this.opts.timings,
      recordPool: this.pool,
    });
    this.routers[i] = r;
    await r.start();
    r.connect(this.targets[i]!);
    return r;
  }

  /** The process dies: its connections reset, it stops listening. */
  async kill(i: number): Promise<void> {
    const r = this.routers[i];
    if (!r) return;
    this.net.kill(this.host(i));
    this.routers[i] = undefined;
    await r.stop();
  }

  alive(): Router[] {
    return this.routers.filter((r): r is Router => r !== undefined);
  }

  /** Advance simulated time in steps, letting promise callbacks run between steps. */
  async run(ms: number, stepMs = 50): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      if (!this.clock.advance(Math.min(stepMs, ms - t), this.pastDeadline)) throw new SimBudgetExceeded(this.clock.now());
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Run until every live router sees exactly the live set with identical records; returns sim ms taken or -1. */
  async runUntilConverged(maxMs: number, stepMs = 50): Promise<number> {
    const start = this.clock.now();
    while (this.clock.now() - start < maxMs) {
      if (this.converged()) return this.clock.now() - start;
      await this.run(stepMs, stepMs);
    }
    return this.converged() ? this.clock.now() - start : -1;
  }

  /**
   * Run until the mesh is converged and stays so, unchanged, for `quietMs`:
   * returns the sim ms from now to the moment it converged for good, or -1.
   * (A mesh at a conn-limit can look converged while connections are still
   * being shed and dialled, each change about to spread again.)
   */
  async runUntilSettled(maxMs: number, stepMs = 50, quietMs = 3_000): Promise<number> {
    const start = this.clock.now();
    let since: number | undefined;
    let hash = '';
    while (this.clock.now() - start < maxMs + quietMs) {
      const h = this.alive()[0]?.topologyHash() ?? '';
      if (!this.converged()) since = undefined;
      else if (since === undefined || h !== hash) since = this.clock.now();
      hash = h;
      if (since !== undefined && this.clock.now() - since >= quietMs) return since - start;
      if (since === undefined && this.clock.now() - start >= maxMs) break;
      await this.run(stepMs, stepMs);
    }
    return -1;
  }

  /**
   * Every live router holds the same record versions (compared by digest, so
   * the check is linear in N) and one of them, hence all, exactly the live set.
   */
  converged(): boolean {
    const live = this.alive();
    if (live.length === 0) return true;
    const hash = live[0]!.topologyHash();
    for (const r of live) if (r.topologyHash() !== hash) return false;
    const want = live.map((r) => r.name).sort().join(',');
    return live[0]!.peers().map((p) => p.name).sort().join(',') === want;
  }

  /** How the live routers disagree (for a failing test's message). */
  unconverged(): string {
    const live = this.alive();
    const hashes = new Set(live.map((r) => r.topologyHash()));
    const wrong = live.filter((r) => r.peers().length !== live.length).map((r) => `${r.nickname} sees ${r.peers().length}`);
    return `${hashes.size} topology digests among ${live.length} live peers${wrong.length ? `; ${wrong.join(', ')}` : ''}`;
  }

  totals(): { messages: number; bytes: number } {
    let messages = 0;
    let bytes = 0;
    for (const r of this.alive()) {
      messages += r.counters.gossipMessagesSent;
      bytes += r.counters.gossipBytesSent;
    }
    return { messages, bytes };
  }

  /** The largest gossip message any peer sent (bytes on the wire). */
  largestMessage(): number {
    return Math.max(0, ...this.routers.map((r) => r?.counters.largestGossipMessageBytes ?? 0));
  }

  async stopAll(): Promise<void> {
    for (const r of this.alive()) await r.stop();
  }
}
