/**
 * The daemon's side of every container port: the CNI plugin's admit and release (it
 * plugs the port in itself), and `overlay attach` / `detach` (the daemon plans the port
 * and has the plugin's attach code plug it in: plugin-attach.ts). Each port is one
 * record in the port table (ports.ts); this module moves it along.
 */
import type { IpamComponent } from '../ipam/component.js';
import { formatCidr, intToIp, MULTICAST_BLOCK, networkOf } from '../lib/ipv4.js';
import type { Logger } from '../lib/logger.js';
import { deleteLink } from '../sys/ip.js';
import { DataplaneError, InterfaceExistsError, NetnsNotFoundError } from './errors.js';
import type { IsolatedPorts } from './isolated-ports.js';
import { hostVethName, isValidMac, randomMac } from './names.js';
import type { PortPlugger } from './plugin-attach.js';
import type { AttachedPort, PortPlan, Route } from './port-plan.js';
import type { PortRecord, PortTable } from './ports.js';
import type { RetiredPorts } from './retired-ports.js';

/** What a CNI ADD asks for (POST /ports/admit): an address for the port, and the port put under isolation. */
export interface PortAdmission {
  netns: string;
  ifname: string;
  subnet?: string;
  ip?: string;
  /** The container's MAC; the daemon picks one when not given. */
  mac?: string;
  isolate: boolean;
  /** Make the host this subnet's gateway (expose it) if it is not yet. */
  gateway?: boolean;
}

/** What the port service needs of the rest of the data plane. */
export interface PortHost {
  bridge: string;
  mtu(): number;
  /** The host's address on a subnet, when it is exposed there. */
  gatewayFor(subnet: string): string | undefined;
  /** Expose the host on `subnet` (canonical CIDR) unless it is already: a network that asks for a gateway. */
  ensureGateway(subnet: string): Promise<void>;
  /** A port came or went: this host's announced MACs may have changed. */
  portsChanged(): void;
}

export interface AttachResult {
  netns: string;
  ifname: string;
  address: string;
  hostVeth: string;
  mac: string;
  gateway?: string;
}

function checkMac(mac: string | undefined): void {
  if (mac !== undefined && !isValidMac(mac.toLowerCase())) throw new DataplaneError('bad-request', `bad MAC address "${mac}": it must be a unicast MAC like 02:42:0a:20:00:05`);
}

