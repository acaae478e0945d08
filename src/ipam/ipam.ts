/**
 * The IPAM core: ring, consensus, local allocations and the donation,
 * hand-over and rmpeer protocols, as one gossip channel. It is pure logic:
 * time, randomness, membership, messaging and persistence come in through
 * IpamEnv, so the same code runs in the daemon and in many-peer simulations.
 *
 * Durability rule: every state change is handed to env.persist() before any
 * message or reply that depends on it leaves; the shell keeps that order.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { cidrContains, formatCidr, hostSpan, intToIp, parseNetwork, type Cidr } from '../lib/ipv4.js';
import type { Logger } from '../lib/logger.js';
import type { PeerName } from '../lib/peer-name.js';
import type { Random } from '../lib/random.js';
import type { ChannelDigest, GossipChannel, PeerInfo } from '../mesh/gossip-channel.js';
import { RecordVersions } from '../mesh/record-versions.js';
import type { StoreOp } from '../store/store.js';
import { DEFAULT_TIMINGS } from '../mesh/router.js';
import { ipamDigest } from './digest.js';
import { ForeignHoldings, sameHoldings, sortHoldings, type Conflict } from './holdings.js';
import { MAX_TOGETHER, newerStats, parseGossip, parseMessage, statsTag, type Holding, type IpamGossip, type IpamMessage, type PeerStats } from './messages.js';
import { Paxos, type PaxosRecord } from './paxos.js';
import { Ring, type RingWire } from './ring.js';
import { Space } from './space.js';

export type InitMode = { mode: 'consensus'; n: number } | { mode: 'seed'; seeds: PeerName[] } | { mode: 'observer' };

export interface IpamConfig {
  range: Cidr;
  defaultSubnet: Cidr;
  init: InitMode;
  /** How long an allocation may wait for consensus or donated space before failing. */
  waitMs: number;
  /** How long one request to another peer may take. */
  requestTimeoutMs?: number;
  /** The mesh's heartbeat timeout: rmpeer refuses a peer seen alive more recently than this, unless forced. */
  heartbeatTimeoutMs?: number;
}

export interface IpamEnv {
  self: PeerName;
  nickname: string;
  clock: Clock;
  /** Wall-clock ms at start, so versions of our published records outlive restarts. */
  epoch: number;
  random: Random;
  log: Logger;
  peers(): PeerInfo[];
  send(to: PeerName, msg: IpamMessage): boolean;
  gossip(): void;
  persist(ops: StoreOp[]): void;
}

/** What a restarted daemon reads back from its store. */
export interface IpamPersisted {
  range?: string;
  ring?: RingWire;
  paxos?: PaxosRecord;
  allocations: [string, StoredAllocation][];
}

/** One allocation on disk: the address and the subnet it was requested in. */
export interface StoredAllocation {
  addr: number;
  subnet: string;
}

export const KEY_RANGE = 'ipam/range';
export const KEY_RING = 'ipam/ring';
export const KEY_PAXOS = 'ipam/paxos';
export const KEY_ALLOC_PREFIX = 'ipam/a/';
const STATS_COALESCE_MS = 1_000;
/**
 * A peer whose gossip reached us directly this recently is alive, whatever
 * the mesh's reachability (settled at most every topologySettleMs) says yet:
 * a peer that just joined asks the peer that handed it the ring for space at
 * once, instead of waiting for the topology to settle.
 */
const HEARD_DIRECTLY_MS = 2_000;
/** How long the first proposer waits for the rest of the initial peers once it has a quorum. */
const CONSENSUS_GRACE_MS = 1_000;

export type IpamState =
  | { state: 'ready' }
  /** Joined an initialised ring with no space; asking a peer that has some (ready once it answers, or gives up). */
  | { state: 'awaiting-space' }
  | { state: 'awaiting-consensus'; quorum: number; known: number }
  | { state: 'observer-waiting' }
  | { state: 'split-ring'; detail: string }
  | { state: 'range-mismatch'; detail: string };

/**
 * What kind of refusal: the request is malformed (invalid), names something
 * unknown (not-found), clashes with the current state (conflict), or cannot
 * be served yet (unavailable: try again later). The API edge maps kinds to
 * status codes.
 */
export type IpamErrorKind = 'invalid' | 'not-found' | 'conflict' | 'unavailable';

export class IpamError extends Error {
  constructor(
    readonly kind: IpamErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'IpamError';
  }
}

/** What rmpeer did, in numbers and in plain words. */
export interface RmpeerResult {
  peer: PeerName;
  moved: number;
  /** Addresses the removed peer had in use when last seen. */
  inUse: number;
  message: string;
}

function seconds(ms: number): string {
  return `${Math.max(0, Math.round(ms / 1000))} s`;
}

export interface Allocated {
  owner: string;
  address: number;
  subnet: Cidr;
}

interface Pending {
  resolve: (m: IpamMessage | undefined) => void;
  timer: TimerHandle;
}

export function describeState(s: IpamState): string {
  switch (s.state) {
    case 'ready':
      return 'ready';
    case 'awaiting-space':
      return 'joined with no space: asking a peer for some';
    case 'awaiting-consensus':
      return `awaiting consensus (quorum ${s.quorum}, known ${s.known})`;
    case 'observer-waiting':
      return 'observer: waiting to be given space by another peer';
    case 'split-ring':
      return `split ring: ${s.detail}`;
    case 'range-mismatch':
      return `range mismatch: ${s.detail}`;
  }
}

