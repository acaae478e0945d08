/**
 * The router: owns the control connections to peers, the target list (who to
 * dial), the topology, and the gossip channels that ride on the connections.
 * It sees the network only through a Transport and time only through a Clock,
 * so the same code runs in the daemon (TCP, real time) and in simulations of
 * hundreds of peers (in-memory streams, simulated time).
 */
import { alignedDelay, type Clock, type TimerHandle } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { PeerName } from '../lib/peer-name.js';
import { shuffle, type Random } from '../lib/random.js';
import { backoffDelay } from './backoff.js';
import { Connection, hostOf, type LocalIdentity } from './connection.js';
import { DEFAULT_HANDSHAKE_LIMITS, HandshakeLimiter, type HandshakeLimits, type LimiterLogLine } from './handshake-limiter.js';
import type { PasswordKey } from './password-key.js';
import type { GossipChannel, GossipSender, PeerInfo } from './gossip-channel.js';
import { Gossip } from './gossip.js';
import { PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION, type Message } from './protocol.js';
import type { ConnectionStatus, MeshCounters, TargetStatus, TopologyPeerStatus } from './router-types.js';
import type { PeerRecord, Topology } from './topology.js';
import { TopologyChannel } from './topology-channel.js';
import type { RecordPool } from './topology-wire.js';
import type { Transport } from './transport.js';

export interface RouterTimings {
  /** A connection that carried nothing of ours for this long gets a heartbeat. */
  heartbeatMs: number;
  /** A connection silent this long is closed; checked every heartbeatMs / 2. */
  heartbeatTimeoutMs: number;
  handshakeTimeoutMs: number;
  /** Full-state anti-entropy period. */
  gossipIntervalMs: number;
  /** Local changes within this window go out as one delta. */
  deltaCoalesceMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A connection that lived this long is redialled at once when it drops. */
  longLivedMs: number;
  /** Reachability, discovery and peer listeners are recomputed at most once per this window of topology changes. */
  topologySettleMs: number;
  /** An unreachable peer is forgotten after this long (it may only look unreachable while the mesh forms). */
  unreachableGraceMs: number;
  /** A discovered peer with a lower name is given this long to dial us first (see discoveredDialDelay). */
  discoveredDialYieldMs: number;
}

export const DEFAULT_TIMINGS: RouterTimings = {
  // Three heartbeats per timeout: two may be late or lost before a live peer is dropped.
  heartbeatMs: 10_000,
  heartbeatTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  gossipIntervalMs: 30_000,
  deltaCoalesceMs: 50,
  backoffBaseMs: 2_000,
  backoffMaxMs: 180_000,
  longLivedMs: 60_000,
  topologySettleMs: 100,
  unreachableGraceMs: 1_000,
  discoveredDialYieldMs: 1_500,
};

export interface RouterConfig {
  name: PeerName;
  nickname: string;
  uid?: string;
  /** Our listen port, advertised in the hello for discovery; also the default port of targets. */
  port: number;
  /** The password's key, derived once per process (password-key.ts); set means encrypted. */
  passwordKey?: PasswordKey;
  connLimit?: number;
  discovery?: boolean;
  minProtocolVersion?: number;
  /** Speak no newer protocol than this (tests of mixed-version meshes; a staged rollback). */
  maxProtocolVersion?: number;
  /** Start of our topology version numbers; defaults to wall-clock ms so restarts supersede. */
  epoch?: number;
  transport: Transport;
  clock: Clock;
  random: Random;
  logger: Logger;
  timings?: Partial<RouterTimings>;
  handshakeLimits?: Partial<HandshakeLimits>;
  /** Simulations of thousands of routers in one process share decoded topology records (topology-wire.ts). */
  recordPool?: RecordPool;
}

interface Target {
  address: string;
  origin: 'user' | 'discovered';
  attempts: number;
  dialing: boolean;
  failedPermanently: boolean;
  lastError?: string;
  nextAttemptAt?: number;
  timer?: TimerHandle;
  peer?: PeerName;
}

const UNICAST_TTL = 32;

export class Router {
  readonly name: PeerName;
  readonly nickname: string;
  readonly uid: string;
  readonly counters: MeshCounters = {
    gossipMessagesSent: 0,
    gossipMessagesReceived: 0,
    gossipBytesSent: 0,
    gossipBytesReceived: 0,
    largestGossipMessageBytes: 0,
    handshakesRejected: 0,
    framesRejected: 0,
    handshakesThrottled: 0,
  };

