/**
 * IPAM inside the daemon: loads persisted state, plugs the core into the mesh
 * as the `ipam` gossip channel, writes every change to the store before any
 * dependent message or reply leaves, and serves the allocation API.
 */
import { ApiError, optionalString, type ApiRouter } from '../api/http.js';
import { Histogram, LATENCY_BUCKETS, type MetricFamily } from '../api/metrics.js';
import type { StatusSection } from '../api/status.js';
import type { DaemonComponent } from '../daemon/component.js';
import type { Clock } from '../lib/clock.js';
import { formatCidr, intToIp, isIPv4, ipToInt, networkOf, type Cidr } from '../lib/ipv4.js';
import type { Logger } from '../lib/logger.js';
import type { Random } from '../lib/random.js';
import type { GossipSender } from '../mesh/gossip-channel.js';
import type { Router } from '../mesh/router.js';
import type { Store, StoreOp } from '../store/store.js';
import { describeState, Ipam, IpamError, type Allocated as Allocation, KEY_ALLOC_PREFIX, KEY_PAXOS, KEY_RANGE, KEY_RING, type IpamConfig } from './ipam.js';
import { ipamApiError } from './api-errors.js';
import { checkPersisted, type CheckedPersisted } from './persisted.js';
import { CONFLICT_WAY_OUT, formatConflicts, formatIpamPeers, ipamPeerRows } from './status.js';
// The plugin queues releases while the daemon is down; the daemon drains them.
import { drainPendingReleases, pendingReleaseDir, watchPendingReleases } from '../lib/plugin-state.js';

/** How soon a queued release that failed is tried again; and the poll where the queue cannot be watched. */
const CNI_DRAIN_RETRY_MS = 5_000;

function addrArg(text: string): number {
  const a = text.split('/')[0]!;
  if (!isIPv4(a)) throw new ApiError(400, `"${text}" is not an IPv4 address`);
  return ipToInt(a);
}

/** What other layers add to an allocation answer (the data plane: gateway and MTU). */
export interface AllocationDecorator {
  gatewayFor(subnet: Cidr): string | undefined;
  mtu(): number | undefined;
}

export class IpamComponent implements DaemonComponent {
  readonly name = 'ipam';
  private ipam?: Ipam;
  private readonly allocationLatency = new Histogram(LATENCY_BUCKETS);
  private sender?: GossipSender;
  private chain: Promise<void> = Promise.resolve();
  /** Operations whose write failed, written first with the next batch. */
  private unwritten: StoreOp[] = [];
  private unsubscribe?: () => void;
  private drainTimer?: NodeJS.Timeout;
  private stopWatchingReleases?: () => void;
  private pollTimer?: NodeJS.Timeout;
  private stopped = false;
  /** A drain is under way / another was asked for meanwhile (one at a time, none lost). */
  private draining = false;
  private drainAgain = false;
  /** Queued releases wait for the ring; the first write after it is initialised drains them. */
  private drainedWithRing = false;

  constructor(
    private readonly cfg: IpamConfig,
    private readonly router: Router,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly log: Logger,
    /** The CNI plugin's state dir, whose queued releases this daemon applies. */
    private readonly cniStateDir?: string,
    /** What the daemon adds to an allocation answer (gateway and MTU, from the data plane); handed in, not set by it. */
    private readonly decorator?: AllocationDecorator,
  ) {}

  get core(): Ipam {
    if (!this.ipam) throw new Error('IPAM not started');
    return this.ipam;
  }