export class Ipam implements GossipChannel {
  readonly name = 'ipam';
  readonly ring: Ring;
  readonly space: Space;
  private paxos?: Paxos;
  private readonly stats = new Map<PeerName, PeerStats>();
  /** Kept in step with `stats` (through putStats), for anti-entropy by digest. */
  private readonly statsVersions = new RecordVersions();
  readonly digest: ChannelDigest;
  private readonly subnets = new Map<string, string>();
  private readonly ringConflicts = new Map<PeerName, { kind: 'split' | 'range'; detail: string }>();
  private readonly pending = new Map<string, Pending>();
  private readonly waiters = new Set<() => void>();
  private delta: IpamGossip = {};
  private nextId = 0;
  private consensusTimer?: TimerHandle;
  private quorumSince?: number;
  private statsTimer?: TimerHandle;
  private lastProgress: number;
  private stopped = false;
  /** Allocation calls waiting on space or consensus right now (a metric). */
  waiting = 0;
  /** The peer asked for space right now, while an allocation waits for it (status: what the CLI shows while it waits). */
  askingSpaceFrom: PeerName | undefined;
  /** Owners with an allocation waiting for consensus or space, and those released meanwhile. */
  private readonly waitingOwners = new Map<string, number>();
  private readonly cancelledOwners = new Set<string>();
  /** Addresses other peers hold where the ring does not put them, and our conflicts with them. */
  private readonly holdings: ForeignHoldings;
  /** Our allocations outside our own space, by address (undefined: to be recomputed after a ring change). */
  private ownClaims?: Map<number, string>;
  /** When each peer was last seen reachable (for rmpeer's guard). */
  private readonly lostAt = new Map<PeerName, number>();
  private wasReachable = new Set<PeerName>();
  private readonly startedAt: number;
  /** A request for space made in the background (a peer that joined with none). */
  private fetching?: Promise<boolean>;
  /**
   * Joined an initialised ring owning nothing: until this time (or until the first request for space
   * is answered) we are not "ready", so a first ADD does not pay for that round trip.
   */
  private spaceWantedUntil = 0;
  /** Set by hand-over: we are leaving and must not ask for space again. */
  private leaving = false;
  /** Our next published record's lowest version: above a removal record published for us. */
  private statsFloor = 0;
  /** When each peer last sent us gossip or a message directly (see HEARD_DIRECTLY_MS). */
  private readonly heardAt = new Map<PeerName, number>();

  constructor(
    readonly cfg: IpamConfig,
    private readonly env: IpamEnv,
    persisted: IpamPersisted = { allocations: [] },
  ) {
    const range = formatCidr(cfg.range);
    if (persisted.range !== undefined && persisted.range !== range)
      throw new Error(
        `the stored IPAM range is ${persisted.range} but --ipalloc-range is ${range}; ` +
          'changing the range would orphan every allocation. Launch with the old range, or run `overlay reset` first (this releases all addresses).',
      );
    if (!cidrContains(cfg.range, cfg.defaultSubnet))
      throw new Error(`the default subnet ${formatCidr(cfg.defaultSubnet)} is not inside the range ${range}`);
    this.ring = new Ring(cfg.range);
    this.digest = ipamDigest({ ring: this.ring, statsVersions: this.statsVersions, stats: (p) => this.stats.get(p), consensus: () => this.paxos });
    this.space = new Space(cfg.range);
    this.holdings = new ForeignHoldings(this.space);
    this.lastProgress = env.clock.now();
    this.startedAt = env.clock.now();
    if (persisted.ring) this.ring.merge(persisted.ring);
    for (const [owner, a] of persisted.allocations) {
      this.space.add(owner, a.addr);
      this.subnets.set(owner, a.subnet);
    }
    if (persisted.range === undefined) env.persist([{ type: 'put', key: KEY_RANGE, value: range }]);
    if (!this.ring.initialised) this.initialise(persisted.paxos);
    this.publishStats();
  }

  /** The consensus records while awaiting consensus (for status and debugging). */
  consensusRecords(): [PeerName, PaxosRecord][] | undefined {
    return this.paxos ? [...this.paxos.records.entries()] : undefined;
  }

  get self(): PeerName {
    return this.env.self;
  }

  /** Seed at once (seed list, or a one-peer consensus) or start the consensus protocol. */
  private initialise(own?: PaxosRecord): void {
    const init = this.cfg.init;
    if (init.mode === 'seed') return this.seedRing(init.seeds);
    if (init.mode === 'observer') return;
    this.paxos = new Paxos(this.self, Math.floor(init.n / 2) + 1, own);
    this.delta.paxos = [[this.self, this.paxos.own]];
    this.thinkConsensus();
  }

  private seedRing(seeds: PeerName[]): void {
    this.ring.seed(seeds);
    this.paxos = undefined;
    this.env.clock.clearTimeout(this.consensusTimer);
    this.env.persist([{ type: 'put', key: KEY_RING, value: this.ring.toWire() }, { type: 'del', key: KEY_PAXOS }]);
    this.env.log.info('IPAM ring initialised', { seeds: this.ring.seeds, id: this.ring.id });
    this.ringChanged();
  }

  /**
   * What changed in the ring goes out as our next (coalesced) delta, whether
   * we changed it or merged it from a peer: a burst of changes then costs one
   * message per neighbour, carrying the chunks that changed (see ring.ts)
   * rather than the whole ring. `mine`: our own spans may have changed.
   */
  private ringChanged(mine = true): void {
    if (mine) this.ownClaims = undefined;
    this.env.gossip();
    // Claims and contested addresses go out at once (they keep others from handing an address out);
    // free space, which moves with every donation, at most once per STATS_COALESCE_MS.
    if (this.holdingsChanged()) this.publishStats();
    else this.publishStatsSoon();
    this.notify();
    this.fetchSpaceSoon();
  }

  /** Whether our claims or contested addresses differ from what we last published. */
  private holdingsChanged(): boolean {
    const prev = this.stats.get(this.self);
    return !sameHoldings(prev?.claims ?? [], this.claimList()) || !sameHoldings(prev?.contested ?? [], this.holdings.ourContested());
  }

  private claimList(): Holding[] {
    return sortHoldings([...this.claims()].map(([a, o]): Holding => [a, o]));
  }

  state(): IpamState {
    const split = [...this.ringConflicts.entries()].find(([peer]) => this.isReachable(peer));
    if (split) return split[1].kind === 'split' ? { state: 'split-ring', detail: split[1].detail } : { state: 'range-mismatch', detail: split[1].detail };
    // Ready only once the first request for space is answered: a first ADD then never waits for that round trip.
    if (this.ring.initialised) return this.fetching || this.waitingForFirstSpace() ? { state: 'awaiting-space' } : { state: 'ready' };
    if (this.paxos) return { state: 'awaiting-consensus', quorum: this.paxos.quorum, known: this.paxos.known().length };
    return { state: 'observer-waiting' };
  }

  // ---- gossip channel ------------------------------------------------------

  encodeFull(): IpamGossip {
    const g: IpamGossip = { stats: [...this.stats.entries()] };
    if (this.ring.initialised) g.ring = this.ring.toWire();
    else if (this.paxos) g.paxos = [...this.paxos.records.entries()];
    return g;
  }