  private readonly t: RouterTimings;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly identity: LocalIdentity;
  private readonly topoCh: TopologyChannel;
  private readonly limiter: HandshakeLimiter;
  private readonly topo: Topology;
  private readonly conns = new Set<Connection>();
  private readonly byPeer = new Map<PeerName, Connection>();
  private readonly targetMap = new Map<string, Target>();
  private readonly gossip: Gossip;
  private readonly connInfo = new Map<PeerName, string[]>();
  private readonly peersListeners = new Set<() => void>();
  private readonly gossipListeners = new Set<() => void>();
  private readonly targetsListeners = new Set<() => void>();
  private routeCache?: Map<PeerName, PeerName>;
  private antiEntropyTimer?: TimerHandle;
  private heartbeatTimer?: TimerHandle;
  private topologyTimer?: TimerHandle;
  private graceTimer?: TimerHandle;
  private readonly unreachableSince = new Map<PeerName, number>();
  private lastPeersSignature = new Map<PeerName, string>();
  /** The next discovery looks at every record, not only those that changed. */
  private discoverAll = true;
  private stopped = false;
  /**
   * Until open(), connections are held unstarted (no hello sent, nothing read):
   * a connection established before every gossip channel is registered would
   * carry only part of the full state, and the peer's state for the missing
   * channels would be dropped, not sent again until its next anti-entropy round.
   */
  private opened = true;
  private readonly held: Connection[] = [];
  private nextConnSeq = 0;

