/**
 * The data plane inside the daemon. It owns the bridge, the VXLAN device,
 * the VXLAN FDB and the NAT table, and keeps them matching what gossip says:
 *
 *  - reconcile() is the only writer: it repairs devices, publishes this
 *    peer's endpoint record (underlay address, bridge MAC, local MACs), and
 *    programs the FDB for reachable peers. It runs on start, on topology and
 *    endpoint changes, on FDB events on the bridge, and every reconcileMs.
 *  - expose/hide give the host addresses on the overlay (allocated by IPAM)
 *    and masquerade; attach/detach put a named netns on the bridge.
 *  - a prober checks the VXLAN path to every peer at full MTU.
 */
import { ApiError, optionalString, type ApiRouter } from '../api/http.js';
import { Histogram, LATENCY_BUCKETS, type MetricFamily } from '../api/metrics.js';
import { formatSection, type StatusSection } from '../api/status.js';
import type { DaemonComponent } from '../daemon/component.js';
import type { IpamComponent } from '../ipam/component.js';
import { IpamError } from '../ipam/ipam.js';
import { formatCidr, intToIp, isIPv4, networkOf, type Cidr } from '../lib/ipv4.js';
import type { Logger } from '../lib/logger.js';
import type { PeerName } from '../lib/peer-name.js';
import type { GossipSender } from '../mesh/gossip-channel.js';
import type { Router } from '../mesh/router.js';
import type { Store } from '../store/store.js';
import { SysError } from '../sys/exec.js';
import { bridgeBatch, fdbShow } from '../sys/fdb.js';
// The plugin owns its attachment files; the daemon only reads them for `overlay ps`.
import { FileAttachmentStore } from '../../cni/state.js';
import { addrs, ipBatch, links } from '../sys/ip.js';
import { setSysctl } from '../sys/sysctl.js';
import { listTable } from '../sys/nft.js';
import { attach, detach, inspect, InterfaceExistsError, NetnsNotFoundError, type AttachedPort, type AttachRequest, type PortPlan } from './attach.js';
import type { DataplaneConfig } from './config.js';
import { detectUnderlay, ensureDevices, linkLocal, overlayMtu, reattachPorts, type Underlay } from './devices.js';
import { EndpointTable } from './endpoints.js';
import { desiredFdb, planFdb, remoteEntries } from './fdb-plan.js';
import { bridgeMacFor, HOST_VETH_RE, hostVethName, isValidMac, randomMac, RETIRED_RE } from './names.js';
import { RetiredPorts } from './retired-ports.js';
import { ISOLATION_FAMILY, ISOLATION_TABLE, type IsolatedPort } from './isolation.js';
import { IsolatedPorts } from './isolated-ports.js';
import { applyNat, NAT_FAMILY, NAT_TABLE } from './nat.js';
import { recordDeviceNames, removeDataplane, type DeviceNames } from './teardown.js';
import { EventMonitor } from './monitor.js';
import { describeProbe, PathProber, type ProbeResult } from './probe.js';
import { EncryptedPaths } from './encrypted-paths.js';
import { GUARD_TABLE } from './wireguard.js';

/** What a port attach asks for: the netns, interface and address (already allocated), and whether to isolate it. */
export type PortRequest = Omit<AttachRequest, 'bridge' | 'mtu' | 'beforeUp' | 'filter'> & { mtu?: number; isolate: boolean };

const KEY_EXPOSE_PREFIX = 'dataplane/expose/';
const KEY_ATTACH_PREFIX = 'dataplane/attach/';
const PROBE_EVERY_MS = 10_000;
const PROBE_RETRY_MS = 2_000;

interface Exposure {
  /** The host's address on the overlay, with the subnet prefix. */
  address: string;
  masquerade: boolean;
}

export interface AttachedEntry {
  /** Container id (CNI), netns name (`overlay attach`) or overlay:expose. */
  id: string;
  ifname: string;
  mac: string;
  addresses: string[];
  netns?: string;
  hostVeth?: string;
  source: string;
}

interface AttachRecord {
  netns: string;
  ifname: string;
  address: string;
  hostVeth: string;
  mac: string;
}

export class DataplaneComponent implements DaemonComponent {
  readonly name = 'dataplane';
  private readonly table: EndpointTable;
  private readonly bridgeMac: string;
  private readonly prober: PathProber;
  private readonly admitLatency = new Histogram(LATENCY_BUCKETS);
  private sender?: GossipSender;
  private unsubscribe?: () => void;
  private readonly monitors: EventMonitor[] = [];
  private ticker?: NodeJS.Timeout;
  private probeTimer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private readonly partsDue = new Set<string>();
  private parts: Promise<unknown> = Promise.resolve();
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private underlay?: Underlay;
  private mtu: number;
  private readonly exposed = new Map<string, Exposure>();
  private readonly isolated: IsolatedPorts;
  private readonly retired: RetiredPorts;
  /** Attaches running now, by host veth: registered, but not in any link list yet, and what a racing detach waits for. */
  private readonly attachInFlight = new Map<string, Promise<unknown>>();
  private readonly probes = new Map<PeerName, ProbeResult>();
  /** With encryption: our WireGuard key pair, how each reachable peer is reached, and how the device was made. */
  private readonly encryption?: EncryptedPaths;
  private fdbEntries = 0;
  private repairs = 0;
  private reconcileErrors = 0;
  private lastError?: string;
  private readonly epoch = Date.now();