  encodeDelta(): IpamGossip | undefined {
    const d = this.delta;
    this.delta = {};
    const ring = this.ring.takeDelta();
    if (ring) d.ring = ring;
    return d.ring || d.stats || d.paxos ? d : undefined;
  }

  /** A usage record goes out in the next delta, replacing any older one for the same peer. */
  private gossipStats(peer: PeerName, s: PeerStats): void {
    this.delta.stats = [...(this.delta.stats ?? []).filter(([p]) => p !== peer), [peer, s]];
    this.env.gossip();
  }

  private putStats(peer: PeerName, s: PeerStats): void {
    this.stats.set(peer, s);
    this.statsVersions.set(peer, s.version, statsTag(s));
  }

  /** Another peer's usage record, if newer than ours (at one version, the larger tag); true when taken. */
  private mergeStats(peer: PeerName, s: PeerStats): boolean {
    const mine = this.stats.get(peer);
    if (mine && !newerStats(s, mine)) return false;
    this.putStats(peer, s);
    if (this.holdings.update(peer, s.claims, s.contested)) this.publishStatsSoon(); // our contested list may change
    return true;
  }

  merge(from: PeerName, payload: unknown): IpamGossip | undefined {
    const g = parseGossip(payload);
    if (!g) {
      this.env.log.warn('ignoring malformed IPAM gossip', { from });
      return undefined;
    }
    this.heardAt.set(from, this.env.clock.now());
    const out: IpamGossip = {};
    const stats: [PeerName, PeerStats][] = [];
    for (const [peer, s] of g.stats ?? []) {
      if (peer === this.self) {
        this.removedWhileRunning(s);
        continue;
      }
      if (this.mergeStats(peer, s)) stats.push([peer, s]);
    }
    // After the stats: a ring that makes us ask for space then picks donors by their free space.
    if (g.ring) this.mergeRing(from, g.ring); // a newer ring is forwarded by ringChanged(), coalesced
    if (stats.length) out.stats = stats;
    if (g.paxos && this.paxos && !this.ring.initialised) {
      const px: [PeerName, PaxosRecord][] = [];
      for (const [peer, r] of g.paxos) if (this.paxos.mergeRecord(peer, r)) px.push([peer, r]);
      if (px.length) {
        out.paxos = px;
        this.lastProgress = this.env.clock.now();
        this.thinkConsensus();
      }
    }
    return out.ring || out.stats || out.paxos ? out : undefined;
  }

  /** Returns true when our ring changed. */
  private mergeRing(from: PeerName, w: RingWire): boolean {
    const wasInitialised = this.ring.initialised;
    const mineBefore = this.ring.initialised ? this.ownedSpans() : [];
    const r = this.ring.merge(w);
    if (r.kind === 'split' || r.kind === 'range-mismatch') {
      if (!this.ringConflicts.has(from)) {
        const detail =
          r.kind === 'split'
            ? `this peer's ring (seeded by ${this.ring.seeds.join(', ')}) and peer ${from}'s ring (seeded by ${r.theirSeeds.join(', ')}) were initialised separately and will not be merged. ` +
              'To join them, run `overlay reset` on every peer of one side and launch those peers again pointing at the other side.'
            : `peer ${from} uses the range ${r.theirs}, this peer uses ${formatCidr(this.cfg.range)}; every peer must be launched with the same --ipalloc-range`;
        this.ringConflicts.set(from, { kind: r.kind === 'split' ? 'split' : 'range', detail });
        this.env.log.error(r.kind === 'split' ? 'IPAM split ring detected' : 'IPAM range mismatch', { peer: from, detail });
        this.notify();
      }
      return false;
    }
    if (r.kind === 'unchanged') return false;
    if (!wasInitialised) {
      // The ring reached us through one peer, maybe before the mesh shows its owners as reachable: wait for space a while.
      if (this.cfg.init.mode !== 'observer') this.spaceWantedUntil = this.env.clock.now() + this.cfg.waitMs;
      this.paxos = undefined;
      this.env.clock.clearTimeout(this.consensusTimer);
      this.env.log.info('IPAM ring received', { from, seeds: this.ring.seeds });
    }
    const mine = r.owners.has(this.self);
    if (wasInitialised && mine && JSON.stringify(this.ownedSpans()) !== JSON.stringify(mineBefore)) this.checkLostSpace(mineBefore);
    this.env.persist([{ type: 'put', key: KEY_RING, value: this.ring.toWire() }, ...(wasInitialised ? [] : [{ type: 'del' as const, key: KEY_PAXOS }])]);
    this.ringChanged(mine || !wasInitialised);
    return true;
  }

  /**
   * Space we held allocations in was taken from us: this peer was removed
   * with rmpeer while it was running (or down with its disk kept). We accept
   * the ring, so no new address is handed out from that space here, but we
   * keep the addresses in use and publish them as claims (ringChanged, via
   * publishStats): their new owner must not hand them out, and any it already
   * did is a conflict reported on both sides.
   */
  private checkLostSpace(before: { start: number; end: number }[]): void {
    if (before.length === 0) return;
    const held = new Map<PeerName, number>();
    for (const [, addr] of this.space.entries()) {
      const owner = this.ring.ownerOf(addr);
      if (owner !== undefined && owner !== this.self) held.set(owner, (held.get(owner) ?? 0) + 1);
    }
    if (held.size > 0)
      this.env.log.error(
        'IPAM space holding our allocations now belongs to another peer: this peer was removed with `overlay rmpeer` while it was still running. ' +
          'It keeps those addresses and tells their new owner; any address both handed out is reported as a conflict in `overlay status`.',
        { addresses: [...held.values()].reduce((a, b) => a + b, 0), newOwners: [...held.keys()].map((p) => this.describePeer(p)) },
      );
  }

  /**
   * Another peer removed us with rmpeer and published a record for us that
   * drops our claims: we were alive after all (behind a partition). We keep
   * every address we hold and publish a newer record of our own with our
   * claims, so each address its new owner handed out meanwhile is a conflict
   * on both sides, never silently lost.
   */
  private removedWhileRunning(s: PeerStats): void {
    const mine = this.stats.get(this.self);
    if (s.removedBy === undefined || (mine && mine.version > s.version)) return;
    this.env.log.error('IPAM: this peer was removed with `overlay rmpeer` while it was still running; it keeps its addresses and tells their new owners', {
      removedBy: this.describePeer(s.removedBy),
      addresses: this.space.size,
    });
    this.statsFloor = s.version + 1;
    this.publishStats(true);
  }

