/**
 * The one attach path: every container port is plugged in here, over netlink
 * (netlink-socket.ts), with no process started: a CNI ADD's, and `overlay
 * attach`'s (the daemon runs this binary's `plug` command: commands/plug.ts).
 * The daemon decides (address, MTU, the port's filters: see PortPlan); the steps:
 *
 *   prepare (while the daemon is asked): the veth pair, the container end
 *              created inside the container's netns under a temporary name,
 *              with its MAC; both ends down;
 *   attach, host: MTU, on the bridge, hairpin, static FDB entry, (clsact + both
 *              port filters, unless the plan puts them on the container end), up;
 *   attach, container: MTU, arp_notify on, rename to ifname, (clsact + both port
 *              filters, when the plan says so), address, up (the gratuitous ARP
 *              goes out), routes.
 *
 * Both ends are down until the filters are in place, so an isolated port never
 * passes a frame unfiltered. A failed attach leaves the half-made veth to the
 * caller's undo (ADD detaches it, as it does for any later failure).
 */
import { parseCidr } from '../src/lib/ipv4.js';
import { hostVethName, peerTempNameFor } from '../src/dataplane/names.js';
import * as rtnl from '../src/sys/netlink/rtnl.js';
import { EEXIST, EINVAL, ENODEV, ENOENT } from '../src/sys/libc.js';
import { closeFd, NetlinkError, NetlinkSocket, openNetns } from './netlink-socket.js';
import { InterfaceExistsError, NetnsNotFoundError, type AttachedPort, type Attacher, type AttachOptions, type PortPlan, type SandboxInterface, type VethPlan } from './ports.js';

/** What a new veth gets until the plan's MTU is known. */
const KERNEL_DEFAULT_MTU = 1500;

interface Sandbox {
  fd: number;
  sock: NetlinkSocket;
}

export class NetlinkAttacher implements Attacher {
  private hostSock?: NetlinkSocket;
  private readonly sandboxes = new Map<string, Sandbox>();
  /** The veth prepare made (its index and its peer's, from the kernel's echo), so attach need not look them up. */
  private made?: { hostVeth: string; index: number; peerIndex?: number };

  async preflight(netnsPath: string, ifname: string): Promise<void> {
    if (findLink(this.sandbox(netnsPath).sock, ifname)) throw new InterfaceExistsError(netnsPath, ifname);
  }

  async prepare(netnsPath: string, ifname: string, veth: VethPlan): Promise<void> {
    const host = this.host();
    const ctr = this.sandbox(netnsPath);
    // Preflight showed the container has no such interface, so a host end of this name is a
    // leftover of an attempt that died half-way (runtimes retry ADD without DEL): remove it.
    deleteLink(host, veth.hostVeth);
    const mtu = veth.mtu ?? KERNEL_DEFAULT_MTU;
    const [echo] = host.request(rtnl.newVeth({ name: veth.hostVeth, mtu, peer: { name: peerTempNameFor(veth.hostVeth), mac: veth.mac, mtu, netnsFd: ctr.fd } }), `creating veth ${veth.hostVeth}`);
    const link = echo && rtnl.parseLink(echo);
    this.made = link?.name === veth.hostVeth ? { hostVeth: veth.hostVeth, index: link.index, peerIndex: link.peerIndex } : undefined;
  }