  constructor(
    private readonly cfg: DataplaneConfig,
    private readonly router: Router,
    private readonly ipam: IpamComponent,
    private readonly store: Store,
    private readonly log: Logger,
    /** The CNI plugin's state dir, to list its attachments in `overlay ps`. */
    private readonly cniStateDir?: string,
  ) {
    this.bridgeMac = bridgeMacFor(router.name);
    const repaired = (what: string) => {
      this.repairs++;
      this.log.warn('data plane repaired', { fixed: [what] });
    };
    this.isolated = new IsolatedPorts(store, log, { bridgeMac: this.bridgeMac, range: formatCidr(ipam.range) }, repaired);
    this.retired = new RetiredPorts(log);
    if (cfg.wireguard) this.encryption = new EncryptedPaths(cfg.wireguard, cfg.port, log, repaired);
    this.table = new EndpointTable(router.name, () => {
      this.schedule();
      this.probeSoon();
    });
    this.prober = new PathProber(cfg.bridge);
    this.mtu = overlayMtu(cfg);
  }

  async start(): Promise<void> {
    await recordDeviceNames(this.store, this.deviceNames()); // so a reset without a running daemon can remove them
    for (const [k, v] of await this.store.entries<Exposure>(KEY_EXPOSE_PREFIX)) this.exposed.set(k.slice(KEY_EXPOSE_PREFIX.length), v);
    await this.isolated.load();
    try {
      await this.reconcileOnce(true);
    } catch (e) {
      throw new Error(`cannot set up the data plane: ${(e as Error).message}`);
    }
    this.ipam.decorator = { gatewayFor: (s) => this.gatewayFor(s), mtu: () => this.mtu };
    this.sender = this.router.registerChannel(this.table);
    this.sender.gossip();
    this.unsubscribe = this.router.onPeersChanged(() => {
      this.schedule();
      this.probeSoon();
    });
    this.watchKernel();
    this.ticker = setInterval(() => this.schedule(0), this.cfg.reconcileMs);
    this.ticker.unref();
    this.probeSoon();
  }

  /**
   * Kernel events that need action before the next periodic pass: FDB changes on the bridge
   * (a container came or went), removals in our nftables tables (someone flushed the
   * ruleset, or a firewall reload did) and of our ports' tc filters: isolation is checked
   * and restored at once.
   */
  private watchKernel(): void {
    const bridgeEvents = new EventMonitor('bridge monitor fdb', (lines) => {
      // Our own FDB writes on the VXLAN device echo back here; only bridge-port changes matter.
      if (lines.some((l) => l.includes(`master ${this.cfg.bridge}`) && !l.includes(`dev ${this.cfg.vxlanDev} `))) this.soon('publish');
    });
    const nftEvents = new EventMonitor('nft monitor', (lines) => {
      const removed = lines.filter((l) => l.startsWith('delete ') || l.startsWith('flush '));
      if (removed.some((l) => l.includes(ISOLATION_TABLE))) this.isolated.checkNow();
      if (removed.some((l) => l.includes(NAT_TABLE) || l.includes(GUARD_TABLE))) this.schedule(0);
    });
    // A port's tc filter or its clsact qdisc removed by hand: put it back now, not at the next pass.
    const tcEvents = new EventMonitor('tc monitor', (lines) => {
      if (lines.some((l) => l.startsWith('deleted ') && this.isolated.has(/ dev (\S+)/.exec(l)?.[1] ?? ''))) this.soon('isolation');
    });
    for (const m of [bridgeEvents, nftEvents, tcEvents]) {
      m.start();
      this.monitors.push(m);
    }
  }

  /**
   * One part of a pass, soon, for an event that needs only that part: a container came or
   * went (announce this host's MACs), a port's filter was removed (check isolation). Each
   * costs a process or three, where a whole pass costs a dozen; under container churn that
   * is what keeps the API (a CNI ADD's one call) answering in a millisecond or two. Parts
   * run one at a time; triggers within the delay are served by one run.
   */
  private soon(part: 'publish' | 'isolation', delayMs = 50): void {
    if (this.stopped || this.partsDue.has(part)) return;
    this.partsDue.add(part);
    setTimeout(() => {
      this.partsDue.delete(part);
      this.parts = this.parts
        .then(() => (this.stopped ? undefined : part === 'publish' ? this.publishEndpoint() : this.ensureIsolation(false)))
        .catch((e: unknown) => this.log.warn(`data plane ${part} failed; the next pass retries`, { error: String(e) }));
    }, delayMs).unref();
  }