  /** Our allocations in space the ring gives to other peers (only after an rmpeer of this peer while it ran). */
  private claims(): Map<number, string> {
    if (!this.ownClaims) {
      this.ownClaims = new Map();
      if (this.ring.initialised) for (const [owner, addr] of this.space.entries()) if (this.ring.ownerOf(addr) !== this.self) this.ownClaims.set(addr, owner);
    }
    return this.ownClaims;
  }

  /** Addresses held both here and on another peer; each lasts until one of the two holders releases it. */
  conflicts(): Conflict[] {
    return this.holdings.conflicts();
  }

  /** How many of our addresses lie in space the ring gives to other peers. */
  heldOutsideOwnSpace(): number {
    return this.claims().size;
  }

  onUnicast(from: PeerName, payload: unknown): void {
    const m = parseMessage(payload);
    if (!m) {
      this.env.log.warn('ignoring malformed IPAM message', { from });
      return;
    }
    this.heardAt.set(from, this.env.clock.now());
    switch (m.t) {
      case 'donate':
        return this.reply(from, this.donate(from, m.id, m.subnet, m.ip));
      case 'handover':
        // Its last record first: the space it hands over must not stay reserved by the addresses it held.
        if (m.stats && this.mergeStats(from, m.stats)) {
          this.gossipStats(from, m.stats);
        }
        if (this.ring.initialised || m.ring) this.mergeRing(from, m.ring);
        return this.reply(from, { t: 'handover-ack', id: m.id });
      case 'rmpeer':
        void this.takeOver(m.id, m.target, from, m.force === true, m.together ?? []).then((r) => this.reply(from, r));
        return;
      case 'ring-read':
        return this.reply(from, { t: 'ring-read-reply', id: m.id, ring: this.ring.toWire() });
      default: {
        if ('ring' in m && m.ring) this.mergeRing(from, m.ring);
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        this.env.clock.clearTimeout(p.timer);
        p.resolve(m);
      }
    }
  }

  private reply(to: PeerName, m: IpamMessage): void {
    this.env.send(to, m);
  }

  /** `rounds`: how many request timeouts the answer may take (an rmpeer coordinator makes a round of its own first). */
  private request(to: PeerName, m: IpamMessage, rounds = 1): Promise<IpamMessage | undefined> {
    return new Promise((resolve) => {
      if (!this.env.send(to, m)) return resolve(undefined);
      const timer = this.env.clock.setTimeout(() => {
        this.pending.delete(m.id);
        resolve(undefined);
      }, rounds * (this.cfg.requestTimeoutMs ?? 2_000));
      this.pending.set(m.id, { resolve, timer });
    });
  }

  private newId(): string {
    return `${this.self}/${this.nextId++}`;
  }

  // ---- membership ----------------------------------------------------------

  private isReachable(peer: PeerName): boolean {
    if (peer === this.self) return true;
    return this.env.peers().some((p) => p.name === peer && p.reachable);
  }

  /** Worth asking for space: reachable, or heard from directly just now (the mesh may not show it reachable yet). */
  private canAsk(peer: PeerName): boolean {
    const heard = this.heardAt.get(peer);
    return this.isReachable(peer) || (heard !== undefined && this.env.clock.now() - heard < HEARD_DIRECTLY_MS);
  }

  /** The mesh's membership changed: waiting allocations may now find a donor. */
  peersChanged(): void {
    const now = this.env.clock.now();
    const reachable = new Set(this.env.peers().flatMap((p) => (p.reachable && p.name !== this.self ? [p.name] : [])));
    for (const p of this.wasReachable) if (!reachable.has(p)) this.lostAt.set(p, now);
    this.wasReachable = reachable;
    this.thinkConsensus();
    this.notify();
    this.fetchSpaceSoon();
  }

  /** How long ago a peer was last seen reachable (since our start, if never). */
  private unseenFor(peer: PeerName): number {
    if (this.isReachable(peer)) return 0;
    return this.env.clock.now() - (this.lostAt.get(peer) ?? this.startedAt);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolve on the next state change or after ms, whichever comes first. */
  private waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        this.env.clock.clearTimeout(timer);
        resolve();
      };
      const timer = this.env.clock.setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  // ---- consensus -----------------------------------------------------------

  private thinkConsensus(): void {
    const px = this.paxos;
    if (!px || this.ring.initialised || this.stopped) return;
    const chosen = px.chosen();
    if (chosen) return this.seedRing(chosen);
    const known = px.known();
    const lowest = known[0] === this.self;
    const proposing = px.own.promise?.proposer === this.self;
    const stalled = this.env.clock.now() - this.lastProgress > 3_000;
    const before = px.own.version;
    // With a quorum but not everyone yet, give the rest a moment, so peers launched together share the range evenly.
    if (known.length < px.quorum) this.quorumSince = undefined;
    else this.quorumSince ??= this.env.clock.now();
    const everyone = this.cfg.init.mode !== 'consensus' || known.length >= this.cfg.init.n;
    const waitedForRest = this.quorumSince !== undefined && this.env.clock.now() - this.quorumSince >= CONSENSUS_GRACE_MS;
    if (known.length >= px.quorum && ((lowest && !proposing && (everyone || waitedForRest)) || stalled)) {
      px.propose();
      this.lastProgress = this.env.clock.now();
    }
    // A proposal alone changes our record too: it must be stored and gossiped like any step.
    if (px.step() || px.own.version !== before) {
      this.env.persist([{ type: 'put', key: KEY_PAXOS, value: px.own }]);
      this.delta.paxos = [[this.self, px.own]];
      this.env.gossip();
      const now = px.chosen();
      if (now) return this.seedRing(now);
    }
    this.env.clock.clearTimeout(this.consensusTimer);
    const waiting = this.quorumSince !== undefined && !px.own.promise;
    this.consensusTimer = this.env.clock.setTimeout(() => this.thinkConsensus(), waiting ? CONSENSUS_GRACE_MS / 4 : 1_000 + Math.floor(this.env.random() * 2_000));
    this.notify();
  }

  // ---- statistics ----------------------------------------------------------

  ownedSpans(): { start: number; end: number }[] {
    return this.ring.spansOf(this.self);
  }

  private owned(): number {
    return this.ownedSpans().reduce((n, s) => n + s.end - s.start, 0);
  }