export class PortService {
  /** Attaches running now, by host veth: what a racing detach waits for. */
  private readonly attachInFlight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly host: PortHost,
    private readonly ports: PortTable,
    private readonly isolated: IsolatedPorts,
    private readonly retired: RetiredPorts,
    private readonly ipam: IpamComponent,
    private readonly log: Logger,
    /** The one attach path (the CNI plugin's), for `overlay attach`. */
    private readonly plug: PortPlugger,
  ) {}

  /**
   * The daemon's half of a CNI ADD: the port's address (durable) and its isolation are
   * decided here, in one call; the plugin plugs the port in itself over netlink, with the
   * filter programs returned here on its host end before either end is up. The nftables
   * rules follow within milliseconds (the filters enforce the same policy meanwhile).
   */
  async admit(owner: string, req: PortAdmission): Promise<PortPlan> {
    checkMac(req.mac);
    // The gateway first: if it cannot be had, the ADD fails before the container holds an address.
    if (req.gateway) await this.host.ensureGateway(formatCidr(this.ipam.resolveSubnet(req.subnet, req.ip)));
    const a = await this.ipam.allocate(owner, req.subnet, req.ip);
    const hostVeth = hostVethName(req.netns, req.ifname);
    const mac = (req.mac ?? randomMac()).toLowerCase();
    const subnet = formatCidr(a.subnet);
    const gateway = this.host.gatewayFor(subnet);
    // The plugin puts the filters on the container end: the host end's qdiscs stay free for the
    // shapers chained after us (the reference bandwidth plugin takes the ingress slot).
    const rec: PortRecord = { hostVeth, mac, ip: intToIp(a.address), subnet, isolate: req.isolate, source: 'cni', owner, netns: req.netns, ifname: req.ifname, filterOn: 'container' };
    this.rulesFollow(hostVeth, (await this.ports.admit(rec)).rules);
    return {
      address: `${intToIp(a.address)}/${a.subnet.prefix}`,
      subnet,
      ...(gateway ? { gateway } : {}),
      mtu: this.host.mtu(),
      bridge: this.host.bridge,
      hostVeth,
      mac,
      ...(req.isolate ? { filter: this.isolated.filterFor(rec), filterOn: 'container' as const } : {}),
    };
  }

  /**
   * The daemon's half of a CNI DEL (the plugin has taken the port down): the address goes,
   * and the port's record and rules; a retired port is destroyed after the answer. Idempotent.
   */
  async release(owner: string, hostVeth?: string, retired?: string): Promise<{ released?: string }> {
    const addr = await this.ipam.release(owner);
    if (hostVeth && (await this.ports.retire(hostVeth, 'released'))) this.host.portsChanged();
    if (retired) this.retired.destroy([retired]);
    return addr === undefined ? {} : { released: intToIp(addr) };
  }

  /** `overlay attach`: the daemon plugs a namespace in, isolated, with an address from IPAM. */
  async attachNetns(netns: string, ifname: string, subnetText?: string, ipText?: string, multicastRoute = true): Promise<AttachResult> {
    const owner = `attach:${netns}:${ifname}`;
    const hostVeth = hostVethName(netns, ifname);
    // Attached already and up on the bridge (the kernel said so): the same answer again.
    const existing = this.ports.get(hostVeth);
    if (existing?.source === 'attach' && existing.address && this.ports.stateOf(hostVeth) === 'plugged') return this.resultOf(existing);
    const a = await this.ipam.allocate(owner, subnetText, ipText);
    const address = `${intToIp(a.address)}/${a.subnet.prefix}`;
    const gateway = this.host.gatewayFor(formatCidr(a.subnet));
    try {
      const routes = [...(gateway ? [{ dst: 'default', gw: gateway }] : []), ...(multicastRoute ? [{ dst: MULTICAST_BLOCK }] : [])];
      const port = await this.plugIn(owner, { netns, ifname, address, ...(gateway ? { gateway } : {}), routes });
      return { netns, ifname, address, hostVeth: port.hostVeth, mac: port.mac, ...(gateway ? { gateway } : {}) };
    } catch (e) {
      await this.ipam.release(owner).catch(() => undefined);
      throw e;
    }
  }

  async detachNetns(netns: string, ifname: string): Promise<{ detached: boolean; released?: string }> {
    const hostVeth = hostVethName(netns, ifname);
    const rec = this.ports.get(hostVeth);
    const detached = await this.unplug(hostVeth);
    const released = await this.ipam.release(`attach:${netns}:${ifname}`);
    return { detached: detached || rec !== undefined, ...(released !== undefined ? { released: intToIp(released) } : {}) };
  }

  /**
   * An `overlay attach` port whose veth vanished (its namespace was deleted): its address
   * goes too. CNI ports keep theirs until the runtime's DEL, as the CNI spec has it.
   */
  async releaseVanished(rec: PortRecord): Promise<void> {
    if (rec.source !== 'attach' || !rec.owner) return;
    const released = await this.ipam.release(rec.owner);
    this.log.info('attachment released: its namespace is gone', { netns: rec.netns, ...(released !== undefined ? { address: intToIp(released) } : {}) });
  }

  /** Whether the daemon is plugging this port in right now (not a port to prune or repair yet). */
  attaching(hostVeth: string): boolean {
    return this.attachInFlight.has(hostVeth);
  }

  /** `overlay reset`: every port this daemon plugged in is taken out. */
  async detachAll(): Promise<void> {
    for (const r of this.ports.list()) if (r.source === 'attach') await deleteLink(r.hostVeth).catch(() => undefined);
  }

  private resultOf(r: PortRecord): AttachResult {
    const gateway = this.host.gatewayFor(r.subnet);
    return { netns: r.netns!, ifname: r.ifname!, address: r.address!, hostVeth: r.hostVeth, mac: r.mac, ...(gateway ? { gateway } : {}) };
  }

  /**
   * Plug a netns into the bridge with an address the caller already holds. The port is
   * admitted (its isolation rules follow), and the plugin's attach code makes the veth, with
   * the port's filters on its host end before either end is up. The port is plugged when
   * that returns.
   */
  private async plugIn(owner: string, req: { netns: string; ifname: string; address: string; gateway?: string; routes: Route[] }): Promise<AttachedPort> {
    const hostVeth = hostVethName(req.netns, req.ifname);
    const mac = randomMac().toLowerCase();
    const subnet = networkOf(req.address);
    const rec: PortRecord = { hostVeth, mac, ip: req.address.split('/')[0]!, subnet, isolate: true, source: 'attach', owner, netns: req.netns, ifname: req.ifname, address: req.address };
    const plan: PortPlan = {
      address: req.address,
      subnet,
      ...(req.gateway ? { gateway: req.gateway } : {}),
      mtu: this.host.mtu(),
      bridge: this.host.bridge,
      hostVeth,
      mac,
      filter: this.isolated.filterFor(rec),
    };
    const run = (async () => {
      // A port of that name already known may be a live attachment: touch its record only once the plug proves it is not.
      const live = this.ports.get(hostVeth);
      try {
        // As for an ADD: the rules follow within milliseconds, while the plugin plugs the port in
        // (its filters, on before either end is up, enforce the same policy meanwhile).
        if (!live) this.rulesFollow(hostVeth, (await this.ports.admit(rec)).rules);
        const attached = await this.plug({ netns: req.netns, ifname: req.ifname, plan, routes: req.routes });
        if (live) this.rulesFollow(hostVeth, (await this.ports.admit(rec)).rules);
        this.ports.plugged(hostVeth);
        this.host.portsChanged();
        return attached;
      } catch (e) {
        if (!live) await this.ports.retire(hostVeth, 'attach failed');
        if (e instanceof NetnsNotFoundError) throw new DataplaneError('not-found', e.message);
        if (e instanceof InterfaceExistsError) throw new DataplaneError('conflict', e.message);
        throw e;
      }
    })();
    this.attachInFlight.set(hostVeth, run);
    try {
      return await run;
    } finally {
      if (this.attachInFlight.get(hostVeth) === run) this.attachInFlight.delete(hostVeth);
    }
  }

  private rulesFollow(hostVeth: string, rules: Promise<void>): void {
    rules.catch((e: unknown) => this.log.warn('cannot append isolation rules; the next check rebuilds them', { hostVeth, error: String(e) }));
  }

  /** Idempotent: true when a veth was removed. */
  private async unplug(hostVeth: string): Promise<boolean> {
    // A detach racing the attach it undoes waits for that attach to end.
    await this.attachInFlight.get(hostVeth)?.catch(() => undefined);
    // The record goes first: the veth's deletion event then finds nothing to release behind our back.
    if (await this.ports.retire(hostVeth, 'detached')) this.host.portsChanged();
    // Deleting the host end deletes the container end with it (as the daemon destroys a CNI DEL's retired port).
    return deleteLink(hostVeth);
  }
}
