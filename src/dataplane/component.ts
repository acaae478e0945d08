/**
 * The data plane inside the daemon: wiring, kernel events and the slow safety pass.
 * It owns the bridge, the VXLAN device, the VXLAN FDB, the NAT table and the isolation
 * of container ports, and keeps them matching what gossip says. At rest it starts no
 * process:
 *
 *  - gossip (endpoint records, peers) changes the wanted FDB in memory; the FDB
 *    programmer writes only the difference (one new MAC: one `bridge` line);
 *  - long-lived monitors (`ip monitor`, `bridge monitor`, `nft monitor`, `tc monitor`)
 *    report what changed in the kernel, and only that is looked at again: a device
 *    deleted by hand, a port plugged in or gone, an FDB entry or rule removed;
 *  - a slow safety pass (every reconcileMs, 60 s by default) reads everything in at most
 *    five processes whatever the number of peers or ports, and repairs what events missed;
 *  - path-probes.ts checks the VXLAN path to every peer at full MTU (raw sockets, no process)
 *    when it may have changed, and on a slow refresh (probe-schedule.ts).
 *
 * Our own writes come back as events; each event leads to a look, never to a write
 * unless something differs, so nothing re-triggers itself.
 */
import { Histogram, LATENCY_BUCKETS, type MetricFamily } from '../api/metrics.js';
import { formatSection, type StatusSection } from '../api/status.js';
import type { ApiRouter } from '../api/http.js';
import type { DaemonComponent } from '../daemon/component.js';
import type { IpamComponent } from '../ipam/component.js';
import { formatCidr, isIPv4 } from '../lib/ipv4.js';
import type { Logger } from '../lib/logger.js';
import type { PeerName } from '../lib/peer-name.js';
import type { GossipSender } from '../mesh/gossip-channel.js';
import type { Router } from '../mesh/router.js';
import type { Store } from '../store/store.js';
import { fdbShow } from '../sys/fdb.js';
import { addrs, links } from '../sys/ip.js';
import { listTable, listTableRules } from '../sys/nft.js';
import { dataplaneRoutes } from './api.js';
import type { DataplaneConfig } from './config.js';
import { detectUnderlay, ensureDevices, overlayMtu, reattachPorts, type Underlay } from './devices.js';
import { EncryptedPaths } from './encrypted-paths.js';
import { EndpointTable } from './endpoints.js';
import { Exposures } from './exposures.js';
import { GatewaysOnDemand } from './gateway.js';
import { desiredFdb } from './fdb-plan.js';
import { FdbProgrammer } from './fdb-programmer.js';
import { ISOLATION_FAMILY, ISOLATION_TABLE } from './isolation.js';
import { IsolatedPorts } from './isolated-ports.js';
import { parseFdbEvent, parseIpEvent, type AddrEvent, type FdbEvent, type LinkEvent } from './kernel-events.js';
import { EventMonitor } from './monitor.js';
import { bridgeMacFor, HOST_VETH_RE, RETIRED_RE } from './names.js';
import { NAT_FAMILY, NAT_TABLE } from './nat.js';
import { PortService } from './port-service.js';
import { pluginPlugger } from './plugin-attach.js';
import { builtPluginPath } from '../lib/self.js';
import { PortTable } from './ports.js';
import { PathProbes } from './path-probes.js';
import { describeProbe, type ProbeResult } from './probe.js';
import { RetiredPorts } from './retired-ports.js';
import { inetOf, linkLocalOf, readSnapshot, type KernelSnapshot } from './snapshot.js';
import { recordDeviceNames, removeDataplane, type DeviceNames } from './teardown.js';
import { GUARD_TABLE, WIREGUARD_TABLE } from './wireguard.js';
import { CniAttachments, type AttachedEntry } from './cni-attachments.js';
import type { Link } from '../sys/ip.js';

export type { AttachedEntry } from './cni-attachments.js';

/** A job an event asks for; each runs one at a time, and triggers within a few ms share one run. */
type Job = 'devices' | 'publish' | 'fdb' | 'exposures' | 'filters' | 'encryption' | 'underlay' | 'safety';