  /**
   * Stats are advisory (donor choice, status), so allocation churn publishes
   * them at most once per STATS_COALESCE_MS instead of gossiping every change.
   */
  private publishStatsSoon(): void {
    if (this.statsTimer || this.stopped) return;
    this.statsTimer = this.env.clock.setTimeout(() => {
      this.statsTimer = undefined;
      this.publishStats();
    }, STATS_COALESCE_MS);
  }

  private publishStats(force = false): void {
    const prev = this.stats.get(this.self);
    const inUse = this.space.size;
    const free = Math.max(0, this.owned() - inUse);
    const claims = this.claimList();
    const contested = this.holdings.ourContested();
    if (!force && prev && prev.inUse === inUse && prev.free === free && sameHoldings(prev.claims ?? [], claims) && sameHoldings(prev.contested ?? [], contested)) return;
    const s: PeerStats = {
      version: Math.max(this.env.epoch + Math.floor(this.env.clock.now()), (prev?.version ?? 0) + 1, this.statsFloor),
      nickname: this.env.nickname,
      inUse,
      free,
      ...(claims.length ? { claims } : {}),
      ...(contested.length ? { contested } : {}),
    };
    this.putStats(this.self, s);
    this.gossipStats(this.self, s);
  }

  peerStats(): ReadonlyMap<PeerName, PeerStats> {
    return this.stats;
  }

  // ---- allocation ----------------------------------------------------------

  /** Parse an API subnet argument ("10.32.1.0/24"), defaulting to the default subnet. */
  subnetFor(cidr: string | undefined): Cidr {
    if (cidr === undefined) return this.cfg.defaultSubnet;
    let c: Cidr;
    try {
      c = parseNetwork(cidr);
    } catch (e) {
      throw new IpamError('invalid', (e as Error).message);
    }
    if (!cidrContains(this.cfg.range, c)) throw new IpamError('invalid', `subnet ${cidr} is not inside the allocation range ${formatCidr(this.cfg.range)}`);
    return c;
  }

  lookup(owner: string): number | undefined {
    return this.space.addressOf(owner);
  }

  /**
   * Allocate an address for an owner id in a subnet, or claim one address.
   * Idempotent per owner. Waits at most cfg.waitMs for consensus or space.
   */
  async allocate(owner: string, subnet: Cidr, ip?: number): Promise<number> {
    if (!owner || owner.length > 256) throw new IpamError('invalid', 'the owner id must be 1 to 256 characters');
    const held = this.space.addressOf(owner);
    if (held !== undefined) {
      if (ip !== undefined && ip !== held) throw new IpamError('conflict', `${owner} already holds ${intToIp(held)}; release it first`);
      if (held < subnet.start || held >= subnet.start + subnet.size) throw new IpamError('conflict', `${owner} already holds ${intToIp(held)}, outside ${formatCidr(subnet)}`);
      return held;
    }
    if (ip !== undefined) {
      const hosts = hostSpan(subnet);
      if (ip < hosts.start || ip >= hosts.end) throw new IpamError('invalid', `${intToIp(ip)} is not a host address of ${formatCidr(subnet)}`);
    }
    const deadline = this.env.clock.now() + this.cfg.waitMs;
    this.waiting++;
    this.waitingOwners.set(owner, (this.waitingOwners.get(owner) ?? 0) + 1);
    // A release of this owner while we wait (a runtime's DEL after its ADD died) cancels us:
    // finishing later would hold an address nobody will ever release.
    const cancelled = () => new IpamError('conflict', `the allocation for ${owner} was released while it waited`);
    try {
      for (;;) {
        if (this.cancelledOwners.delete(owner)) throw cancelled();
        const st = this.state();
        if (st.state === 'ready' || st.state === 'awaiting-space') {
          const got = ip !== undefined ? await this.tryClaim(owner, ip, subnet) : this.tryLocal(owner, subnet);
          if (got !== undefined && this.cancelledOwners.delete(owner)) {
            this.release(owner);
            throw cancelled();
          }
          if (got !== undefined) return got;
          if (ip === undefined && this.fetching) {
            await this.fetching; // a request for space is already on its way
            continue;
          }
          if (ip === undefined && (await this.askForSpace(subnet, deadline))) continue;
        } else if (st.state === 'split-ring' || st.state === 'range-mismatch') {
          throw new IpamError('unavailable', `IPAM is refusing allocations: ${describeState(st)}`);
        }
        const left = deadline - this.env.clock.now();
        if (left <= 0 || this.stopped) {
          const reason = this.notReadyReason(subnet, ip);
          this.env.log.info('IPAM refused an allocation', { owner, subnet: formatCidr(subnet), reason });
          throw new IpamError('unavailable', reason);
        }
        await this.waitForChange(Math.min(left, 500));
      }
    } finally {
      this.waiting--;
      const left = (this.waitingOwners.get(owner) ?? 1) - 1;
      if (left > 0) this.waitingOwners.set(owner, left);
      else {
        this.waitingOwners.delete(owner);
        this.cancelledOwners.delete(owner);
      }
    }
  }

  private notReadyReason(subnet: Cidr, ip?: number): string {
    const st = this.state();
    if (st.state !== 'ready' && st.state !== 'awaiting-space') return `IPAM is not ready: ${describeState(st)}; try again later`;
    if (ip !== undefined) {
      const owner = this.ring.ownerOf(ip);
      const name = owner ? this.describePeer(owner) : 'nobody';
      return `${intToIp(ip)} belongs to ${name}, which ${owner && this.isReachable(owner) ? 'did not hand it over' : 'is unreachable'}; try again later (or \`overlay rmpeer\` a dead peer)`;
    }
    const owners = [...new Set(this.ring.spans().filter((s) => s.end > subnet.start && s.start < subnet.start + subnet.size).map((s) => s.peer))];
    const unreachable = owners.filter((p) => !this.isReachable(p)).map((p) => this.describePeer(p));
    return (
      `no free address in ${formatCidr(subnet)} could be obtained` +
      (unreachable.length ? `: space there is held by unreachable peers ${unreachable.join(', ')} (use \`overlay rmpeer\` if they are gone for good)` : ': the subnet is full') +
      '; try again later'
    );
  }

  describePeer(peer: PeerName): string {
    const nick = this.stats.get(peer)?.nickname;
    return nick ? `${peer}(${nick})` : peer;
  }