  async attach(netnsPath: string, ifname: string, plan: PortPlan, opts: AttachOptions): Promise<AttachedPort> {
    const host = this.host();
    const ctr = this.sandbox(netnsPath);
    const { hostVeth, mac } = plan;
    const tmp = peerTempNameFor(hostVeth);
    const mtu = opts.mtu ?? plan.mtu;
    const address = parseCidr(plan.address);
    if (!address) throw new Error(`the daemon planned a malformed address "${plan.address}"`);
    const filter = plan.filter && { ingress: Buffer.from(plan.filter.fromContainer, 'base64'), egress: Buffer.from(plan.filter.toContainer, 'base64') };
    const bridge = findLink(host, plan.bridge);
    if (!bridge) throw new Error(`bridge ${plan.bridge} does not exist: is the overlay daemon's data plane up?`);
    const port = this.made?.hostVeth === hostVeth ? this.made : findLink(host, hostVeth);
    if (!port) throw new Error(`the host end ${hostVeth} vanished`);
    host.request(rtnl.setLink(port.index, { master: bridge.index, mtu }), `putting ${hostVeth} on ${plan.bridge}`);
    if (opts.hairpin) host.request(rtnl.setHairpin(port.index), `hairpin on ${hostVeth}`);
    host.request(rtnl.replaceStaticFdb(port.index, mac), `FDB entry for ${mac}`);
    const onContainer = plan.filterOn === 'container';
    if (filter && !onContainer) {
      host.request(rtnl.replaceClsact(port.index), `clsact on ${hostVeth}`);
      host.request(rtnl.replaceBpfFilter(port.index, rtnl.CLSACT_INGRESS, filter.ingress), `port filter (from the container) on ${hostVeth}`);
      host.request(rtnl.replaceBpfFilter(port.index, rtnl.CLSACT_EGRESS, filter.egress), `port filter (to the container) on ${hostVeth}`);
    }
    host.request(rtnl.setLink(port.index, { up: true }), `bringing ${hostVeth} up`);

    const peer = port.peerIndex !== undefined ? { index: port.peerIndex } : findLink(ctr.sock, tmp);
    if (!peer) throw new Error(`the container end ${tmp} vanished from ${netnsPath}`);
    try {
      ctr.sock.request(rtnl.renameWithArpNotify(peer.index, ifname, mtu), `naming the container interface ${ifname}`);
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === EEXIST) throw new InterfaceExistsError(netnsPath, ifname);
      throw e;
    }
    if (filter && onContainer) {
      // The same programs, seen from the other end: what the host end receives, this end sends.
      ctr.sock.request(rtnl.replaceClsact(peer.index), `clsact on ${ifname}`);
      ctr.sock.request(rtnl.replaceBpfFilter(peer.index, rtnl.CLSACT_EGRESS, filter.ingress), `port filter (from the container) on ${ifname}`);
      ctr.sock.request(rtnl.replaceBpfFilter(peer.index, rtnl.CLSACT_INGRESS, filter.egress), `port filter (to the container) on ${ifname}`);
    }
    ctr.sock.request(rtnl.addAddress(peer.index, address.ip, address.prefix), `adding ${plan.address} to ${ifname}`);
    ctr.sock.request(rtnl.setLink(peer.index, { up: true }), `bringing ${ifname} up`);
    for (const r of opts.routes) {
      const dst = parseCidr(r.dst === 'default' ? '0.0.0.0/0' : r.dst);
      if (!dst) throw new Error(`bad route destination "${r.dst}"`);
      ctr.sock.request(rtnl.replaceRoute(peer.index, dst.ip, dst.prefix, r.gw), `route ${r.dst}${r.gw ? ` via ${r.gw}` : ''}`);
    }
    return { hostVeth, mac };
  }

  async quiesce(hostVeth: string): Promise<boolean> {
    let found = false;
    ignoreGone(() => {
      const port = findLink(this.host(), hostVeth);
      if (!port) return; // never attached, already removed, or gone with its netns
      this.host().request(rtnl.setLink(port.index, { up: false }), `taking ${hostVeth} down`);
      found = true;
    });
    return found;
  }

  async retire(netnsPath: string, ifname: string, hostVeth: string, name: string): Promise<void> {
    // The daemon may destroy the pair while we rename it (it has the new name already): gone is fine.
    ignoreGone(() => {
      const host = this.host();
      const port = findLink(host, hostVeth);
      if (!port) return;
      host.request(rtnl.setLink(port.index, { name }), `retiring ${hostVeth}`);
      // The container end frees its name too (it may still have its temporary one).
      const ctr = netnsPath ? this.sandboxIfPresent(netnsPath) : undefined;
      const peer = ctr && port.peerIndex !== undefined ? findLinkByIndex(ctr.sock, port.peerIndex) : undefined;
      if (ctr && peer && (peer.name === ifname || peer.name === peerTempNameFor(hostVeth))) {
        ctr.sock.request(rtnl.setLink(peer.index, { up: false }), `taking ${peer.name} down`);
        ctr.sock.request(rtnl.setLink(peer.index, { name }), `retiring ${peer.name}`);
      }
    });
  }

  async destroy(name: string): Promise<void> {
    deleteLink(this.host(), name);
  }

  async detach(netnsPath: string, ifname: string, hostVeth?: string): Promise<void> {
    // Deleting the host end deletes the container end with it. Without a record the name is derived, as the daemon does.
    const name = hostVeth ?? (netnsPath ? hostVethName(netnsPath, ifname) : undefined);
    if (name) deleteLink(this.host(), name);
  }

  async inspect(netnsPath: string, ifname: string): Promise<SandboxInterface | undefined> {
    const { sock } = this.sandbox(netnsPath);
    const link = findLink(sock, ifname);
    if (!link) return undefined;
    const addresses = sock
      .request(rtnl.dumpAddresses(), 'listing addresses')
      .map(rtnl.parseAddress)
      .filter((a) => a?.index === link.index)
      .map((a) => a!.cidr);
    const routes = sock
      .request(rtnl.dumpRoutes(), 'listing routes')
      .map(rtnl.parseRoute)
      .filter((r) => r.index === link.index && r.table === 254)
      .map((r) => ({ dst: r.dst, ...(r.gw ? { gw: r.gw } : {}) }));
    return { mac: link.mac, addresses, routes };
  }

  /** undefined when the netns is gone. */
  private sandboxIfPresent(netnsPath: string): Sandbox | undefined {
    try {
      return this.sandbox(netnsPath);
    } catch (e) {
      if (e instanceof NetnsNotFoundError) return undefined;
      throw e;
    }
  }

  /** A missing netns is "the container is gone" (NetnsNotFoundError), not an I/O error. */
  private sandbox(netnsPath: string): Sandbox {
    const known = this.sandboxes.get(netnsPath);
    if (known) return known;
    const { fd, errno } = openNetns(netnsPath);
    if (fd < 0) {
      if (errno === ENOENT) throw new NetnsNotFoundError(netnsPath);
      throw new NetlinkError(errno, `cannot open netns ${netnsPath}`);
    }
    try {
      const s = { fd, sock: NetlinkSocket.inNetns(fd) };
      this.sandboxes.set(netnsPath, s);
      return s;
    } catch (e) {
      closeFd(fd);
      // A path that is not a netns (a plain file, say) cannot be entered.
      if (e instanceof NetlinkError && e.errno === EINVAL) throw new NetnsNotFoundError(netnsPath);
      throw e;
    }
  }

  private host(): NetlinkSocket {
    return (this.hostSock ??= NetlinkSocket.here());
  }
}

function findLink(sock: NetlinkSocket, name: string): rtnl.LinkInfo | undefined {
  return lookUp(sock, rtnl.getLinkByName(name), `looking up ${name}`);
}

function findLinkByIndex(sock: NetlinkSocket, index: number): rtnl.LinkInfo | undefined {
  return lookUp(sock, rtnl.getLinkByIndex(index), `looking up link ${index}`);
}

function lookUp(sock: NetlinkSocket, request: Uint8Array, what: string): rtnl.LinkInfo | undefined {
  try {
    const [m] = sock.request(request, what);
    return m ? rtnl.parseLink(m) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
    throw e;
  }
}

/** Idempotent: a link that is not there is fine. */
function deleteLink(sock: NetlinkSocket, name: string): void {
  ignoreGone(() => sock.request(rtnl.delLinkByName(name), `deleting ${name}`));
}

/** Run steps on a link; its vanishing half-way (ENODEV) ends them without an error. */
function ignoreGone(steps: () => unknown): void {
  try {
    steps();
  } catch (e) {
    if (!(e instanceof NetlinkError && e.errno === ENODEV)) throw e;
  }
}