export class DataplaneComponent implements DaemonComponent {
  readonly name = 'dataplane';
  private readonly table: EndpointTable;
  private readonly bridgeMac: string;
  private readonly probes: PathProbes;
  private readonly admitLatency = new Histogram(LATENCY_BUCKETS);
  private sender?: GossipSender;
  private unsubscribe?: () => void;
  private readonly monitors: EventMonitor[] = [];
  private ticker?: NodeJS.Timeout;
  private readonly due = new Set<Job>();
  private jobs: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private underlay?: Underlay;
  /** Whether the underlay was found by the route to a peer (else it is looked for again once there is one). */
  private underlayViaPeer = false;
  private linkLocal?: string;
  private mtu: number;
  private readonly exposures: Exposures;
  private readonly isolated: IsolatedPorts;
  readonly ports: PortTable;
  readonly portService: PortService;
  private readonly retired: RetiredPorts;
  private readonly fdb: FdbProgrammer;
  /** MACs the bridge learnt on ports that are not ours (a hand-made veth, say): announced too. */
  private readonly learned = new Set<string>();
  /** With encryption: our WireGuard key pair, how each reachable peer is reached, and how the device was made. */
  private readonly encryption?: EncryptedPaths;
  private encryptionKey = '';
  private readonly cniAttachments?: CniAttachments;
  private repairs = 0;
  private safetyPasses = 0;
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
    cniStateDir?: string,
  ) {
    this.bridgeMac = bridgeMacFor(router.name);
    const repaired = (what: string) => {
      this.repairs++;
      this.log.warn('data plane repaired', { fixed: [what] });
    };
    this.isolated = new IsolatedPorts(log, { bridgeMac: this.bridgeMac, range: formatCidr(ipam.range) }, repaired);
    this.ports = new PortTable(store, this.isolated, log);
    this.retired = new RetiredPorts(log);
    this.exposures = new Exposures(cfg.bridge, ipam, store, log, repaired);
    const gateways = new GatewaysOnDemand({ isExposed: (s) => this.exposures.isExposed(s), expose: (s) => this.exposures.expose(s, undefined, true) });
    this.fdb = new FdbProgrammer(cfg.vxlanDev, repaired);
    if (cfg.wireguard) this.encryption = new EncryptedPaths(cfg.wireguard, cfg.port, log, repaired);
    if (cniStateDir) this.cniAttachments = new CniAttachments(cniStateDir, log);
    this.table = new EndpointTable(router.name, () => this.gossipChanged());
    this.probes = new PathProbes(cfg.bridge, router, this.table, () => this.mtu, (peer) => this.showConnectionInfo(peer), log, { refreshMs: cfg.probeRefreshMs });
    this.mtu = overlayMtu(cfg);
    this.portService = new PortService(
      {
        bridge: cfg.bridge,
        mtu: () => this.mtu,
        gatewayFor: (s) => this.exposures.gatewayFor(s),
        ensureGateway: (s) => gateways.ensure(s),
        portsChanged: () => this.soon('publish', 0),
      },
      this.ports,
      this.isolated,
      this.retired,
      ipam,
      log,
      pluginPlugger(builtPluginPath()),
    );
  }

  async start(): Promise<void> {
    await recordDeviceNames(this.store, this.deviceNames()); // so a reset without a running daemon can remove them
    await this.exposures.load();
    await this.ports.load();
    try {
      await this.findUnderlay();
      // Monitors first: a change while the first pass runs is not missed.
      this.watchKernel();
      await this.inTurn(() => this.safetyPass(true));
    } catch (e) {
      throw new Error(`cannot set up the data plane: ${(e as Error).message}`);
    }
    this.sender = this.router.registerChannel(this.table);
    this.sender.gossip();
    this.unsubscribe = this.router.onPeersChanged(() => this.gossipChanged(true));
    this.ticker = setInterval(() => this.soon('safety', 0), this.cfg.reconcileMs);
    this.ticker.unref();
    this.probes.recheckAll();
  }

  // ---- what starts work ---------------------------------------------------------------

  /** An endpoint record or the set of reachable peers changed: the FDB (in memory first), probes, encryption. */
  private gossipChanged(peers = false): void {
    if (peers && !this.underlayViaPeer) this.soon('underlay');
    if (this.encryption) this.soon('encryption');
    this.soon('fdb', 0);
    this.probes.pathsChanged();
  }

  private watchKernel(): void {
    const ipEvents = new EventMonitor('ip -o monitor link address rule', (lines) => {
      for (const l of lines) {
        const ev = parseIpEvent(l);
        if (ev?.kind === 'link') this.onLink(ev);
        else if (ev?.kind === 'addr') this.onAddr(ev);
        else if (ev?.kind === 'rule' && this.encryption && ev.deleted && ev.pref === WIREGUARD_TABLE) this.repairEncryption(); // the steering rule
      }
    });
    const bridgeEvents = new EventMonitor('bridge monitor fdb', (lines) => {
      for (const l of lines) {
        const ev = parseFdbEvent(l);
        if (ev) this.onFdb(ev);
      }
    });
    // Removals in our nftables tables (someone flushed the ruleset, or a firewall reload did).
    const nftEvents = new EventMonitor('nft monitor', (lines) => {
      const removed = lines.filter((l) => l.startsWith('delete ') || l.startsWith('flush '));
      if (removed.some((l) => l.includes(ISOLATION_TABLE))) this.isolated.checkNow();
      if (removed.some((l) => l.includes(NAT_TABLE))) this.soon('exposures');
      if (removed.some((l) => l.includes(GUARD_TABLE))) this.repairEncryption();
    });
    // A port's tc filter or its qdisc removed by hand: put it back now, not at the next pass.
    const tcEvents = new EventMonitor('tc monitor', (lines) => {
      const ours = (dev: string) => this.ports.get(dev)?.isolate === true && this.ports.get(dev)?.filterOn !== 'container';
      if (lines.some((l) => l.startsWith('deleted ') && ours(/ dev (\S+)/.exec(l)?.[1] ?? ''))) this.soon('filters');
    });
    for (const m of [ipEvents, bridgeEvents, nftEvents, tcEvents]) {
      m.start();
      this.monitors.push(m);
    }
  }

  private onLink(ev: LinkEvent): void {
    const { bridge, vxlanDev } = this.cfg;
    if (ev.ifname === bridge || ev.ifname === vxlanDev) {
      const wrong = ev.deleted || !ev.up || (ev.mtu !== undefined && ev.mtu !== this.mtu) || (ev.ifname === vxlanDev && ev.master !== bridge);
      if (wrong) this.soon('devices');
    } else if (HOST_VETH_RE.test(ev.ifname) && this.ports.get(ev.ifname)) {
      if (ev.deleted) void this.retirePort(ev.ifname, 'its veth is gone');
      else if (ev.master === bridge && ev.up) {
        if (this.ports.plugged(ev.ifname)) this.soon('publish', 0);
      } else if (ev.master === undefined && this.ports.stateOf(ev.ifname) === 'plugged') this.soon('devices'); // its bridge was recreated
    } else if (this.cfg.wireguard && ev.ifname === this.cfg.wireguard.dev) {
      if (ev.deleted || !ev.up) this.repairEncryption();
    } else if (RETIRED_RE.test(ev.ifname)) {
      if (!ev.deleted) this.retired.destroy([ev.ifname]); // a DEL's retired port, handed over or not
    } else if (ev.ifname === this.underlay?.dev && ev.mtu !== undefined && ev.mtu !== this.underlay.mtu) this.soon('devices');
  }

  private onAddr(ev: AddrEvent): void {
    if (ev.ifname !== this.cfg.bridge) return;
    if (ev.family === 'inet' && ev.deleted && this.exposures.owns(ev.address)) this.soon('exposures');
    if (ev.family === 'inet6' && ev.scope === 'link') {
      const ll = ev.address.split('/')[0];
      if (!ev.deleted && ll !== this.linkLocal) {
        this.linkLocal = ll;
        this.soon('publish', 0);
      }
    }
  }

  private onFdb(ev: FdbEvent): void {
    this.fdb.observe(ev);
    const { bridge, vxlanDev } = this.cfg;
    if (ev.master !== bridge || ev.dev === vxlanDev || ev.dev === bridge || ev.permanent) return;
    const changed = ev.deleted ? this.learned.delete(ev.mac) : !this.learned.has(ev.mac) && !!this.learned.add(ev.mac);
    if (changed) this.soon('publish', 0);
  }

  /**
   * Run a job soon. Jobs run one at a time; a job already due is not queued twice, so a
   * burst of events (our own writes echoing back, say) costs one run.
   */
  private soon(job: Job, delayMs = 20): void {
    if (this.stopped || this.due.has(job)) return;
    this.due.add(job);
    setTimeout(() => {
      this.inTurn(() => {
        this.due.delete(job);
        return this.stopped ? Promise.resolve() : this.run(job);
      })
        .then(() => (this.lastError = undefined))
        .catch((e: unknown) => {
          this.reconcileErrors++;
          const msg = (e as Error).message;
          if (msg !== this.lastError) this.log.error(`data plane ${job} failed; the safety pass retries`, { error: msg });
          this.lastError = msg;
        });
    }, delayMs).unref();
  }

  /** Kernel writes happen one job at a time (the first pass included). */
  private inTurn(fn: () => Promise<void>): Promise<void> {
    const run = this.jobs.then(fn);
    this.jobs = run.catch(() => undefined);
    return run;
  }

  private async run(job: Job): Promise<void> {
    switch (job) {
      case 'devices':
        return this.checkDevices();
      case 'publish':
        return this.publish();
      case 'fdb':
        await this.fdb.program(this.wantedFdb());
        return;
      case 'exposures': {
        const bridgeAddrs = inetOf((await addrs(this.cfg.bridge))[0]);
        return this.exposures.ensure(bridgeAddrs, (await listTableRules(NAT_FAMILY, NAT_TABLE)) !== undefined, false);
      }
      case 'filters':
        return this.isolated.ensureFilters(this.pluggedIsolated());
      case 'encryption':
        return this.ensureEncryption(false);
      case 'underlay':
        await this.findUnderlay();
        return this.publish();
      case 'safety':
        return this.safetyPass(false);
    }
  }

  // ---- the jobs ------------------------------------------------------------------------

  private firstPeerAddress(): string | undefined {
    for (const c of this.router.connections()) {
      if (c.state !== 'established') continue;
      const host = c.address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      if (isIPv4(host)) return host;
    }
    return undefined;
  }

  /** The underlay device, by the route to a peer when there is one (a few processes; at start and when peers first appear). */
  private async findUnderlay(): Promise<void> {
    const peer = this.firstPeerAddress();
    this.underlay = (await detectUnderlay(this.cfg, peer)) ?? this.underlay;
    this.underlayViaPeer = peer !== undefined && this.underlay !== undefined;
    this.mtu = overlayMtu(this.cfg, this.underlay);
  }

  /** After a device event: one look at the links; anything wrong means a full safety pass. */
  private async checkDevices(): Promise<void> {
    const now = new Map((await links()).map((l) => [l.ifname, l] as const));
    const br = now.get(this.cfg.bridge);
    const vx = now.get(this.cfg.vxlanDev);
    const orphan = this.ports.list('plugged').some((p) => now.has(p.hostVeth) && now.get(p.hostVeth)!.master !== this.cfg.bridge);
    const u = this.underlay && now.get(this.underlay.dev);
    const mtuMoved = u !== undefined && u.mtu !== this.underlay!.mtu;
    const ok = (l: Link | undefined) => l !== undefined && l.mtu === this.mtu && l.flags.includes('UP');
    if (ok(br) && ok(vx) && vx!.master === this.cfg.bridge && !orphan && !mtuMoved) return;
    await this.safetyPass(false);
  }

  /**
   * The slow safety pass (and the first one at start): read everything once (snapshot.ts),
   * repair what differs, and bring the in-memory models (FDB, ports, MACs) back in line.
   */
  private async safetyPass(initial: boolean): Promise<void> {
    if (this.stopped) return;
    this.safetyPasses++;
    const snap = await readSnapshot();
    const u = this.underlay && snap.links.get(this.underlay.dev);
    if (this.underlay && u) this.underlay = { dev: u.ifname, mtu: u.mtu, ip: this.underlay.ip && inetOf(u).some((a) => a.startsWith(`${this.underlay!.ip}/`)) ? this.underlay.ip : inetOf(u)[0]?.split('/')[0] };
    else await this.findUnderlay();
    this.mtu = overlayMtu(this.cfg, this.underlay);

    const fixed = await ensureDevices(this.cfg, this.mtu, this.bridgeMac, snap.links);
    const vxlanNew = fixed.some((f) => f.startsWith('created ') || f.startsWith('replaced '));
    await this.portsFrom(snap, initial);
    fixed.push(...(await reattachPorts(this.cfg, snap.links, (v) => this.ports.stateOf(v) === 'plugged')));
    this.retired.destroy([...snap.links.keys()].filter((n) => RETIRED_RE.test(n)));
    if (fixed.length && !initial) {
      this.repairs += fixed.length;
      this.log.warn('data plane repaired', { fixed });
    }
    const bridgeNew = !snap.links.has(this.cfg.bridge);
    await this.exposures.ensure(bridgeNew ? [] : inetOf(snap.links.get(this.cfg.bridge)), snap.tables.has(`${NAT_FAMILY} ${NAT_TABLE}`), initial);
    await this.isolated.reconcile(snap.tables.get(`${ISOLATION_FAMILY} ${ISOLATION_TABLE}`), this.pluggedIsolated(), initial);

    this.learned.clear();
    for (const e of snap.fdb)
      if (e.master === this.cfg.bridge && e.ifname !== this.cfg.vxlanDev && e.ifname !== this.cfg.bridge && e.state !== 'permanent') this.learned.add(e.mac);
    this.linkLocal = linkLocalOf(snap.links.get(this.cfg.bridge)) ?? this.linkLocal;
    // Our end of every path was just remade: check them all now rather than at the next refresh.
    if (fixed.length && !initial) this.probes.recheckAll();
    await this.publish();
    if (this.encryption) await this.ensureEncryption(initial, true);
    if (vxlanNew) this.fdb.forgetAll();
    await this.fdb.program(this.wantedFdb());
    await this.fdb.resync(vxlanNew ? [] : snap.fdb.filter((e) => e.ifname === this.cfg.vxlanDev));
  }

  /** Port lifecycle from a snapshot: up on the bridge means plugged; a plugged port (or, at start, any) without its veth is retired. */
  private async portsFrom(snap: KernelSnapshot, initial: boolean): Promise<void> {
    for (const p of this.ports.list()) {
      const l = snap.links.get(p.hostVeth);
      if (l && l.master === this.cfg.bridge && l.flags.includes('UP')) this.ports.plugged(p.hostVeth);
      else if (!l && !this.portService.attaching(p.hostVeth) && (initial || this.ports.stateOf(p.hostVeth) === 'plugged')) await this.retirePort(p.hostVeth, 'its veth is gone');
    }
  }

  private async retirePort(hostVeth: string, why: string): Promise<void> {
    const rec = await this.ports.retire(hostVeth, why);
    if (!rec) return;
    this.soon('publish', 0);
    await this.portService.releaseVanished(rec).catch((e: unknown) => this.log.warn('cannot release a vanished attachment', { hostVeth, error: String(e) }));
  }

  /** Plugged isolated ports whose filters are on the host end: the ones the daemon restores (the container end's are the plugin's). */
  private pluggedIsolated() {
    return this.ports.list('plugged').filter((p) => p.isolate && p.filterOn !== 'container');
  }

  /** This peer's endpoint record, from memory: gossiped only when it changed. */
  private async publish(): Promise<void> {
    if (!this.underlay?.ip) return;
    const changed = this.table.setOwn(
      {
        underlay: this.underlay.ip,
        bridgeMac: this.bridgeMac,
        linkLocal: this.linkLocal,
        mtu: this.mtu,
        macs: [...new Set([...this.ports.pluggedMacs(), ...this.learned])],
        ...this.encryption?.published(),
      },
      this.epoch,
    );
    if (changed) this.sender?.gossip();
  }

  private reachablePeers() {
    return this.router.peers().filter((p) => p.reachable && p.name !== this.router.name);
  }

  private wantedFdb() {
    const remotes = this.reachablePeers()
      .filter((p) => !this.encryption || this.encryption.pathOf(p.name) !== undefined)
      .flatMap((p) => {
        const r = this.table.get(p.name);
        return r ? [{ underlay: r.underlay, macs: [r.bridgeMac, ...r.macs] }] : [];
      });
    return desiredFdb(remotes);
  }

  /** Something of WireGuard's was removed (its device, rule or guard table): check it all, whatever the peers. */
  private repairEncryption(): void {
    this.encryptionKey = '';
    this.soon('encryption');
  }

  /** WireGuard paths: checked when the peers or their keys changed, after a removal event, and by the safety pass. */
  private async ensureEncryption(initial: boolean, always = false): Promise<void> {
    if (!this.encryption) return;
    const peers = this.reachablePeers().map((p) => ({ name: p.name, record: this.table.get(p.name) }));
    const key = JSON.stringify([this.underlay?.ip, this.mtu, peers.map((p) => [p.name, p.record?.underlay, p.record?.wgKey, p.record?.wgPort, p.record?.trusted])]);
    if (!always && key === this.encryptionKey) return;
    this.encryptionKey = key;
    const changed = await this.encryption.ensure({ ip: this.underlay?.ip, mtu: this.underlay?.mtu ?? 1500 }, peers, initial);
    for (const k of changed) this.showConnectionInfo(k);
    if (changed.length) await this.fdb.program(this.wantedFdb());
  }

  /** What `status connections` shows for a peer's data path: plain VXLAN when trusted, and the probe's verdict. */
  private showConnectionInfo(peer: PeerName): void {
    const trusted = this.encryption?.pathOf(peer) === 'trusted';
    this.router.setConnectionInfo(peer, [...(trusted ? ['trusted (plain vxlan)'] : []), describeProbe(this.probes.get(peer))]);
  }

  // ---- expose / hide / ports: the API's entry points ----------------------------------

  expose(subnet: string | undefined, ip: string | undefined, masquerade: boolean) {
    return this.exposures.expose(subnet, ip, masquerade);
  }

  hide(cidr?: string) {
    return this.exposures.hide(cidr);
  }

  // ---- ps and report ---------------------------------------------------------------------

  /** What is attached on this host, like `weave ps`: CNI containers, `overlay attach` namespaces, and the host itself if exposed. */
  async attached(): Promise<AttachedEntry[]> {
    const out: AttachedEntry[] = [...((await this.cniAttachments?.list()) ?? [])];
    for (const r of this.ports.list())
      if (r.source === 'attach')
        out.push({ id: r.netns!.replace(/^\/run\/netns\//, ''), ifname: r.ifname!, mac: r.mac, addresses: [r.address!], netns: r.netns, hostVeth: r.hostVeth, source: 'attach' });
    if (this.exposures.size) out.push({ id: 'overlay:expose', ifname: this.cfg.bridge, mac: this.bridgeMac, addresses: this.exposures.addresses(), source: 'expose' });
    return out;
  }

  async report(): Promise<unknown> {
    return {
      ...(this.statusJson() as object),
      containers: await this.attached(),
      isolatedPorts: this.isolated.list(),
      ports: this.ports.list().map((p) => ({ ...p, state: this.ports.stateOf(p.hostVeth) })),
      nftables: {
        [`${NAT_FAMILY} ${NAT_TABLE}`]: (await listTable(NAT_FAMILY, NAT_TABLE).catch((e: Error) => `error: ${e.message}`)) ?? null,
        [`${ISOLATION_FAMILY} ${ISOLATION_TABLE}`]: (await listTable(ISOLATION_FAMILY, ISOLATION_TABLE).catch((e: Error) => `error: ${e.message}`)) ?? null,
      },
      vxlanFdb: await fdbShow({ dev: this.cfg.vxlanDev }).catch(() => []),
    };
  }

  // ---- lifecycle, status, metrics, API ----------------------------------------------

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    if (this.ticker) clearInterval(this.ticker);
    this.isolated.stop();
    for (const m of this.monitors) m.stop();
    this.probes.stop();
    await Promise.all([this.jobs.catch(() => undefined), this.retired.settle()]);
  }

  /** `overlay reset`: containers detached, host addresses hidden, devices and NAT table removed. */
  async reset(): Promise<void> {
    await this.stop(); // no job may recreate what we remove
    await this.portService.detachAll();
    await removeDataplane(this.deviceNames());
  }

  private deviceNames(): DeviceNames {
    return { bridge: this.cfg.bridge, vxlanDev: this.cfg.vxlanDev, ...(this.cfg.wireguard ? { wireguardDev: this.cfg.wireguard.dev } : {}) };
  }

  status(): StatusSection {
    const reachable = this.reachablePeers();
    const ok = reachable.filter((p) => this.probes.get(p.name)?.ok).length;
    return {
      title: 'Data plane',
      lines: [
        ['Bridge', `${this.cfg.bridge} (MTU ${this.mtu}, MAC ${this.bridgeMac})`],
        ['VXLAN', `${this.cfg.vxlanDev} VNI ${this.cfg.vni} UDP ${this.cfg.port}`],
        ['Underlay', this.underlay ? `${this.underlay.dev} ${this.underlay.ip ?? '(no address)'} MTU ${this.underlay.mtu}` : 'unknown'],
        ['FDB', `${this.fdb.size} entries for ${reachable.length} peers`],
        ['Data path', `${ok} of ${reachable.length} peers verified at MTU ${this.mtu}`],
        ['WireGuard', this.encryption?.status() ?? 'off (no password: the data plane is not encrypted)'],
        ['Isolation', `${this.isolated.size} container ports (table ${ISOLATION_FAMILY} ${ISOLATION_TABLE}, and a tc filter on each port)`],
        ['Exposed', this.exposures.list().map((e) => `${e.address}${e.masquerade ? '' : ' (no masquerade)'}`).join(', ') || 'no'],
        ...(this.lastError ? [['Last error', this.lastError] as [string, string]] : []),
      ],
    };
  }

  /** `overlay status dataplane` as text: the summary, then per peer where its VXLAN goes and what the last probe found. */
  statusText(): string {
    const rows = this.router
      .peers()
      .filter((p) => p.name !== this.router.name)
      .map((p) => [`${p.name}(${p.nickname})`, p.reachable ? 'reachable' : 'unreachable', this.table.get(p.name)?.underlay ?? '-', describeProbe(this.probes.get(p.name))]);
    return formatSection(this.status(), { header: ['PEER', 'STATE', 'UNDERLAY', 'DATA PATH'], rows });
  }

  /** Times a CNI admit for the latency histogram. */
  timeAdmit<T>(fn: () => Promise<T>): Promise<T> {
    return this.admitLatency.time(fn);
  }

  statusJson(): unknown {
    return {
      bridge: this.cfg.bridge,
      vxlan: { dev: this.cfg.vxlanDev, vni: this.cfg.vni, port: this.cfg.port },
      mtu: this.mtu,
      bridgeMac: this.bridgeMac,
      underlay: this.underlay,
      fdbEntries: this.fdb.size,
      exposed: this.exposures.list(),
      probes: Object.fromEntries(this.probes.all()),
      endpoints: Object.fromEntries(this.table.all()),
      encryption: this.encryption?.statusJson() ?? null,
      lastError: this.lastError,
    };
  }

  /** The overlay MTU and the host's gateway on a subnet: what an allocation answer adds (wired in the daemon). */
  gatewayFor(subnet: string): string | undefined {
    return this.exposures.gatewayFor(subnet);
  }

  overlayMtu(): number {
    return this.mtu;
  }

  metrics(): MetricFamily[] {
    const nick = new Map(this.router.peers().map((p) => [p.name, p.nickname]));
    const probeSamples = (f: (r: ProbeResult) => number | undefined) =>
      [...this.probes.all().entries()].flatMap(([peer, r]) => {
        const value = f(r);
        return value === undefined ? [] : [{ labels: { peer, nickname: nick.get(peer) ?? '' }, value }];
      });
    return [
      { name: 'overlay_dataplane_fdb_entries', help: 'VXLAN FDB entries programmed for reachable peers', type: 'gauge', samples: [{ value: this.fdb.size }] },
      { name: 'overlay_dataplane_repairs_total', help: 'Devices, addresses or rules found changed or missing and restored', type: 'counter', samples: [{ value: this.repairs }] },
      { name: 'overlay_dataplane_reconcile_errors_total', help: 'Data plane jobs that failed', type: 'counter', samples: [{ value: this.reconcileErrors }] },
      { name: 'overlay_dataplane_safety_passes_total', help: 'Slow safety passes run (each reads the kernel state whole)', type: 'counter', samples: [{ value: this.safetyPasses }] },
      { name: 'overlay_dataplane_ports', help: 'Container ports by lifecycle state', type: 'gauge', samples: (['admitted', 'plugged'] as const).map((state) => ({ labels: { state }, value: this.ports.list(state).length })) },
      { name: 'overlay_dataplane_mtu_bytes', help: 'The overlay MTU', type: 'gauge', samples: [{ value: this.mtu }] },
      { name: 'overlay_vxlan_path_ok', help: '1 when a full-MTU probe to the peer over VXLAN got an answer', type: 'gauge', samples: probeSamples((r) => (r.ok ? 1 : 0)) },
      // A failed probe has no round-trip time: its peer has no sample rather than a 0.
      { name: 'overlay_vxlan_path_rtt_seconds', help: 'Round-trip time of the last probe, for peers whose last probe succeeded', type: 'gauge', samples: probeSamples((r) => (r.ok ? r.rttMs / 1000 : undefined)) },
      { name: 'overlay_cni_admit_duration_seconds', help: "Time the daemon took to answer the CNI plugin's ADD (admit a port: allocate, plan, persist)", type: 'histogram', histogram: this.admitLatency },
    ];
  }

  routes(api: ApiRouter): void {
    dataplaneRoutes(api, this, this.portService);
  }
}