  /** The subnet an owner's address was allocated in. */
  subnetOf(owner: string): string | undefined {
    return this.subnets.get(owner);
  }

  private commitAllocation(owner: string, addr: number, subnet: Cidr): number {
    this.space.add(owner, addr);
    const stored: StoredAllocation = { addr, subnet: formatCidr(subnet) };
    this.subnets.set(owner, stored.subnet);
    this.env.persist([{ type: 'put', key: KEY_ALLOC_PREFIX + owner, value: stored }]);
    this.publishStatsSoon();
    this.env.log.info('IPAM allocated', { owner, address: intToIp(addr), subnet: stored.subnet });
    return addr;
  }

  private tryLocal(owner: string, subnet: Cidr): number | undefined {
    const hosts = hostSpan(subnet);
    for (const s of this.ownedSpans()) {
      const a = Math.max(s.start, hosts.start);
      const b = Math.min(s.end, hosts.end);
      if (a >= b) continue;
      const addr = this.space.firstFree(a, b);
      if (addr !== undefined) return this.commitAllocation(owner, addr, subnet);
    }
    return undefined;
  }

  private async tryClaim(owner: string, ip: number, subnet: Cidr): Promise<number | undefined> {
    const holder = this.ring.ownerOf(ip);
    if (holder === this.self) {
      const user = this.space.ownerOf(ip);
      if (user !== undefined) throw new IpamError('conflict', `${intToIp(ip)} is already in use by ${user}`);
      const elsewhere = this.holdings.holderOf(ip);
      if (elsewhere !== undefined) throw new IpamError('conflict', `${intToIp(ip)} is already in use on ${this.describePeer(elsewhere)}`);
      return this.commitAllocation(owner, ip, subnet);
    }
    if (!holder || !this.isReachable(holder)) return undefined;
    const r = await this.request(holder, { t: 'donate', id: this.newId(), subnet: formatCidr(this.cfg.range), ip });
    if (r?.t === 'donate-reply' && !r.ok && r.inUse) throw new IpamError('conflict', `${intToIp(ip)} is already in use on ${this.describePeer(holder)}`);
    if (this.ring.ownerOf(ip) === this.self && this.space.isFree(ip)) return this.commitAllocation(owner, ip, subnet);
    return undefined;
  }

  /** Ask reachable peers owning space in the subnet to donate some; true if we received any. */
  private async askForSpace(subnet: Cidr, deadline: number): Promise<boolean> {
    const hosts = hostSpan(subnet);
    const candidates = new Map<PeerName, number>();
    for (const s of this.ring.spans()) {
      if (s.peer === this.self || s.end <= hosts.start || s.start >= hosts.end || !this.canAsk(s.peer)) continue;
      candidates.set(s.peer, this.stats.get(s.peer)?.free ?? 0);
    }
    const order = [...candidates.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([p]) => p);
    for (const donor of order) {
      if (this.env.clock.now() >= deadline || this.stopped) return false;
      this.askingSpaceFrom = donor;
      const r = await this.request(donor, { t: 'donate', id: this.newId(), subnet: formatCidr(subnet) }).finally(() => (this.askingSpaceFrom = undefined));
      if (r?.t === 'donate-reply' && r.ok) {
        this.env.log.info('IPAM received space', { from: this.describePeer(donor), subnet: formatCidr(subnet) });
        return true;
      }
    }
    return false;
  }

  /** Donor side: give up half of the largest free run of our space inside the subnet (or one claimed address). */
  private donate(to: PeerName, id: string, subnetText: string, ip?: number): IpamMessage {
    const no = (reason: string, inUse?: boolean): IpamMessage => ({ t: 'donate-reply', id, ok: false, reason, ...(inUse ? { inUse } : {}) });
    if (!this.ring.initialised || this.stopped) return no('not ready');
    let given: { start: number; end: number };
    if (ip !== undefined) {
      if (this.ring.ownerOf(ip) !== this.self) return no('not mine');
      if (!this.space.isFree(ip)) return no(`in use by ${this.space.ownerOf(ip) ?? this.describePeer(this.holdings.holderOf(ip) ?? '?')}`, true);
      given = { start: ip, end: ip + 1 };
    } else {
      let subnet: Cidr;
      try {
        subnet = parseNetwork(subnetText);
      } catch {
        return no('bad subnet');
      }
      // The largest free run among our host addresses of the subnet, wherever it lies in our spans.
      const hosts = hostSpan(subnet);
      let best: { start: number; end: number } | undefined;
      for (const s of this.ownedSpans()) {
        const a = Math.max(s.start, hosts.start);
        const b = Math.min(s.end, hosts.end);
        if (a >= b) continue;
        const run = this.space.largestFreeRun(a, b);
        if (run && (!best || run.end - run.start > best.end - best.start)) best = run;
      }
      if (!best) return no('no free space in that subnet');
      const len = best.end - best.start;
      const give = len >= 2 ? Math.floor(len / 2) : 1;
      given = { start: best.end - give, end: best.end };
      this.env.log.info('IPAM donated space', { to, start: intToIp(given.start), count: give });
    }
    this.ring.transfer(given.start, given.end, to);
    this.env.persist([{ type: 'put', key: KEY_RING, value: this.ring.toWire() }]);
    this.ringChanged();
    // The chunks the block lies in (whole, see ring.ts): the requester has the rest of the ring already.
    return { t: 'donate-reply', id, ok: true, ring: this.ring.deltaOf(given.start, given.end) };
  }

  // ---- release -------------------------------------------------------------

  release(owner: string): number | undefined {
    if (this.waitingOwners.has(owner)) this.cancelledOwners.add(owner);
    const addr = this.space.removeOwner(owner);
    if (addr === undefined) return undefined;
    this.ownClaims?.delete(addr);
    this.subnets.delete(owner);
    this.env.persist([{ type: 'del', key: KEY_ALLOC_PREFIX + owner }]);
    this.publishStatsSoon();
    this.env.log.info('IPAM released', { owner, address: intToIp(addr) });
    return addr;
  }

  releaseAddress(addr: number): string | undefined {
    const owner = this.space.ownerOf(addr);
    if (owner === undefined) return undefined;
    this.release(owner);
    return owner;
  }

  // ---- hand-over and rmpeer -----------------------------------------------