  /** Coalesce bursts of triggers into one reconcile. */
  private schedule(delayMs = 50): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reconcile();
    }, delayMs);
  }

  /** Run reconcileOnce, one at a time; a request during a run causes one more run after it. */
  reconcile(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcileOnce(false);
          this.lastError = undefined;
        } catch (e) {
          this.reconcileErrors++;
          const msg = (e as Error).message;
          if (msg !== this.lastError) this.log.error('data plane reconcile failed', { error: msg });
          this.lastError = msg;
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private firstPeerAddress(): string | undefined {
    for (const c of this.router.connections()) {
      if (c.state !== 'established') continue;
      const host = c.address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      if (isIPv4(host)) return host;
    }
    return undefined;
  }

  private async reconcileOnce(initial: boolean): Promise<void> {
    if (this.stopped) return;
    this.underlay = (await detectUnderlay(this.cfg, this.firstPeerAddress())) ?? this.underlay;
    this.mtu = overlayMtu(this.cfg, this.underlay);
    const fixed = [...(await ensureDevices(this.cfg, this.mtu, this.bridgeMac)), ...(await reattachPorts(this.cfg))];
    if (fixed.length && !initial) {
      this.repairs += fixed.length;
      this.log.warn('data plane repaired', { fixed });
    }
    await this.ensureExposures(initial);
    await this.ensureIsolation(initial);
    await this.publishEndpoint();
    if (this.encryption) {
      const peers = this.router
        .peers()
        .filter((p) => p.reachable && p.name !== this.router.name)
        .map((p) => ({ name: p.name, record: this.table.get(p.name) }));
      const changed = await this.encryption.ensure({ ip: this.underlay?.ip, mtu: this.underlay?.mtu ?? 1500 }, peers, initial);
      for (const k of changed) this.showConnectionInfo(k);
    }
    await this.programFdb();
  }

  /** What `status connections` shows for a peer's data path: plain VXLAN when trusted, and the probe's verdict. */
  private showConnectionInfo(peer: PeerName): void {
    const trusted = this.encryption?.pathOf(peer) === 'trusted';
    this.router.setConnectionInfo(peer, [...(trusted ? ['trusted (plain vxlan)'] : []), describeProbe(this.probes.get(peer))]);
  }

  private async publishEndpoint(): Promise<void> {
    if (!this.underlay?.ip) return;
    const local = (await fdbShow({ br: this.cfg.bridge })).filter(
      (e) => e.master === this.cfg.bridge && e.ifname !== this.cfg.vxlanDev && e.ifname !== this.cfg.bridge && e.state !== 'permanent',
    );
    const changed = this.table.setOwn(
      {
        underlay: this.underlay.ip,
        bridgeMac: this.bridgeMac,
        linkLocal: await linkLocal(this.cfg.bridge),
        mtu: this.mtu,
        macs: local.map((e) => e.mac),
        ...this.encryption?.published(),
      },
      this.epoch,
    );
    if (changed) this.sender?.gossip();
  }

  private async programFdb(): Promise<void> {
    const remotes = this.router
      .peers()
      .filter((p) => p.reachable && p.name !== this.router.name && (!this.encryption || this.encryption.pathOf(p.name) !== undefined))
      .flatMap((p) => {
        const r = this.table.get(p.name);
        return r ? [{ underlay: r.underlay, macs: [r.bridgeMac, ...r.macs] }] : [];
      });
    const want = desiredFdb(remotes);
    const current = remoteEntries(await fdbShow({ dev: this.cfg.vxlanDev }));
    const lines = planFdb(this.cfg.vxlanDev, current, want);
    if (lines.length) {
      await bridgeBatch(lines);
      this.log.debug('FDB programmed', { changes: lines.length });
    }
    this.fdbEntries = want.length;
  }

  // ---- expose / hide ---------------------------------------------------------

  private gatewayFor(subnet: Cidr): string | undefined {
    const e = this.exposed.get(formatCidr(subnet));
    return e?.address.split('/')[0];
  }

  /** Bridge addresses and the NAT table as the exposures say; repairs what was removed by hand. */
  private async ensureExposures(initial: boolean): Promise<void> {
    const have = new Set((await addrs(this.cfg.bridge)).flatMap((l) => l.addr_info).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`));
    const missing = [...this.exposed.values()].filter((e) => !have.has(e.address));
    if (missing.length) {
      await ipBatch(missing.map((e) => `addr replace ${e.address} dev ${this.cfg.bridge}`));
      if (!initial) {
        this.repairs += missing.length;
        this.log.warn('data plane repaired', { fixed: missing.map((e) => `re-added ${e.address} to ${this.cfg.bridge}`) });
      }
    }
    if (this.exposed.size && (initial || missing.length || (await listTable(NAT_FAMILY, NAT_TABLE)) === undefined)) await this.applyNat();
  }

  private async applyNat(): Promise<void> {
    const masq = [...this.exposed.entries()].filter(([, e]) => e.masquerade).map(([subnet]) => ({ subnet }));
    await applyNat(this.cfg.bridge, formatCidr(this.ipam.range), masq);
    // Exposed hosts route between the overlay and the rest of the network.
    if (this.exposed.size) await setSysctl('net/ipv4/ip_forward', '1');
  }

  async expose(subnetText: string | undefined, ipText: string | undefined, masquerade: boolean): Promise<{ address: string; subnet: string }> {
    const subnet = this.ipam.resolveSubnet(subnetText, ipText);
    const key = formatCidr(subnet);
    const prev = this.exposed.get(key);
    const a = await this.ipam.allocate(`expose:${key}`, key, ipText);
    const address = `${intToIp(a.address)}/${subnet.prefix}`;
    const exposure = { address, masquerade };
    if (prev && prev.address !== address) await ipBatch([`addr del ${prev.address} dev ${this.cfg.bridge}`]).catch(() => undefined);
    this.exposed.set(key, exposure);
    await this.store.put(KEY_EXPOSE_PREFIX + key, exposure);
    await ipBatch([`addr replace ${address} dev ${this.cfg.bridge}`]);
    await this.applyNat();
    this.schedule(0);
    this.log.info('exposed', { address, masquerade });
    return { address, subnet: key };
  }

  /** Undo expose for one subnet (a CIDR or an address in it), or for all when none is given. */
  async hide(cidr?: string): Promise<string[]> {
    let keys = [...this.exposed.keys()];
    if (cidr !== undefined) {
      let c: string | undefined;
      try {
        c = cidr.includes('/') ? formatCidr(this.ipam.resolveSubnet(undefined, cidr)) : undefined;
      } catch {
        c = undefined;
      }
      keys = keys.filter((k) => {
        const e = this.exposed.get(k)!;
        return k === cidr || e.address === cidr || e.address.split('/')[0] === cidr || c === k;
      });
      if (keys.length === 0) throw new ApiError(404, `${cidr} is not exposed`);
    }
    const hidden: string[] = [];
    for (const k of keys) {
      const e = this.exposed.get(k)!;
      // Forget it before removing the address, so a concurrent repair never sees it "missing" and re-adds it.
      this.exposed.delete(k);
      await ipBatch([`addr del ${e.address} dev ${this.cfg.bridge}`]).catch((err: unknown) => {
        if (!(err instanceof SysError && /Cannot assign|not found/i.test(err.stderr))) throw err;
      });
      await this.store.batch([{ type: 'del', key: KEY_EXPOSE_PREFIX + k }]);
      await this.ipam.release(`expose:${k}`);
      hidden.push(e.address);
    }
    await this.applyNat();
    this.schedule(0);
    this.log.info('hidden', { addresses: hidden });
    return hidden;
  }

  // ---- isolation ---------------------------------------------------------------------

  /** Drop ports whose veth is gone; rebuild the table when ports changed or someone flushed it. */
  private async ensureIsolation(initial: boolean): Promise<void> {
    // A port registered while we list links is not in that list yet: only older ones may be pruned.
    const listedAt = Date.now();
    const present = new Set((await links()).map((l) => l.ifname));
    this.retired.destroy(present);
    await this.isolated.reconcile(present, listedAt, (v) => this.attachInFlight.has(v), initial);
  }

  // ---- ports: `overlay attach <netns>` (plugged in here) and the CNI plugin's (admitted here, plugged in by the plugin)

  /**
   * Plug a netns into the bridge with an address the caller already holds. With
   * isolation, the port's rules are installed while its veth is created, and the
   * container's link comes up only once they are in place.
   */
  async attachPort(req: PortRequest): Promise<AttachedPort> {
    if (req.mac !== undefined && !isValidMac(req.mac.toLowerCase())) throw new ApiError(400, `bad MAC address "${req.mac}": it must be a unicast MAC like 02:42:0a:20:00:05`);
    const hostVeth = hostVethName(req.netns, req.ifname);
    const run = this.plugIn(req, hostVeth);
    this.attachInFlight.set(hostVeth, run);
    try {
      return await run;
    } finally {
      if (this.attachInFlight.get(hostVeth) === run) this.attachInFlight.delete(hostVeth);
    }
  }

  private async plugIn(req: PortRequest, hostVeth: string): Promise<AttachedPort> {
    const mac = (req.mac ?? randomMac()).toLowerCase();
    const port: IsolatedPort = { hostVeth, mac, ip: req.address.split('/')[0]!, subnet: networkOf(req.address) };
    // A port of that name already registered may be a live attachment: touch its rules only once attach proves it is not.
    const early = req.isolate && !this.isolated.has(hostVeth);
    const rules = early ? this.isolated.register(port).then((r) => r.rules) : Promise.resolve();
    rules.catch(() => undefined); // awaited below; attach may fail first
    try {
      const filter = req.isolate ? this.isolated.filterFor(port) : undefined;
      const attached = await attach({ ...req, mac, bridge: this.cfg.bridge, mtu: req.mtu ?? this.mtu, beforeUp: rules, filter });
      await rules;
      if (req.isolate && !early) await (await this.isolated.register({ ...port, mac: attached.mac })).rules;
      if (req.isolate) this.isolated.touch(hostVeth);
      return attached;
    } catch (e) {
      if (early) await this.isolated.unregister(hostVeth);
      if (e instanceof NetnsNotFoundError) throw new ApiError(404, e.message);
      if (e instanceof InterfaceExistsError) throw new ApiError(409, e.message);
      throw e;
    }
  }

  /**
   * The daemon's half of a CNI ADD: the port's address (durable) and its isolation are
   * decided here, in one call; the plugin plugs the port in itself over netlink, with the
   * filter programs returned here on its host end before either end is up. The nftables
   * rules follow within milliseconds (the filters enforce the same policy meanwhile).
   */
  async admitPort(owner: string, req: { netns: string; ifname: string; subnet?: string; ip?: string; mac?: string; isolate: boolean }): Promise<PortPlan> {
    if (req.mac !== undefined && !isValidMac(req.mac.toLowerCase())) throw new ApiError(400, `bad MAC address "${req.mac}": it must be a unicast MAC like 02:42:0a:20:00:05`);
    const a = await this.ipam.allocate(owner, req.subnet, req.ip);
    const hostVeth = hostVethName(req.netns, req.ifname);
    const mac = (req.mac ?? randomMac()).toLowerCase();
    const plan: PortPlan = { ...this.ipam.allocationJson(owner, a.address, a.subnet), bridge: this.cfg.bridge, hostVeth, mac, mtu: this.mtu };
    if (!req.isolate) {
      await this.isolated.unregister(hostVeth); // a port of that name isolated before is not any more
      return plan;
    }
    const port: IsolatedPort = { hostVeth, mac, ip: intToIp(a.address), subnet: formatCidr(a.subnet) };
    const { rules } = await this.isolated.register(port);
    rules.catch((e: unknown) => this.log.warn('cannot append isolation rules; the next check rebuilds them', { hostVeth, error: String(e) }));
    return { ...plan, filter: this.isolated.filterFor(port, 'netlink') };
  }

  /**
   * The daemon's half of a CNI DEL (the plugin has taken the port down): the address goes,
   * and the port's rules; a retired port is destroyed after the answer. Idempotent.
   */
  async releasePort(owner: string, hostVeth?: string, retired?: string): Promise<{ released?: string }> {
    const addr = await this.ipam.release(owner);
    if (hostVeth) await this.isolated.unregister(hostVeth);
    if (retired) this.retired.destroy([retired]);
    return addr === undefined ? {} : { released: intToIp(addr) };
  }

  /** Idempotent: true when a veth was removed. */
  async detachPort(netns: string, ifname: string, hostVeth = hostVethName(netns, ifname)): Promise<boolean> {
    // A DEL racing the ADD it undoes (the runtime killed the plugin half-way) waits for that attach to end.
    await this.attachInFlight.get(hostVeth)?.catch(() => undefined);
    const removed = await detach(netns, ifname, hostVeth);
    await this.isolated.unregister(hostVeth);
    this.schedule(0);
    return removed;
  }

  async attachNetns(netnsArg: string, ifname: string, subnetText?: string, ipText?: string): Promise<AttachRecord & { gateway?: string }> {
    const netns = netnsPath(netnsArg);
    const owner = `attach:${netns}:${ifname}`;
    const existing = await this.store.get<AttachRecord>(KEY_ATTACH_PREFIX + `${netns}|${ifname}`);
    if (existing) {
      const now = await inspect(netns, ifname).catch(() => undefined);
      if (now?.addresses.includes(existing.address)) return existing;
    }
    const a = await this.ipam.allocate(owner, subnetText, ipText);
    const address = `${intToIp(a.address)}/${a.subnet.prefix}`;
    const gateway = this.gatewayFor(a.subnet);
    try {
      const port = await this.attachPort({ netns, ifname, address, routes: gateway ? [{ dst: 'default', gw: gateway }] : [], isolate: true });
      const rec: AttachRecord = { netns, ifname, address, hostVeth: port.hostVeth, mac: port.mac };
      try {
        await this.store.put(KEY_ATTACH_PREFIX + `${netns}|${ifname}`, rec);
      } catch (e) {
        await this.detachPort(netns, ifname, port.hostVeth).catch(() => undefined);
        throw e;
      }
      return { ...rec, ...(gateway ? { gateway } : {}) };
    } catch (e) {
      await this.ipam.release(owner).catch(() => undefined);
      throw e;
    }
  }

  async detachNetns(netnsArg: string, ifname: string): Promise<{ detached: boolean; released?: string }> {
    const netns = netnsPath(netnsArg);
    const rec = await this.store.get<AttachRecord>(KEY_ATTACH_PREFIX + `${netns}|${ifname}`);
    const detached = await this.detachPort(netns, ifname, rec?.hostVeth);
    const released = await this.ipam.release(`attach:${netns}:${ifname}`);
    await this.store.batch([{ type: 'del', key: KEY_ATTACH_PREFIX + `${netns}|${ifname}` }]);
    return { detached: detached || rec !== undefined, ...(released !== undefined ? { released: intToIp(released) } : {}) };
  }

  // ---- data path probes ----------------------------------------------------------

  private probeSoon(): void {
    if (this.stopped) return;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => void this.probeAll(), 1_000);
    this.probeTimer.unref();
  }

  private async probeAll(): Promise<void> {
    const peers = this.router.peers().filter((p) => p.reachable && p.name !== this.router.name);
    await Promise.all(
      peers.map(async (p) => {
        const rec = this.table.get(p.name);
        if (!rec?.linkLocal) return;
        const r = await this.prober.probe(rec.linkLocal, Math.min(this.mtu, rec.mtu));
        if (this.stopped) return; // cut short by stop(): not a verdict on the path
        const before = this.probes.get(p.name);
        this.probes.set(p.name, r);
        this.showConnectionInfo(p.name);
        if (!r.ok && (before?.ok ?? true)) this.log.warn('VXLAN data path check failed', { peer: p.name, nickname: p.nickname, reason: r.reason });
        if (r.ok && before && !before.ok) this.log.info('VXLAN data path recovered', { peer: p.name, nickname: p.nickname });
      }),
    );
    for (const name of [...this.probes.keys()]) if (!peers.some((p) => p.name === name)) this.probes.delete(name);
    if (this.stopped) return;
    // A failing path (or one whose peer has not published its endpoint yet) is checked again soon.
    const pending = peers.some((p) => !this.probes.get(p.name)?.ok);
    this.probeTimer = setTimeout(() => void this.probeAll(), pending ? PROBE_RETRY_MS : PROBE_EVERY_MS);
    this.probeTimer.unref();
  }

  // ---- ps and report ---------------------------------------------------------------------

  /** What is attached on this host, like `weave ps`: CNI containers, `overlay attach` namespaces, and the host itself if exposed. */
  async attached(): Promise<AttachedEntry[]> {
    const out: AttachedEntry[] = [];
    if (this.cniStateDir) {
      for (const r of await new FileAttachmentStore(this.cniStateDir, this.log).list())
        out.push({ id: r.containerId, ifname: r.ifname, mac: r.mac, addresses: [r.address], netns: r.netns, hostVeth: r.hostVeth, source: `cni:${r.network}` });
    }
    for (const [, r] of await this.store.entries<AttachRecord>(KEY_ATTACH_PREFIX))
      out.push({ id: r.netns.replace(/^\/run\/netns\//, ''), ifname: r.ifname, mac: r.mac, addresses: [r.address], netns: r.netns, hostVeth: r.hostVeth, source: 'attach' });
    if (this.exposed.size)
      out.push({ id: 'overlay:expose', ifname: this.cfg.bridge, mac: this.bridgeMac, addresses: [...this.exposed.values()].map((e) => e.address), source: 'expose' });
    return out;
  }

  async report(): Promise<unknown> {
    return {
      ...(this.statusJson() as object),
      containers: await this.attached(),
      isolatedPorts: this.isolated.list(),
      nftables: {
        [`${NAT_FAMILY} ${NAT_TABLE}`]: (await listTable(NAT_FAMILY, NAT_TABLE).catch((e: Error) => `error: ${e.message}`)) ?? null,
        [`${ISOLATION_FAMILY} ${ISOLATION_TABLE}`]: (await listTable(ISOLATION_FAMILY, ISOLATION_TABLE).catch((e: Error) => `error: ${e.message}`)) ?? null,
      },
      vxlanFdb: await fdbShow({ dev: this.cfg.vxlanDev }).catch(() => []),
    };
  }

  // ---- lifecycle, status, metrics, API ----------------------------------------------

  async stop(): Promise<void> {
    if (this.stopped) return this.running;
    this.stopped = true;
    this.unsubscribe?.();
    for (const t of [this.ticker, this.debounce, this.probeTimer]) if (t) clearTimeout(t);
    this.isolated.stop();
    for (const m of this.monitors) m.stop();
    this.prober.close();
    await Promise.all([this.running, this.retired.settle()]);
  }

  /** `overlay reset`: containers detached, host addresses hidden, devices and NAT table removed. */
  async reset(): Promise<void> {
    await this.stop(); // no reconcile may recreate what we remove
    for (const [, rec] of await this.store.entries<AttachRecord>(KEY_ATTACH_PREFIX)) await detach(rec.netns, rec.ifname, rec.hostVeth).catch(() => undefined);
    await removeDataplane(this.deviceNames());
  }

  private deviceNames(): DeviceNames {
    return { bridge: this.cfg.bridge, vxlanDev: this.cfg.vxlanDev, ...(this.cfg.wireguard ? { wireguardDev: this.cfg.wireguard.dev } : {}) };
  }

  status(): StatusSection {
    const reachable = this.router.peers().filter((p) => p.reachable && p.name !== this.router.name);
    const ok = reachable.filter((p) => this.probes.get(p.name)?.ok).length;
    return {
      title: 'Data plane',
      lines: [
        ['Bridge', `${this.cfg.bridge} (MTU ${this.mtu}, MAC ${this.bridgeMac})`],
        ['VXLAN', `${this.cfg.vxlanDev} VNI ${this.cfg.vni} UDP ${this.cfg.port}`],
        ['Underlay', this.underlay ? `${this.underlay.dev} ${this.underlay.ip ?? '(no address)'} MTU ${this.underlay.mtu}` : 'unknown'],
        ['FDB', `${this.fdbEntries} entries for ${reachable.length} peers`],
        ['Data path', `${ok} of ${reachable.length} peers verified at MTU ${this.mtu}`],
        ['WireGuard', this.encryption?.status() ?? 'off (no password: the data plane is not encrypted)'],
        ['Isolation', `${this.isolated.size} container ports (table ${ISOLATION_FAMILY} ${ISOLATION_TABLE}, and a tc filter on each port)`],
        ['Exposed', [...this.exposed.values()].map((e) => `${e.address}${e.masquerade ? '' : ' (no masquerade)'}`).join(', ') || 'no'],
        ...(this.lastError ? [['Last error', this.lastError] as [string, string]] : []),
      ],
    };
  }

  /** Per peer: where its VXLAN goes and what the last probe of the path found. */
  private peerRows(): { header: string[]; rows: string[][] } {
    const rows = this.router
      .peers()
      .filter((p) => p.name !== this.router.name)
      .map((p) => [`${p.name}(${p.nickname})`, p.reachable ? 'reachable' : 'unreachable', this.table.get(p.name)?.underlay ?? '-', describeProbe(this.probes.get(p.name))]);
    return { header: ['PEER', 'STATE', 'UNDERLAY', 'DATA PATH'], rows };
  }

  statusJson(): unknown {
    return {
      bridge: this.cfg.bridge,
      vxlan: { dev: this.cfg.vxlanDev, vni: this.cfg.vni, port: this.cfg.port },
      mtu: this.mtu,
      bridgeMac: this.bridgeMac,
      underlay: this.underlay,
      fdbEntries: this.fdbEntries,
      exposed: [...this.exposed.entries()].map(([subnet, e]) => ({ subnet, ...e })),
      probes: Object.fromEntries(this.probes),
      endpoints: Object.fromEntries(this.table.all()),
      encryption: this.encryption?.statusJson() ?? null,
      lastError: this.lastError,
    };
  }

  metrics(): MetricFamily[] {
    const nick = new Map(this.router.peers().map((p) => [p.name, p.nickname]));
    const probeSamples = (f: (r: ProbeResult) => number | undefined) =>
      [...this.probes.entries()].flatMap(([peer, r]) => {
        const value = f(r);
        return value === undefined ? [] : [{ labels: { peer, nickname: nick.get(peer) ?? '' }, value }];
      });
    return [
      { name: 'overlay_dataplane_fdb_entries', help: 'VXLAN FDB entries programmed for reachable peers', type: 'gauge', samples: [{ value: this.fdbEntries }] },
      { name: 'overlay_dataplane_repairs_total', help: 'Devices, addresses or rules found changed or missing and restored', type: 'counter', samples: [{ value: this.repairs }] },
      { name: 'overlay_dataplane_reconcile_errors_total', help: 'Reconcile runs that failed', type: 'counter', samples: [{ value: this.reconcileErrors }] },
      { name: 'overlay_dataplane_mtu_bytes', help: 'The overlay MTU', type: 'gauge', samples: [{ value: this.mtu }] },
      { name: 'overlay_vxlan_path_ok', help: '1 when a full-MTU probe to the peer over VXLAN got an answer', type: 'gauge', samples: probeSamples((r) => (r.ok ? 1 : 0)) },
      // A failed probe has no round-trip time: its peer has no sample rather than a 0.
      { name: 'overlay_vxlan_path_rtt_seconds', help: 'Round-trip time of the last probe, for peers whose last probe succeeded', type: 'gauge', samples: probeSamples((r) => (r.ok ? r.rttMs / 1000 : undefined)) },
      { name: 'overlay_cni_admit_duration_seconds', help: "Time the daemon took to answer the CNI plugin's ADD (admit a port: allocate, plan, persist)", type: 'histogram', histogram: this.admitLatency },
    ];
  }

  routes(api: ApiRouter): void {
    const str = optionalString;
    const ifnameOf = (body: unknown) => {
      const n = str(body, 'ifname') ?? 'ethwe';
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(n)) throw new ApiError(400, `bad interface name "${n}"`);
      return n;
    };
    const netnsOf = (body: unknown) => {
      const n = str(body, 'netns');
      if (!n) throw new ApiError(400, '"netns" is required (a name in /run/netns or a path)');
      return n;
    };
    const ipamErrors = async <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (e) {
        if (e instanceof IpamError) throw new ApiError(e.status, e.message);
        throw e;
      }
    };
    api.add('POST', '/expose', async ({ body }) => {
      const masq = (body as Record<string, unknown> | undefined)?.['masquerade'];
      if (masq !== undefined && typeof masq !== 'boolean') throw new ApiError(400, '"masquerade" must be true or false');
      return { json: await ipamErrors(() => this.expose(str(body, 'subnet'), str(body, 'ip'), masq !== false)) };
    });
    api.add('POST', '/hide', async ({ body }) => ({ json: { hidden: await this.hide(str(body, 'cidr')) } }));
    api.add('POST', '/attach', async ({ body }) => ({
      json: await ipamErrors(() => this.attachNetns(netnsOf(body), ifnameOf(body), str(body, 'subnet'), str(body, 'ip'))),
    }));
    api.add('POST', '/detach', async ({ body }) => ({ json: await this.detachNetns(netnsOf(body), ifnameOf(body)) }));
    api.add('GET', '/status/dataplane', ({ wantsJson }) => (wantsJson ? { json: this.statusJson() } : { text: formatSection(this.status(), this.peerRows()) }));
    api.add('GET', '/ps', async ({ wantsJson }) => {
      const list = await this.attached();
      if (wantsJson) return { json: list };
      return { text: list.map((e) => `${e.id} ${e.ifname} ${e.mac} ${e.addresses.join(' ')}`).join('\n') + (list.length ? '\n' : '') };
    });
    // The CNI plugin's ADD and DEL: the daemon decides and owns (and restores) the port's rules; the plugin plugs it in.
    const ownerOf = (body: unknown) => {
      const o = str(body, 'owner');
      if (!o) throw new ApiError(400, '"owner" is required (<container id>:<interface>)');
      return o;
    };
    api.add('POST', '/ports/admit', async ({ body }) => {
      const isolate = (body as Record<string, unknown> | undefined)?.['isolate'];
      if (isolate !== undefined && typeof isolate !== 'boolean') throw new ApiError(400, '"isolate" must be true or false');
      const req = { netns: netnsPath(netnsOf(body)), ifname: ifnameOf(body), subnet: str(body, 'subnet'), ip: str(body, 'ip'), mac: str(body, 'mac'), isolate: isolate !== false };
      return { json: await this.admitLatency.time(() => ipamErrors(() => this.admitPort(ownerOf(body), req))) };
    });
    api.add('POST', '/ports/release', async ({ body }) => {
      const hostVeth = str(body, 'hostVeth');
      if (hostVeth !== undefined && !HOST_VETH_RE.test(hostVeth)) throw new ApiError(400, '"hostVeth" must name a port this project created (ovl + 12 hex digits)');
      const retired = str(body, 'retired');
      if (retired !== undefined && !RETIRED_RE.test(retired)) throw new ApiError(400, '"retired" must name a retired port (ovr + 12 hex digits)');
      return { json: await ipamErrors(() => this.releasePort(ownerOf(body), hostVeth, retired)) };
    });
  }
}

/** A bare name means /run/netns/<name> (what `ip netns add` creates). */
export function netnsPath(arg: string): string {
  if (arg.includes('/')) return arg;
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(arg) || arg === '.' || arg === '..') throw new ApiError(400, `bad network namespace name "${arg}"`);
  return `/run/netns/${arg}`;
}