  /**
   * Releases the CNI plugin queued on disk while the daemon was down
   * (<data dir>/cni/pending-release, the plugin's default state dir) are
   * applied at start, once the ring is initialised, and whenever the plugin
   * queues one (watched, so an idle daemon does no work for them); each entry
   * is removed only after its release is durable, and one that failed is
   * tried again a few seconds later.
   */
  private drainCniReleases(): void {
    // Stopped: a drain that ends after stop() must not start another on the stopped core.
    if (this.stopped || !this.cniStateDir || !this.ipam?.ring.initialised) return;
    this.drainedWithRing = true;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    void drainPendingReleases(pendingReleaseDir(this.cniStateDir), { release: async (owner) => void (await this.release(owner)) })
      .then((r) => {
        if (r.released.length) this.log.info('applied releases queued by the CNI plugin', { owners: r.released });
        for (const f of r.failed) this.log.warn('a queued CNI release failed; will retry', f);
        if (r.failed.length) this.retryDrainSoon();
      })
      .catch((e) => {
        this.log.warn('cannot read queued CNI releases', { error: String(e) });
        this.retryDrainSoon();
      })
      .finally(() => {
        this.draining = false;
        if (this.drainAgain) {
          this.drainAgain = false;
          this.drainCniReleases();
        }
      });
  }