  /**
   * Give all our space to a live peer and wait until it acknowledges (used by
   * `overlay reset`). Returns the peer and how many addresses moved.
   */
  async handOver(): Promise<{ to?: PeerName; moved: number; acknowledged: boolean }> {
    const mine = this.owned();
    // A peer with no space may still hold claims (it was removed while running): those must be withdrawn too.
    if (!this.ring.initialised || (mine === 0 && this.space.size === 0)) return { moved: 0, acknowledged: true };
    const live = this.env.peers().filter((p) => p.reachable && p.name !== this.self);
    if (live.length === 0) {
      this.env.log.warn('IPAM hand-over: no live peer to take our space; it stays on the ring until `overlay rmpeer` on another peer', { addresses: mine });
      return { moved: 0, acknowledged: false };
    }
    const to = live.map((p) => p.name).sort()[0]!;
    this.leaving = true;
    const moved = mine > 0 ? this.ring.transferAll(this.self, to) : 0;
    const ops: StoreOp[] = [{ type: 'put', key: KEY_RING, value: this.ring.toWire() }];
    for (const [owner] of [...this.space.entries()]) {
      this.space.removeOwner(owner);
      this.subnets.delete(owner);
      ops.push({ type: 'del', key: KEY_ALLOC_PREFIX + owner });
    }
    this.env.persist(ops);
    this.ringChanged(); // the ring and our stats (no claims left) go out before the hand-over below
    const last = this.stats.get(this.self);
    const ack = await this.request(to, { t: 'handover', id: this.newId(), ring: this.ring.toWire(), ...(last ? { stats: last } : {}) });
    this.env.log.info('IPAM handed over our space', { to, addresses: moved, acknowledged: ack !== undefined });
    return { to, moved, acknowledged: ack?.t === 'handover-ack' };
  }

  /** Resolve a peer name or nickname known to IPAM. */
  resolvePeer(nameOrNick: string): PeerName | undefined {
    const owners = new Set(this.ring.spans().map((s) => s.peer));
    for (const p of [...owners, ...this.stats.keys()]) if (p === nameOrNick) return p;
    const byNick = [...this.stats.entries()].filter(([, s]) => s.nickname === nameOrNick).map(([p]) => p);
    return byNick.length === 1 ? byNick[0] : undefined;
  }

  /**
   * Take over the space of dead peers. One coordinator (the lowest-named
   * reachable space owner) performs every takeover, so two concurrent rmpeers
   * of the same peer cannot both win. A peer seen alive less than a heartbeat
   * timeout ago may only be cut off by a partition: refused unless forced.
   * Peers named together are checked first, all of them, and removed one by
   * one; the coordinator's quorum is counted among the owners not named, so
   * that a cluster that lost most of its owners can still remove them.
   */
  async rmpeer(namesOrNicks: string | string[], opts: { force?: boolean } = {}): Promise<RmpeerResult[]> {
    if (!this.ring.initialised) throw new IpamError('unavailable', `IPAM is not ready: ${describeState(this.state())}`);
    const names = typeof namesOrNicks === 'string' ? [namesOrNicks] : namesOrNicks;
    if (names.length === 0 || names.length > MAX_TOGETHER) throw new IpamError('invalid', `rmpeer takes 1 to ${MAX_TOGETHER} peers`);
    const targets: PeerName[] = [];
    for (const n of names) {
      const target = this.resolvePeer(n);
      if (!target) throw new IpamError('not-found', `no peer named ${n} owns IPAM space`);
      if (target === this.self) throw new IpamError('invalid', 'cannot rmpeer this peer itself; use `overlay reset`');
      if (!targets.includes(target)) targets.push(target);
    }
    const force = opts.force === true;
    for (const target of targets) {
      const refusal = this.removalRefusal(target, force);
      if (refusal) throw new IpamError('conflict', refusal);
    }
    const done: RmpeerResult[] = [];
    for (const target of targets) {
      try {
        done.push(await this.removeOne(target, force, targets.filter((t) => t !== target)));
      } catch (e) {
        if (!(e instanceof IpamError) || done.length === 0) throw e;
        throw new IpamError(e.kind, `removed ${done.map((d) => this.describePeer(d.peer)).join(', ')}; then ${this.describePeer(target)}: ${e.message}`);
      }
    }
    return done;
  }

  private async removeOne(target: PeerName, force: boolean, together: PeerName[]): Promise<RmpeerResult> {
    const inUse = this.stats.get(target)?.inUse ?? 0;
    const unseen = this.unseenFor(target);
    const coordinator = this.coordinator([target, ...together]);
    let r: IpamMessage | undefined;
    if (coordinator === this.self) r = await this.takeOver(this.newId(), target, this.self, force, together);
    else {
      r = await this.request(coordinator, { t: 'rmpeer', id: this.newId(), target, force, ...(together.length ? { together } : {}) }, 2);
      if (!r || r.t !== 'rmpeer-reply') throw new IpamError('unavailable', `the rmpeer coordinator ${this.describePeer(coordinator)} did not answer; try again`);
    }
    if (r.t !== 'rmpeer-reply' || !r.ok) throw new IpamError('conflict', (r.t === 'rmpeer-reply' && r.reason) || 'refused');
    const moved = r.moved ?? 0;
    const who = this.describePeer(target);
    const message =
      `Removed ${who}: its ${moved} addresses now belong to ${this.describePeer(this.self)}. ` +
      `When last seen (${seconds(unseen)} ago) it had ${inUse} addresses in use. ` +
      `If ${who} is not dead but only cut off by a partition, those addresses, and any it hands out until the partition heals, can be handed out here too: ` +
      'each such address is then reported as a conflict in `overlay status` on both peers when the partition heals.';
    return { peer: target, moved, inUse, message };
  }

  /** Why `target` may not be removed now, or undefined when it may. */
  private removalRefusal(target: PeerName, force: boolean): string | undefined {
    const who = this.describePeer(target);
    if (this.isReachable(target)) return `peer ${who} is reachable from ${this.describePeer(this.self)}; stop it (or \`overlay reset\` it) before removing it`;
    const timeout = this.cfg.heartbeatTimeoutMs ?? DEFAULT_TIMINGS.heartbeatTimeoutMs;
    const unseen = this.unseenFor(target);
    if (force || unseen >= timeout) return undefined;
    return (
      `peer ${who} was seen alive ${seconds(unseen)} ago (on ${this.describePeer(this.self)}), less than the heartbeat timeout of ${seconds(timeout)}: ` +
      `it may only be cut off by a partition, and removing a peer that still runs lets both sides hand out the same addresses. ` +
      `Wait ${seconds(timeout - unseen)} more, or rerun with --force if you are sure it is dead`
    );
  }