  constructor(private readonly cfg: RouterConfig) {
    this.name = cfg.name;
    this.nickname = cfg.nickname;
    this.clock = cfg.clock;
    this.random = cfg.random;
    this.uid = cfg.uid ?? this.randomHex(8);
    this.t = { ...DEFAULT_TIMINGS, ...cfg.timings };
    this.log = cfg.logger.child({ peer: cfg.name });
    this.identity = {
      name: cfg.name,
      nickname: cfg.nickname,
      uid: this.uid,
      port: cfg.port,
      passwordKey: cfg.passwordKey,
      minVersion: Math.max(PROTOCOL_MIN_VERSION, cfg.minProtocolVersion ?? PROTOCOL_MIN_VERSION),
      maxVersion: Math.min(PROTOCOL_MAX_VERSION, cfg.maxProtocolVersion ?? PROTOCOL_MAX_VERSION),
    };
    this.limiter = new HandshakeLimiter(this.clock, { ...DEFAULT_HANDSHAKE_LIMITS, ...cfg.handshakeLimits });
    this.gossip = new Gossip({
      clock: this.clock,
      random: this.random,
      log: this.log,
      counters: this.counters,
      coalesceMs: this.t.deltaCoalesceMs,
      neighbours: () => this.byPeer.values(),
      peerCount: () => this.topo.size,
      changed: () => {
        for (const cb of this.gossipListeners) cb();
      },
    });
    let topologySender: GossipSender | undefined;
    this.topoCh = new TopologyChannel(
      { name: cfg.name, nickname: cfg.nickname, uid: this.uid, version: cfg.epoch ?? Date.now(), conns: [] },
      { gossip: () => topologySender?.gossip(), changed: () => this.afterTopologyChange() },
      cfg.recordPool,
    );
    this.topo = this.topoCh.topo;
    topologySender = this.registerChannel(this.topoCh);
    this.lastPeersSignature = this.peersSignature();
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Listen, and start the anti-entropy rounds. With `open: false`, inbound
   * (and outbound) connections wait unstarted until open(): the daemon binds
   * its port first, then registers its components' channels, then opens, so
   * that every connection's first exchange carries the full state of every channel.
   */
  async start(opts: { open?: boolean } = {}): Promise<void> {
    this.opened = opts.open ?? true;
    await this.cfg.transport.listen((stream) => this.accept(stream));
    this.scheduleAntiEntropy();
    this.scheduleHeartbeats();
    this.log.info('router started', { nickname: this.nickname, uid: this.uid, port: this.cfg.port, encrypted: this.cfg.passwordKey !== undefined });
  }

  /** Start the connections held since start({ open: false }), and every later one at once. */
  open(): void {
    if (this.opened || this.stopped) return;
    this.opened = true;
    for (const c of this.held.splice(0)) if (c.state !== 'closed') c.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.clearTimeout(this.antiEntropyTimer);
    this.clock.clearTimeout(this.heartbeatTimer);
    this.clock.clearTimeout(this.topologyTimer);
    this.clock.clearTimeout(this.graceTimer);
    this.gossip.stop();
    for (const t of this.targetMap.values()) this.clock.clearTimeout(t.timer);
    for (const c of this.held.splice(0)) {
      this.conns.delete(c);
      c.stream.close();
    }
    for (const c of [...this.conns]) {
      c.send({ t: 'bye', reason: 'peer shutting down' });
      c.close('router stopping');
    }
    await this.cfg.transport.close();
    this.log.info('router stopped');
  }

  // ------------------------------------------------------------------ targets

  /** Normalise "host" or "host:port" to "host:port". */
  normaliseTarget(target: string): string {
    const t = target.trim();
    if (!t) throw new Error('empty peer address');
    if (t.startsWith('[')) return t.includes(']:') ? t : `${t}:${this.cfg.port}`;
    const colons = t.split(':').length - 1;
    if (colons === 0) return `${t}:${this.cfg.port}`;
    if (colons === 1) {
      const port = Number(t.split(':')[1]);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid port in peer address "${target}"`);
      return t;
    }
    return `[${t}]:${this.cfg.port}`;
  }

  connect(targets: string[], opts: { replace?: boolean } = {}): void {
    const wanted = targets.map((t) => this.normaliseTarget(t));
    if (opts.replace) {
      for (const t of [...this.targetMap.values()]) {
        if (t.origin === 'user' && !wanted.includes(t.address)) this.dropTarget(t, 'replaced');
      }
    }
    for (const address of wanted) {
      const existing = this.targetMap.get(address);
      if (existing) {
        existing.origin = 'user';
        continue;
      }
      const t: Target = { address, origin: 'user', attempts: 0, dialing: false, failedPermanently: false };
      this.targetMap.set(address, t);
      this.log.info('target added', { target: address });
      this.scheduleDial(t, 0);
    }
    this.emitTargets();
  }

  forget(targets: string[]): void {
    for (const raw of targets) {
      const t = this.targetMap.get(this.normaliseTarget(raw));
      if (t) this.dropTarget(t, 'forgotten');
    }
    this.emitTargets();
  }

  userTargets(): string[] {
    return [...this.targetMap.values()].filter((t) => t.origin === 'user').map((t) => t.address);
  }

  private dropTarget(t: Target, why: string): void {
    this.clock.clearTimeout(t.timer);
    this.targetMap.delete(t.address);
    for (const c of this.conns) if (c.target === t.address) c.close(`target ${why}`);
    this.log.info(`target ${why}`, { target: t.address });
  }

  private scheduleDial(t: Target, delayMs: number): void {
    if (this.stopped) return;
    this.clock.clearTimeout(t.timer);
    t.nextAttemptAt = this.clock.now() + delayMs;
    t.timer = this.clock.setTimeout(() => this.dial(t), delayMs);
  }

  private dial(t: Target): void {
    t.timer = undefined;
    t.nextAttemptAt = undefined;
    if (this.stopped || this.targetMap.get(t.address) !== t || t.dialing) return;
    if (t.peer && this.byPeer.has(t.peer)) return; // already connected to that peer another way
    if (t.origin === 'discovered' && this.byPeer.size >= this.connLimit) {
      // At the limit we dial no more peers we merely learnt of; routed gossip reaches them.
      this.targetMap.delete(t.address);
      return;
    }
    if (t.origin === 'discovered' && this.inboundHandshakeFrom(t.address)) {
      // That peer is dialling us right now (its handshake outlasted our yield: a loaded
      // machine, a slow link). A second connection would be a duplicate to close, and the
      // close, racing the other end, often costs both ends a lost connection and two
      // topology versions everywhere. Look again once that handshake has had its time.
      this.scheduleDial(t, this.t.discoveredDialYieldMs);
      return;
    }
    if (t.peer && this.looksFull(t.peer) && this.topo.reaches(t.peer)) {
      // A named peer we already reach through the mesh, at its limit: it would
      // refuse us, and each accepted-then-refused connection costs the whole
      // mesh two topology versions. Look again later.
      t.attempts++;
      t.lastError = 'peer is at its connection limit; reached through the mesh';
      this.scheduleDial(t, backoffDelay(t.attempts, this.t.backoffBaseMs, this.t.backoffMaxMs, this.random));
      return;
    }
    t.dialing = true;
    t.attempts++;
    this.cfg.transport.dial(t.address).then(
      (stream) => {
        t.dialing = false;
        if (this.stopped || this.targetMap.get(t.address) !== t) {
          stream.close();
          return;
        }
        this.startConnection(new Connection(stream, true, this.newConnId(), this.identity, this.clock, this.t, this.log, this.events, t.address));
      },
      (err: Error) => {
        t.dialing = false;
        this.targetFailed(t, err.message, false, false);
      },
    );
  }

  private targetFailed(t: Target, reason: string, permanent: boolean, longLived: boolean): void {
    if (this.stopped || this.targetMap.get(t.address) !== t) return;
    t.lastError = reason;
    t.failedPermanently = permanent;
    if (t.peer && this.byPeer.has(t.peer)) return; // the peer is still connected through another connection
    if (longLived) t.attempts = 0;
    const delay = longLived ? 0 : permanent ? this.t.backoffMaxMs : backoffDelay(t.attempts, this.t.backoffBaseMs, this.t.backoffMaxMs, this.random);
    this.scheduleDial(t, delay);
  }

  targets(): TargetStatus[] {
    const now = this.clock.now();
    return [...this.targetMap.values()].map((t) => {
      const connected = t.peer !== undefined && this.byPeer.has(t.peer);
      const state = connected ? 'established' : t.dialing || this.handshaking(t.address) ? 'connecting' : t.failedPermanently ? 'failed' : 'retrying';
      const s: TargetStatus = { address: t.address, origin: t.origin, state, attempts: t.attempts };
      if (t.peer) s.peer = t.peer;
      if (!connected && t.lastError) s.lastError = t.lastError;
      if (!connected && t.nextAttemptAt !== undefined) s.retryInMs = Math.max(0, Math.round(t.nextAttemptAt - now));
      return s;
    });
  }

  private handshaking(address: string): boolean {
    for (const c of this.conns) if (c.target === address && c.state !== 'established') return true;
    return false;
  }

  /** An inbound connection from that target's host is still in its handshake. */
  private inboundHandshakeFrom(address: string): boolean {
    const host = hostOf(address);
    for (const c of this.conns) if (!c.outbound && c.state !== 'established' && c.state !== 'closed' && hostOf(c.stream.remoteAddress) === host) return true;
    return false;
  }

  // -------------------------------------------------------------- connections

  private accept(stream: Parameters<Parameters<Transport['listen']>[0]>[0]): void {
    if (this.stopped || this.conns.size >= (this.cfg.connLimit ?? 100) * 2) {
      this.log.warn('refusing inbound connection: connection limit reached', { from: stream.remoteAddress });
      stream.close();
      return;
    }
    // An address whose handshakes keep failing waits: closed before our hello, so it gets no proof to guess at.
    const host = hostOf(stream.remoteAddress);
    if (this.limiter.blockedFor(host) > 0) {
      this.counters.handshakesThrottled++;
      this.logThrottled(this.limiter.refused(host));
      stream.close();
      return;
    }
    this.startConnection(new Connection(stream, false, this.newConnId(), this.identity, this.clock, this.t, this.log, this.events));
  }

  private startConnection(c: Connection): void {
    this.conns.add(c);
    if (this.opened) c.start();
    else this.held.push(c);
  }

  private readonly events = {
    onReady: (c: Connection) => this.connectionReady(c),
    onMessage: (c: Connection, m: Message, bytes: number) => this.receive(c, m, bytes),
    onClose: (c: Connection, reason: string, permanent: boolean) => this.connectionClosed(c, reason, permanent),
    onDrain: (c: Connection) => this.gossip.drained(c),
    onProtocolError: (c: Connection, reason: string) => {
      if (c.state === 'established') this.counters.framesRejected++;
      else this.counters.handshakesRejected++;
      // A failed inbound handshake is logged by the limiter, once per address per minute; each one only at debug.
      const quiet = !c.outbound && c.state !== 'established';
      this.log[quiet ? 'debug' : 'warn']('closing connection: protocol error', {
        remote: c.stream.remoteAddress,
        remotePeer: c.remote?.name,
        remoteNickname: c.remote?.nickname,
        reason,
      });
    },
  };

  /** The id both ends agree on for a connection: the initiator's. */
  private sharedConnId(c: Connection): string {
    return c.outbound ? c.connId : c.remote!.connId;
  }

  private connectionReady(c: Connection): void {
    const remote = c.remote!;
    if (c.target) {
      const t = this.targetMap.get(c.target);
      if (t) {
        t.peer = remote.name;
        t.failedPermanently = false;
      }
    }
    const limit = this.connLimit;
    const existing = this.byPeer.get(remote.name);
    if (!existing && this.byPeer.size >= limit && !this.mustKeep(c)) {
      this.refuse(c, `connection limit of ${limit} reached`);
      return;
    }
    if (existing) {
      if (existing.remote!.uid !== remote.uid) {
        this.refuse(c, `peer name ${remote.name} is already in use by a live peer with a different uid (${existing.remote!.uid}); refusing ${remote.nickname} uid ${remote.uid}`);
        return;
      }
      // Duplicate connection between the same pair: both ends keep the one
      // initiated by the peer with the lower name (then the lower id), so
      // they close the same one.
      const keepNew = this.preferred(c, existing);
      const loser = keepNew ? existing : c;
      this.log.info('closing duplicate connection', { remotePeer: remote.name, remoteNickname: remote.nickname, connId: this.sharedConnId(loser) });
      if (keepNew) this.byPeer.delete(remote.name);
      loser.close('duplicate connection');
      if (!keepNew) return;
    }
    this.byPeer.set(remote.name, c);
    this.log.info('connection established', {
      remotePeer: remote.name,
      remoteNickname: remote.nickname,
      remote: c.stream.remoteAddress,
      outbound: c.outbound,
      encrypted: c.encrypted,
      protocolVersion: c.version,
    });
    this.updateOwnRecord();
    // Bring the new neighbour up to date at once rather than at the next
    // anti-entropy round: by digest where both sides can (only what it lacks
    // crosses), else full state.
    this.gossip.antiEntropyWith(c);
    this.afterTopologyChange();
  }

  /**
   * Over the limit we still keep a connection to a target the user named, and
   * one from a peer we cannot reach any other way: refusing it would leave a
   * late joiner outside a mesh whose peers are all at their limit.
   */
  private mustKeep(c: Connection): boolean {
    if (c.outbound && c.target && this.targetMap.get(c.target)?.origin === 'user') return true;
    return !this.topo.reaches(c.remote!.name);
  }

  /** A peer with as many connections as our limit is probably at its own (the limit is usually the same mesh-wide). */
  private looksFull(peer: PeerName): boolean {
    return (this.topo.get(peer)?.conns.length ?? 0) >= this.connLimit;
  }

  private get connLimit(): number {
    return this.cfg.connLimit ?? 100;
  }

  private preferred(a: Connection, b: Connection): boolean {
    const initiator = (c: Connection) => (c.outbound ? this.name : c.remote!.name);
    const ia = initiator(a);
    const ib = initiator(b);
    if (ia !== ib) return ia < ib;
    return this.sharedConnId(a) < this.sharedConnId(b);
  }

  private refuse(c: Connection, reason: string): void {
    this.counters.handshakesRejected++;
    this.log.warn('refusing connection', { remotePeer: c.remote?.name, remoteNickname: c.remote?.nickname, remote: c.stream.remoteAddress, reason });
    c.send({ t: 'bye', reason });
    c.close(reason);
  }

  private connectionClosed(c: Connection, reason: string, permanent: boolean): void {
    this.conns.delete(c);
    this.gossip.forget(c);
    if (!c.outbound && !this.stopped) this.judgeInbound(c, reason);
    const name = c.remote?.name;
    const wasCurrent = name !== undefined && this.byPeer.get(name) === c;
    if (wasCurrent) {
      this.byPeer.delete(name);
      this.log.info('connection lost', { remotePeer: name, remoteNickname: c.remote?.nickname, reason });
      this.updateOwnRecord();
      this.afterTopologyChange();
    } else if (c.state !== 'established' && reason !== 'duplicate connection' && (c.outbound || !c.handshakeFailed)) {
      this.log.info('connection attempt failed', { remote: c.stream.remoteAddress, remotePeer: name, reason });
    }
    if (this.stopped) return;
    const lived = c.establishedAt > 0 && this.clock.now() - c.establishedAt >= this.t.longLivedMs;
    if (c.target) {
      const t = this.targetMap.get(c.target);
      if (t) this.targetFailed(t, reason, permanent, lived);
    }
    // Targets that reached this peer through another connection must redial now.
    if (wasCurrent) {
      for (const t of this.targetMap.values()) {
        if (t.peer === name && t.address !== c.target && !t.dialing && !t.timer) this.scheduleDial(t, 0);
      }
    }
  }

  /** Tell the limiter how an inbound handshake ended: a refused proof, a protocol error, or a proof taken and none given count against the address. */
  private judgeInbound(c: Connection, reason: string): void {
    const host = hostOf(c.stream.remoteAddress);
    if (c.establishedAt > 0) return this.limiter.succeeded(host);
    if (!c.handshakeFailed) return;
    this.logThrottled(this.limiter.failed(host), reason);
  }

  private logThrottled(line: LimiterLogLine | undefined, reason?: string): void {
    if (!line) return;
    this.log.warn('inbound handshakes failing from this address (logged at most once a minute per address)', {
      remote: line.host,
      failures: line.failures,
      failuresSinceLastLog: line.failuresSinceLastLog,
      refusedSinceLastLog: line.refusedSinceLastLog,
      ...(line.blockedForMs > 0 ? { slowedDownForMs: line.blockedForMs } : {}),
      ...(reason ? { lastReason: reason } : {}),
    });
  }

  connections(): ConnectionStatus[] {
    const now = this.clock.now();
    return [...this.conns].map((c) => ({
      peer: c.remote?.name ?? '',
      nickname: c.remote?.nickname ?? '',
      address: c.outbound ? (c.target ?? c.stream.remoteAddress) : c.stream.remoteAddress,
      outbound: c.outbound,
      state: c.state === 'established' ? 'established' : 'handshaking',
      upMs: c.establishedAt ? Math.round(now - c.establishedAt) : 0,
      connectionId: c.remote ? this.sharedConnId(c) : c.connId,
      info: [...(c.encrypted ? ['encrypted'] : []), ...((c.remote && this.connInfo.get(c.remote.name)) ?? [])],
    }));
  }

  setConnectionInfo(peer: PeerName, info: string[]): void {
    this.connInfo.set(peer, info);
  }

  // ----------------------------------------------------------------- topology

  private updateOwnRecord(): void {
    const conns = [...this.byPeer.values()].map((c) => ({ peer: c.remote!.name, address: c.remoteListenAddress, outbound: c.outbound }));
    this.topoCh.setOwnConnections(conns);
  }

  /**
   * Recompute reachability, discovery and listeners once per burst of
   * changes. (Routes asked for meanwhile are computed afresh: keeping the last
   * burst's saved few route walks but, at a conn-limit, decisions on stale
   * reachability made more connections come and go, and more gossip.)
   */
  private afterTopologyChange(): void {
    this.routeCache = undefined;
    if (this.topologyTimer || this.stopped) return;
    // Reachability is kept per record change (reachability.ts), but a burst
    // that adds or removes peers still costs an O(N) look at the peer list
    // for listeners: stretching the window with N keeps that work per second
    // flat as the mesh grows (100 ms up to 1,000 peers, 500 ms at 5,000).
    this.topologyTimer = this.clock.setTimeout(() => {
      this.topologyTimer = undefined;
      this.recomputeTopology();
    }, Math.max(this.t.topologySettleMs, this.topo.size / 10));
  }

  private recomputeTopology(): void {
    this.routeCache = undefined;
    // A peer is removed once it has been unreachable for a grace period, not
    // at once: while a mesh forms, a record often arrives before the other end
    // of its edge does, and removing it then would make the next copy look new
    // and be forwarded all over again.
    const now = this.clock.now();
    const unreachable = this.topo.unreachable();
    for (const name of this.unreachableSince.keys()) if (!unreachable.has(name)) this.unreachableSince.delete(name);
    for (const name of unreachable) if (!this.unreachableSince.has(name)) this.unreachableSince.set(name, now);
    const gone = this.topo.removeUnreachable((n) => now - (this.unreachableSince.get(n) ?? now) < this.t.unreachableGraceMs);
    if (gone.length) {
      for (const n of gone) {
        this.unreachableSince.delete(n);
        this.connInfo.delete(n);
        this.log.info('peer removed: unreachable', { removedPeer: n });
      }
    }
    const stillOver = this.shedOverLimit();
    if ((this.unreachableSince.size || stillOver) && !this.graceTimer && !this.stopped) {
      this.graceTimer = this.clock.setTimeout(() => {
        this.graceTimer = undefined;
        this.afterTopologyChange();
      }, this.t.unreachableGraceMs);
    }
    if (this.cfg.discovery !== false) this.discover();
    // Compared only when something may have changed: building it walks every record.
    const sig = this.topo.takeMembershipChange() ? this.peersSignature() : this.lastPeersSignature;
    if (this.peersChangedSince(this.lastPeersSignature, sig)) {
      this.lastPeersSignature = sig;
      for (const cb of this.peersListeners) cb();
    }
  }

  /**
   * Over the limit (connections kept because their peer was reachable no other
   * way, typically while a mesh launched all at once was still forming): close
   * connections that are not to a named target and whose peer has other links,
   * until back at the limit. Returns true if still over it (to look again later).
   * If that cut a peer off after all, it dials again and is let in as unreachable.
   */
  private shedOverLimit(): boolean {
    let excess = this.byPeer.size - this.connLimit;
    if (excess <= 0) return false;
    const named = new Set([...this.targetMap.values()].filter((t) => t.origin === 'user' && t.peer).map((t) => t.peer));
    for (const c of shuffle(this.random, [...this.byPeer.values()])) {
      if (excess <= 0) break;
      const peer = c.remote!.name;
      if (named.has(peer) || (this.topo.get(peer)?.conns.length ?? 0) < 2 || this.clock.now() - c.establishedAt < this.t.unreachableGraceMs) continue;
      this.log.info('closing a connection over the connection limit', { remotePeer: peer, remoteNickname: c.remote!.nickname, limit: this.connLimit });
      c.send({ t: 'bye', reason: `connection limit of ${this.connLimit} reached` });
      c.close('over the connection limit');
      excess--;
    }
    return excess > 0;
  }

  /**
   * Dial peers we learnt of through gossip but are not connected to. Only
   * the records that changed since the last look are searched (with those of
   * their neighbours, which hold the changed peers' addresses), unless our
   * own connections changed or the periodic round asks for a full look: a
   * search of every record after every burst of changes was, with the route
   * walk, most of a large mesh's work.
   */
  private discover(): void {
    const touched = this.topo.takeTouched();
    for (const t of [...this.targetMap.values()]) {
      if (t.origin === 'discovered' && (!t.peer || !this.topo.get(t.peer))) {
        this.clock.clearTimeout(t.timer);
        this.targetMap.delete(t.address);
      }
    }
    // Dial only up to the conn-limit, counting dials under way; in random order,
    // so that not every peer picks the same first few.
    let room = this.connLimit - this.byPeer.size;
    for (const t of this.targetMap.values()) if (t.origin === 'discovered' && !(t.peer && this.byPeer.has(t.peer))) room--;
    const all = this.discoverAll || touched.has(this.name);
    if (room <= 0) {
      // What changed meanwhile is not looked at: look at everything once there is room.
      this.discoverAll = true;
      return;
    }
    this.discoverAll = false;
    const targeted = new Set([...this.targetMap.values()].map((t) => t.peer).filter(Boolean));
    for (const rec of shuffle(this.random, all ? this.topo.all() : this.recordsAround(touched))) {
      if (room <= 0) break;
      for (const c of rec.conns) {
        if (room <= 0) break;
        if (c.peer === this.name || this.byPeer.has(c.peer) || targeted.has(c.peer) || !this.topo.get(c.peer)) continue;
        if (this.targetMap.has(c.address)) continue;
        if (this.looksFull(c.peer)) continue;
        room--;
        const t: Target = { address: c.address, origin: 'discovered', attempts: 0, dialing: false, failedPermanently: false, peer: c.peer };
        this.targetMap.set(c.address, t);
        targeted.add(c.peer);
        this.log.info('discovered peer', { discoveredPeer: c.peer, target: c.address, via: rec.name });
        this.scheduleDial(t, this.discoveredDialDelay(c.peer));
      }
    }
  }

  /** The records of these peers and of their neighbours (whose records carry the addresses of these). */
  private recordsAround(names: ReadonlySet<PeerName>): PeerRecord[] {
    const out = new Map<PeerName, PeerRecord>();
    for (const n of names) {
      const r = this.topo.get(n);
      if (!r) continue;
      out.set(n, r);
      for (const c of r.conns) {
        const o = this.topo.get(c.peer);
        if (o) out.set(c.peer, o);
      }
    }
    return [...out.values()];
  }

  /**
   * When to dial a peer we just learnt of. Both ends usually learn of each other
   * within the same gossip round, and a connection dialled both ways costs two
   * handshakes, a duplicate to close and two extra topology versions at every
   * peer (at 60 hosts launched at once, 4 in 10 connections were duplicates).
   * Duplicates keep the connection initiated by the lower name (preferred()), so
   * the lower name dials at once, with a little jitter, and the higher one waits
   * out about two handshakes first: by then it is usually connected, and dial()
   * skips a peer already connected. It still dials if the lower one did not
   * (at its limit, or not knowing us yet).
   */
  private discoveredDialDelay(peer: PeerName): number {
    const jitter = Math.round(this.random() * 200);
    return peer > this.name ? jitter : this.t.discoveredDialYieldMs + jitter;
  }

  /**
   * Membership and reachability (name -> uid and up/down): listeners hear of a
   * peer turning unreachable at once, not only when its record goes after the
   * grace. Compared entry by entry, without building a string, since it runs
   * after every burst of topology changes.
   */
  private peersSignature(): Map<PeerName, string> {
    const sig = new Map<PeerName, string>();
    for (const r of this.topo.all()) sig.set(r.name, this.topo.reaches(r.name) ? r.uid : `${r.uid}/down`);
    return sig;
  }

  private peersChangedSince(before: Map<PeerName, string>, now: Map<PeerName, string>): boolean {
    if (before.size !== now.size) return true;
    for (const [k, v] of now) if (before.get(k) !== v) return true;
    return false;
  }

  topology(): TopologyPeerStatus[] {
    return this.topo.all().map((r) => ({
      name: r.name,
      nickname: r.nickname,
      uid: r.uid,
      version: r.version,
      reachable: this.topo.reaches(r.name),
      connections: r.conns.map((c) => ({ peer: c.peer, address: c.address, outbound: c.outbound })),
    }));
  }

  /** The digest of our whole topology (record versions): equal on two peers means they agree. */
  topologyHash(): string {
    return this.topo.versions.hash();
  }

  peers(): PeerInfo[] {
    return this.topo.all().map((r) => ({ name: r.name, nickname: r.nickname, uid: r.uid, reachable: this.topo.reaches(r.name) }));
  }

  peerAddress(name: PeerName): string | undefined {
    const direct = this.byPeer.get(name);
    if (direct) return direct.remoteHost;
    for (const r of this.topo.all()) {
      const c = r.conns.find((x) => x.peer === name);
      if (c) return hostOf(c.address);
    }
    return undefined;
  }

  onPeersChanged(cb: () => void): () => void {
    this.peersListeners.add(cb);
    return () => this.peersListeners.delete(cb);
  }

  /** Any gossiped state changed: ours, or a peer's merged here (topology, IPAM, endpoints). */
  onGossipChanged(cb: () => void): () => void {
    this.gossipListeners.add(cb);
    return () => this.gossipListeners.delete(cb);
  }

  onTargetsChanged(cb: () => void): () => void {
    this.targetsListeners.add(cb);
    return () => this.targetsListeners.delete(cb);
  }

  private emitTargets(): void {
    for (const cb of this.targetsListeners) cb();
  }

  private routes(): Map<PeerName, PeerName> {
    this.routeCache ??= this.topo.routes();
    return this.routeCache;
  }

  // ------------------------------------------------------------------- gossip

  registerChannel(ch: GossipChannel): GossipSender {
    return this.gossip.register(ch, (to, payload) => this.unicast(ch.name, to, payload));
  }

  /** How many neighbours a gossip goes to: about 2·log2(N), all of them when few. */
  fanOutSize(): number {
    return this.gossip.fanOutSize();
  }

  private scheduleAntiEntropy(): void {
    const jittered = this.t.gossipIntervalMs * (0.8 + 0.4 * this.random());
    this.antiEntropyTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      this.gossip.antiEntropyRound();
      // Discovery looks at changed records only; once a round, at all of them (a dial that failed is tried again).
      this.discoverAll = true;
      if (this.cfg.discovery !== false) this.discover();
      this.scheduleAntiEntropy();
    }, jittered);
  }

  /**
   * One timer for every connection's heartbeat and timeout: an idle daemon
   * wakes twice per heartbeat interval for them all, not once per connection.
   * Ticking at half the interval keeps the timeout check fine-grained (a
   * silent peer goes within heartbeatTimeoutMs + heartbeatMs / 2) while each
   * connection still gets one heartbeat per interval. The ticks fall on
   * multiples of the half interval on every host alike (alignedDelay): an idle
   * daemon among 50 then takes its peers' heartbeats in a burst at its own
   * tick, not in about 50 separate wakeups per interval.
   */
  private scheduleHeartbeats(): void {
    this.heartbeatTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      for (const c of [...this.conns]) c.heartbeat();
      this.scheduleHeartbeats();
    }, alignedDelay(this.clock, this.t.heartbeatMs / 2));
  }

  private receive(c: Connection, m: Message, bytes: number): void {
    if (m.t === 'g' || m.t === 'u' || m.t === 'ah' || m.t === 'av') {
      this.counters.gossipMessagesReceived++;
      this.counters.gossipBytesReceived += bytes;
    }
    if (m.t === 'u') {
      if (m.r === this.name) this.gossip.deliverUnicast(c, m.c, m.s, m.d);
      else if (m.ttl > 0) this.forwardUnicast({ ...m, ttl: m.ttl - 1 });
      return;
    }
    if (m.t === 'proof') {
      this.refuse(c, 'unexpected password proof after handshake');
      return;
    }
    this.gossip.receive(c, m);
  }

  private unicast(channel: string, to: PeerName, payload: unknown): boolean {
    if (to === this.name || this.stopped) return false;
    return this.forwardUnicast({ t: 'u', c: channel, s: this.name, r: to, ttl: UNICAST_TTL, d: payload });
  }

  private forwardUnicast(m: Extract<Message, { t: 'u' }>): boolean {
    const hop = this.byPeer.has(m.r) ? m.r : this.routes().get(m.r);
    const c = hop ? this.byPeer.get(hop) : undefined;
    if (!c) return false;
    const bytes = c.send(m);
    this.gossip.countSent(bytes);
    return bytes > 0;
  }

  // -------------------------------------------------------------------- misc

  private newConnId(): string {
    return `${this.randomHex(4)}${(this.nextConnSeq++).toString(16).padStart(4, '0')}`;
  }

  private randomHex(bytes: number): string {
    let s = '';
    for (let i = 0; i < bytes; i++) s += Math.floor(this.random() * 256).toString(16).padStart(2, '0');
    return s;
  }
}