  private retryDrainSoon(): void {
    if (this.drainTimer) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.drainCniReleases();
    }, CNI_DRAIN_RETRY_MS);
    this.drainTimer.unref();
  }

  async start(): Promise<void> {
    const persisted = await this.readPersisted();
    this.ipam = new Ipam(
      this.cfg,
      {
        self: this.router.name,
        nickname: this.router.nickname,
        clock: this.clock,
        epoch: Date.now() - Math.floor(this.clock.now()),
        random: this.random,
        log: this.log,
        peers: () => this.router.peers(),
        // Messages leave only after the writes queued before them are durable. While a write
        // fails (a full disk), nothing goes: a message is dropped (its sender asks again), and
        // gossip waits for the write that lands (persist), which gossips the whole delta then.
        send: (to, m) => {
          // A direct neighbour is reachable at once, before the mesh's reachability settles.
          const reachable =
            this.router.peers().some((p) => p.name === to && p.reachable) || this.router.connections().some((c) => c.peer === to && c.state === 'established');
          void this.chain.then(
            () => this.sender?.unicast(to, m),
            () => undefined,
          );
          return reachable;
        },
        gossip: () =>
          void this.chain.then(
            () => this.sender?.gossip(),
            () => undefined,
          ),
        persist: (ops) => this.persist(ops),
      },
      persisted,
    );
    await this.flushed();
    this.sender = this.router.registerChannel(this.ipam);
    this.sender.gossip();
    this.unsubscribe = this.router.onPeersChanged(() => this.ipam?.peersChanged());
    if (this.cniStateDir) {
      this.stopWatchingReleases = watchPendingReleases(pendingReleaseDir(this.cniStateDir), () => this.drainCniReleases());
      if (!this.stopWatchingReleases) {
        this.log.warn('cannot watch the CNI plugin\'s release queue; polling it', { everyMs: CNI_DRAIN_RETRY_MS });
        this.pollTimer = setInterval(() => this.drainCniReleases(), CNI_DRAIN_RETRY_MS);
        this.pollTimer.unref();
      }
    }
    this.drainCniReleases();
  }

  /** The state on disk, checked: a damaged one stops the start with the way out. */
  private async readPersisted(): Promise<CheckedPersisted> {
    try {
      const raw = {
        range: await this.store.get<unknown>(KEY_RANGE),
        ring: await this.store.get<unknown>(KEY_RING),
        paxos: await this.store.get<unknown>(KEY_PAXOS),
        allocations: (await this.store.entries<unknown>(KEY_ALLOC_PREFIX)).map(([k, v]) => [k.slice(KEY_ALLOC_PREFIX.length), v] as [string, unknown]),
      };
      return checkPersisted(raw, this.cfg.range);
    } catch (e) {
      throw new Error(
        `the IPAM state on disk is damaged (${(e as Error).message}); this host can no longer tell which of its addresses are in use, ` +
          'so it will not hand out any. To recover: run "overlay reset" and launch again (this host then joins as a new peer; ' +
          'its old space stays reserved, shown as unreachable, until "overlay rmpeer <old name>" on another host once the containers that used it are gone).',
      );
    }
  }

  /**
   * Writes go out in order. A write that fails (a full disk) is kept and tried
   * again with the next one, and until it lands flushed() fails: no reply may
   * promise an allocation that is not on disk.
   */
  private persist(ops: StoreOp[]): void {
    this.chain = this.chain
      .catch(() => undefined)
      .then(async () => {
        const batch = [...this.unwritten, ...ops];
        if (batch.length === 0) return;
        // Writes failed before this one: any gossip asked for since was held back (see send/gossip above).
        const afterFailure = this.unwritten.length > 0;
        try {
          await this.store.batch(batch);
          this.unwritten = [];
          if (afterFailure) this.sender?.gossip();
          if (!this.drainedWithRing && this.ipam?.ring.initialised) this.drainCniReleases();
        } catch (e) {
          this.unwritten = batch;
          throw e;
        }
      });
    this.chain.catch((e) => this.log.error('IPAM cannot write its state; will retry with the next write', { error: String(e) }));
  }

  /** Resolves when every change so far is on disk (retrying writes that failed before). */
  flushed(): Promise<void> {
    if (this.unwritten.length) this.persist([]);
    return this.chain;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.stopped = true;
    this.stopWatchingReleases?.();
    clearTimeout(this.drainTimer);
    clearInterval(this.pollTimer);
    this.ipam?.stop();
    await this.flushed().catch(() => undefined);
  }

  async reset(): Promise<void> {
    if (!this.ipam) return;
    const r = await this.ipam.handOver();
    await this.flushed().catch(() => undefined);
    if (r.to) this.log.info('IPAM space handed over before reset', { to: r.to, addresses: r.moved, acknowledged: r.acknowledged });
  }

  status(): StatusSection | undefined {
    if (!this.ipam) return undefined;
    const ipam = this.ipam;
    const owned = ipam.ownedSpans().reduce((n, s) => n + s.end - s.start, 0);
    return {
      title: 'IPAM',
      lines: [
        ['Status', describeState(ipam.state())],
        ['Range', formatCidr(this.cfg.range)],
        ['DefaultSubnet', formatCidr(this.cfg.defaultSubnet)],
        ['Owned', `${owned} addresses (${ipam.space.size} in use)`],
        ...this.conflictLines(),
      ],
    };
  }

  /** Status lines for addresses held twice: each with both owner ids, then the way out. */
  private conflictLines(): [string, string][] {
    const ipam = this.core;
    const conflicts = ipam.conflicts();
    const lines: [string, string][] = conflicts.map((c) => ['Conflict', `${intToIp(c.address)} held here by ${c.owner} and on ${ipam.describePeer(c.otherPeer)} by ${c.otherOwner}`]);
    if (conflicts.length) lines.push(['WayOut', CONFLICT_WAY_OUT]);
    const outside = ipam.heldOutsideOwnSpace();
    if (outside) lines.push(['HeldElsewhere', `${outside} addresses in use here lie in other peers' space (this peer was removed with \`overlay rmpeer\` while running)`]);
    return lines;
  }

  statusJson(): unknown {
    const ipam = this.core;
    return {
      state: ipam.state(),
      status: describeState(ipam.state()),
      range: formatCidr(this.cfg.range),
      defaultSubnet: formatCidr(this.cfg.defaultSubnet),
      ringId: ipam.ring.id,
      seeds: ipam.ring.seeds,
      consensus: ipam.consensusRecords(),
      peers: ipamPeerRows(ipam, this.router.peers()),
      conflicts: ipam.conflicts().map((c) => ({ address: intToIp(c.address), owner: c.owner, otherPeer: c.otherPeer, otherNickname: ipam.peerStats().get(c.otherPeer)?.nickname ?? '', otherOwner: c.otherOwner })),
      heldOutsideOwnSpace: ipam.heldOutsideOwnSpace(),
      waiting: ipam.waiting,
      askingSpaceFrom: ipam.askingSpaceFrom === undefined ? undefined : ipam.describePeer(ipam.askingSpaceFrom),
    };
  }

  async report(): Promise<unknown> {
    if (!this.ipam) return undefined;
    return {
      ...(this.statusJson() as object),
      ring: this.ipam.ring.spans().map((s) => ({ start: intToIp(s.start), end: intToIp(s.end - 1), peer: s.peer })),
      allocations: [...this.ipam.space.entries()].map(([owner, a]) => ({ owner, address: intToIp(a), subnet: this.ipam!.subnetOf(owner) })),
      waiting: this.ipam.waiting,
    };
  }

  metrics(): MetricFamily[] {
    if (!this.ipam) return [];
    const rows = ipamPeerRows(this.ipam, this.router.peers());
    const total = this.cfg.range.size;
    const unreachable = rows.filter((r) => !r.reachable).reduce((n, r) => n + r.owned, 0);
    const me = rows.find((r) => r.name === this.router.name);
    const gauge = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'gauge', samples: [{ value }] });
    return [
      gauge('overlay_ipam_ready', '1 when IPAM can allocate (ring initialised, no split)', this.ipam.state().state === 'ready' ? 1 : 0),
      gauge('overlay_ipam_addresses_in_use', 'Addresses allocated on this peer', this.ipam.space.size),
      gauge('overlay_ipam_addresses_owned', 'Addresses of the range owned by this peer', me?.owned ?? 0),
      gauge('overlay_ipam_unreachable_ratio', 'Share of the range owned by unreachable peers (0..1)', unreachable / total),
      gauge('overlay_ipam_pending_requests', 'Allocations waiting for consensus or space', this.ipam.waiting),
      gauge('overlay_ipam_conflicts', 'Addresses held both here and on another peer (after an rmpeer of a peer that was still running)', this.ipam.conflicts().length),
      { name: 'overlay_ipam_allocation_duration_seconds', help: 'Time an allocation took, waits for consensus or space included, failed ones too', type: 'histogram', histogram: this.allocationLatency },
    ];
  }

  /**
   * Allocate (or claim, with ipText) for an owner, durable before it returns.
   * ipText may carry a prefix ("10.32.1.7/24"), which names the subnet too.
   * Used by the API and by other components (expose, attach).
   */
  async allocate(owner: string, subnetText?: string, ipText?: string): Promise<Allocation> {
    return this.allocationLatency.time(() => this.run(async () => {
      const subnet = this.resolveSubnet(subnetText, ipText);
      const address = await this.core.allocate(owner, subnet, ipText === undefined ? undefined : addrArg(ipText));
      return { owner, address, subnet };
    }));
  }

  /** The subnet a request means: the one named, else the one an "ip/prefix" lies in, else the default subnet. */
  resolveSubnet(subnetText?: string, ipText?: string): Cidr {
    if (ipText?.includes('/') && subnetText === undefined) {
      addrArg(ipText);
      try {
        subnetText = networkOf(ipText);
      } catch {
        throw new IpamError('invalid', `"${ipText}" is not an address with a prefix length, e.g. 10.32.1.7/24`);
      }
    }
    return this.core.subnetFor(subnetText);
  }

  get range(): Cidr {
    return this.cfg.range;
  }

  /** Release an owner's address (durable before it returns); the address, if it had one. */
  async release(owner: string): Promise<number | undefined> {
    return this.run(() => this.core.release(owner));
  }

  /** An allocation as the API shows it: address with prefix, subnet, gateway (when exposed), overlay MTU. */
  allocationJson(owner: string, addr: number, subnet: Cidr) {
    const gw = this.decorator?.gatewayFor(subnet);
    const mtu = this.decorator?.mtu();
    return { owner, address: `${intToIp(addr)}/${subnet.prefix}`, subnet: formatCidr(subnet), ...(gw ? { gateway: gw } : {}), ...(mtu ? { mtu } : {}) };
  }

  /** Run an API operation: wait until its writes are durable, map IPAM refusals to HTTP statuses. */
  private async run<T>(fn: () => Promise<T> | T): Promise<T> {
    try {
      const r = await fn();
      await this.flushed();
      return r;
    } catch (e) {
      throw ipamApiError(e);
    }
  }

  routes(api: ApiRouter): void {
    const str = optionalString;
    const owner = (body: unknown): string => {
      const o = str(body, 'owner');
      if (!o) throw new ApiError(400, '"owner" is required (for CNI: <container id>:<interface>)');
      return o;
    };

    api.add('GET', '/ipam/status', 'read', async () => {
      const st = this.core.state();
      if (st.state !== 'ready') throw new ApiError(503, `IPAM is not ready: ${describeState(st)}`);
      // Ready once what this peer was given (the ring, donated space) is on disk: the next ADD then waits only for its own write.
      await this.flushed().catch((e: unknown) => {
        throw new ApiError(503, `IPAM is not ready: cannot write its state (${String(e)})`);
      });
      return { json: { ready: true, status: 'ready' } };
    });
    api.add('GET', '/status/ipam', 'read', ({ wantsJson }) => {
      if (wantsJson) return { json: this.statusJson() };
      const conflicts = formatConflicts(this.core);
      return { text: formatIpamPeers(ipamPeerRows(this.core, this.router.peers()), this.cfg.range.size) + (conflicts ? `\n${conflicts}` : '') };
    });
    // Allocate (or claim with "ip"): {owner, subnet?, ip?}. "ip" may carry a prefix: "10.32.1.7/24" names the subnet too.
    api.add('POST', '/ipam/allocate', 'mutate', async ({ body }) => {
      const a = await this.allocate(owner(body), str(body, 'subnet'), str(body, 'ip'));
      return { json: this.allocationJson(a.owner, a.address, a.subnet) };
    });
    api.add('POST', '/ipam/release', 'mutate', ({ body }) =>
      this.run(() => {
        const ipText = str(body, 'ip');
        if (ipText !== undefined) {
          const ownerOf = this.core.releaseAddress(addrArg(ipText));
          return { json: { released: ownerOf !== undefined, owner: ownerOf } };
        }
        const addr = this.core.release(owner(body));
        return { json: { released: addr !== undefined, address: addr === undefined ? undefined : intToIp(addr) } };
      }),
    );
    api.add('GET', '/ipam/lookup', 'read', ({ query }) => {
      const o = query.get('owner');
      if (!o) throw new ApiError(400, 'lookup needs ?owner=<id>');
      const addr = this.core.lookup(o);
      if (addr === undefined) throw new ApiError(404, `no address is allocated to ${o}`);
      const subnet = this.core.subnetFor(this.core.subnetOf(o));
      return { json: this.allocationJson(o, addr, subnet) };
    });
    api.add('GET', '/ipam/allocations', 'read', () => ({
      json: [...this.core.space.entries()].map(([o, a]) => ({ owner: o, address: intToIp(a) })).sort((x, y) => (x.owner < y.owner ? -1 : 1)),
    }));
    api.add('POST', '/ipam/rmpeer', 'mutate', ({ body }) =>
      this.run(async () => {
        // One peer as "peer" (its result as the reply), or several removed together as "peers".
        const one = str(body, 'peer');
        const many = (body as Record<string, unknown> | undefined)?.['peers'];
        if ((one === undefined) === (many === undefined)) throw new ApiError(400, 'give "peer" (a name) or "peers" (a list of names)');
        // How many may be named is the core's rule (an IpamError 'invalid', hence 400 as well).
        if (many !== undefined && (!Array.isArray(many) || !many.every((p) => typeof p === 'string' && p.length > 0)))
          throw new ApiError(400, '"peers" must be a list of peer names');
        if (one === '') throw new ApiError(400, '"peer" must not be empty');
        const force = (body as Record<string, unknown> | undefined)?.['force'] ?? false;
        if (typeof force !== 'boolean') throw new ApiError(400, '"force" must be true or false');
        const names = one !== undefined ? [one] : (many as string[]);
        const results = await this.core.rmpeer(names, { force });
        // Several names may resolve to one peer: each result names the peer removed, not what was typed.
        const removed = results.map((r) => ({ name: r.peer, moved: r.moved, inUse: r.inUse, message: r.message }));
        return { json: one !== undefined ? { peer: one, ...removed[0] } : { removed, message: removed.map((r) => r.message).join('\n') } };
      }),
    );
  }
}