  private coordinator(removed: PeerName[]): PeerName {
    const owners = [...new Set(this.ring.spans().map((s) => s.peer))].filter((p) => !removed.includes(p) && this.isReachable(p));
    return owners.sort()[0] ?? this.self;
  }

  /**
   * Coordinator side of rmpeer: move the target's space to the requester.
   * With other owners, a majority of them must be reachable (else we may be
   * the minority side of a partition); peers removed by the same command
   * (`together`, each as dead as the target) are not counted. With none, the target was the only
   * owner and nobody can tell a partition from a death: the heartbeat-timeout
   * guard (or the operator's --force) is all there is.
   */
  private async takeOver(id: string, target: PeerName, requester: PeerName, force: boolean, together: PeerName[] = []): Promise<IpamMessage> {
    const no = (reason: string): IpamMessage => ({ t: 'rmpeer-reply', id, ok: false, reason });
    const removable = (): string | undefined => {
      if (!this.ring.initialised) return 'IPAM is not ready on the coordinator';
      const refusal = this.removalRefusal(target, force);
      if (refusal) return refusal;
      const held = (this.stats.get(target)?.claims?.length ?? 0) + (this.stats.get(target)?.contested?.length ?? 0);
      if (!this.ring.spans().some((s) => s.peer === target) && held === 0) return `peer ${this.describePeer(target)} owns no space and holds no claimed or contested addresses (already removed?)`;
      return undefined;
    };
    const before = removable();
    if (before) return no(before);
    // Leaving a peer out of the quorum is only for one as dead as the target: a live one must be counted.
    for (const other of together) {
      const refusal = other === this.self ? 'this coordinator is among the peers to remove' : this.removalRefusal(other, force);
      if (refusal) return no(refusal);
    }
    // A quorum read, not the mesh's view of who is reachable: a coordinator cut off by a partition it has not
    // noticed yet (that takes up to a heartbeat timeout) must not take over, and what a majority of owners
    // knows of the target's last donations is merged in first (their replies carry their rings).
    const others = [...new Set(this.ring.spans().map((s) => s.peer))].filter((p) => p !== target && !together.includes(p));
    const replies = await Promise.all(others.filter((p) => p !== this.self && this.isReachable(p)).map((p) => this.request(p, { t: 'ring-read', id: this.newId() })));
    const answered = replies.filter((r) => r?.t === 'ring-read-reply').length + (others.includes(this.self) ? 1 : 0);
    if (others.length > 0 && answered * 2 <= others.length)
      return no(
        `only ${answered} of ${others.length} other space owners answered; refusing rmpeer during a partition ` +
          '(if the owners that did not answer are dead too, remove them with it in one command: `overlay rmpeer <peer> <peer>...`)',
      );
    const after = removable(); // a concurrent rmpeer of the same peer may have won meanwhile
    if (after) return no(after);
    const claims = this.stats.get(target)?.claims?.length ?? 0;
    const moved = this.ring.transferAll(target, requester);
    this.env.persist([{ type: 'put', key: KEY_RING, value: this.ring.toWire() }]);
    this.ringChanged();
    this.dropClaimsOf(target);
    this.env.log.info('IPAM rmpeer: space taken over', { target, requester, addresses: moved, claimsDropped: claims, forced: force });
    return { t: 'rmpeer-reply', id, ok: true, moved, ring: this.ring.toWire() };
  }

  /**
   * The removed peer's claims go with its space: a record for it with none
   * (versioned as below) frees those addresses on their owners. If it
   * was only partitioned it answers with its own newer record (see
   * removedWhileRunning), and its claims, and any conflicts, come back.
   */
  private dropClaimsOf(target: PeerName): void {
    const last = this.stats.get(target);
    // Our clock, not just its last version we saw: a record it published that never reached us (its last words
    // before dying, or from behind a partition) must not outrank the removal, or its claims and contested
    // addresses stay reserved everywhere with nobody left to withdraw them. Its records carry its clock too,
    // and rmpeer without --force needs it silent for a heartbeat timeout, so clocks may disagree by that much.
    const s: PeerStats = { version: Math.max((last?.version ?? 0) + 1, this.env.epoch + Math.floor(this.env.clock.now())), nickname: last?.nickname ?? '', inUse: 0, free: 0, removedBy: this.self };
    this.putStats(target, s);
    this.holdings.update(target, [], []);
    this.gossipStats(target, s);
    this.publishStatsSoon(); // our contested list may change
  }

  /**
   * A peer that joined an initialised ring with no space asks for some at
   * once, in the background, so its first allocation need not wait for a
   * donation round trip. Observers wait to be given space when they need it,
   * as their mode says.
   */
  private fetchSpaceSoon(): void {
    if (this.cfg.init.mode === 'observer' || this.fetching || this.leaving || this.stopped || !['ready', 'awaiting-space'].includes(this.state().state) || this.owned() > 0) return;
    // Space exists only on unreachable peers (or nowhere): nothing to wait for, ready as we are.
    if (!this.ring.spans().some((s) => s.peer !== this.self && this.canAsk(s.peer))) return;
    this.fetching = this.askForSpace(this.cfg.defaultSubnet, this.env.clock.now() + this.cfg.waitMs).finally(() => {
      this.fetching = undefined;
      this.spaceWantedUntil = 0;
      this.notify(); // "ready" now, with or without space
    });
  }

  /** Just joined with no space while others own some, and no answer yet (bounded by the wait). */
  private waitingForFirstSpace(): boolean {
    if (this.spaceWantedUntil === 0) return false;
    if (this.leaving || this.stopped || this.env.clock.now() >= this.spaceWantedUntil || this.owned() > 0 || !this.ring.spans().some((s) => s.peer !== this.self)) {
      this.spaceWantedUntil = 0;
      return false;
    }
    return true;
  }

  stop(): void {
    this.stopped = true;
    this.env.clock.clearTimeout(this.consensusTimer);
    this.env.clock.clearTimeout(this.statsTimer);
    for (const [id, p] of this.pending) {
      this.env.clock.clearTimeout(p.timer);
      p.resolve(undefined);
      this.pending.delete(id);
    }
    this.notify();
  }
}
