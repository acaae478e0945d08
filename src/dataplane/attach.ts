/**
 * How the daemon plugs a network namespace into the overlay bridge and takes
 * it out again (`overlay attach`), through `ip`/`tc`/`bridge` processes.
 * The CNI plugin takes the same steps in the same order over netlink itself
 * (cni/netlink-attacher.ts): a runtime waits for every ADD, and a process per
 * step costs more than the reference plugin's whole ADD, while the daemon,
 * on Node, has no netlink socket (see the README).
 *
 * attach: a veth pair with a deterministic host-side name; the container end
 * is created directly inside the target netns (so nothing with its name ever
 * appears on the host), renamed, given its MAC, MTU, address and routes; the
 * host end joins the bridge with a static FDB entry for the container's MAC;
 * the container announces itself by gratuitous ARP (arp_notify) as it comes up.
 * An isolated port gets its nftables rules and tc filters before that.
 */
import { access } from 'node:fs/promises';
import { bridgeBatch } from '../sys/fdb.js';
import { run, SysError } from '../sys/exec.js';
import { addrs, deleteLink, ipBatch, routes as listRoutes } from '../sys/ip.js';
import { InterfaceExistsError, NetnsNotFoundError } from './errors.js';
import { portFilterCommands, type PortFilterPrograms } from './port-filter.js';
import { ipThenTcBatch } from '../sys/tc.js';
import { hostVethName, isValidMac, peerTempName, randomMac } from './names.js';

export interface AttachRequest {
  bridge: string;
  /** A netns path: /run/netns/<name>, /proc/<pid>/ns/net, /var/run/netns/cni-… */
  netns: string;
  ifname: string;
  /** The address with its prefix, e.g. 10.32.0.5/12. */
  address: string;
  mtu: number;
  mac?: string;
  hairpin?: boolean;
  /** Routes besides the connected subnet, e.g. a default route via an exposed host. */
  routes?: { dst: string; gw?: string }[];
  /** Awaited before the container's link comes up (the port's isolation rules). */
  beforeUp?: Promise<unknown>;
  /** The port's tc filters, put on the host end as it is created (before the container's link comes up). */
  filter?: PortFilterPrograms;
}

/**
 * What the daemon hands the CNI plugin for one port (POST /ports/admit): its
 * address and how to plug it in. The plugin carries it out over netlink
 * (cni/netlink-attacher.ts), in the same steps as attach() below.
 */
export interface PortPlan {
  /** With prefix, e.g. 10.32.1.5/24. */
  address: string;
  subnet: string;
  /** The host's address on the subnet, when it is exposed. */
  gateway?: string;
  mtu: number;
  bridge: string;
  hostVeth: string;
  mac: string;
  /** The port's filter programs (base64 struct sock_filter[]), when it is isolated. */
  filter?: PortFilterPrograms;
  /**
   * Which end of the veth the filters go on. `container`: the container's interface (egress:
   * from the container, ingress: to it), which leaves the host end's qdiscs to the traffic
   * shapers runtimes chain after us (bandwidth takes its ingress slot). Absent: the host end.
   */
  filterOn?: 'container';
}

export interface AttachedPort {
  hostVeth: string;
  mac: string;
}

export interface SandboxInterface {
  mac: string;
  addresses: string[];
  routes: { dst: string; gw?: string }[];
}

export { InterfaceExistsError, NetnsNotFoundError };

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

async function requireNetns(netns: string): Promise<void> {
  try {
    await access(netns);
  } catch {
    throw new NetnsNotFoundError(netns);
  }
}

export async function attach(req: AttachRequest): Promise<AttachedPort> {
  if (!IFNAME_RE.test(req.ifname)) throw new Error(`bad interface name "${req.ifname}"`);
  if (req.mac !== undefined && !isValidMac(req.mac.toLowerCase())) throw new Error(`bad MAC address "${req.mac}": it must be a unicast MAC like 02:42:0a:20:00:05`);
  await requireNetns(req.netns);
  const hostVeth = hostVethName(req.netns, req.ifname);
  const tmp = peerTempName(req.netns, req.ifname);
  const mac = (req.mac ?? randomMac()).toLowerCase();
  const hostSide = [
    `link add ${hostVeth} mtu ${req.mtu} type veth peer name ${tmp} mtu ${req.mtu} address ${mac} netns ${req.netns}`,
    `link set dev ${hostVeth} master ${req.bridge} up`,
    ...(req.hairpin ? [`link set dev ${hostVeth} type bridge_slave hairpin on`] : []),
  ];
  // The port's filters go on in the same process as its veth.
  const create = async () => {
    try {
      await (req.filter ? ipThenTcBatch(hostSide, portFilterCommands(hostVeth, req.filter)) : ipBatch(hostSide));
    } catch (e) {
      if (e instanceof SysError && /File exists/.test(e.stderr)) throw e; // not ours to remove: see below
      await deleteLink(hostVeth).catch(() => undefined); // half made: a veth without its filters, say
      throw e;
    }
  };
  // Nothing is inspected up front (each look costs a process); a name clash is examined only when it happens.
  try {
    await create();
  } catch (e) {
    if (e instanceof SysError && /No such file|Invalid "netns"/.test(e.stderr)) throw new NetnsNotFoundError(req.netns);
    if (!(e instanceof SysError && /File exists/.test(e.stderr))) throw e;
    // Our host end already exists: either this interface is attached (leave it alone), or an
    // attempt died half-way and left it behind (remove it and try once more).
    if (await inspect(req.netns, req.ifname)) throw new InterfaceExistsError(req.netns, req.ifname);
    await deleteLink(hostVeth);
    await create();
  }
  try {
    await Promise.all([
      bridgeBatch([`fdb replace ${mac} dev ${hostVeth} master static`]),
      (async () => {
        await req.beforeUp; // e.g. the isolation rules: the container's link is not up before they are in place
        // One process in the container's netns: gratuitous ARP on link up (arp_notify), then name, address, up, routes.
        await run('sh', ['-c', 'echo 1 > "/proc/sys/net/ipv4/conf/$1/arp_notify" && exec ip -batch -', 'sh', tmp], {
          netns: req.netns,
          input: [
            `link set dev ${tmp} name ${req.ifname}`,
            `addr add ${req.address} dev ${req.ifname}`,
            `link set dev ${req.ifname} up`,
            ...(req.routes ?? []).map((r) => `route replace ${r.dst}${r.gw ? ` via ${r.gw}` : ''} dev ${req.ifname}`),
          ].join('\n') + '\n',
        });
      })(),
    ]);
  } catch (e) {
    await deleteLink(hostVeth).catch(() => undefined);
    if (e instanceof SysError && /No such file|Invalid "netns"/.test(e.stderr)) throw new NetnsNotFoundError(req.netns);
    // The rename found a foreign interface of that name in the container.
    if (e instanceof SysError && /File exists/.test(e.stderr)) throw new InterfaceExistsError(req.netns, req.ifname);
    throw e;
  }
  return { hostVeth, mac };
}

/** Idempotent: a missing netns, interface or veth is not an error. */
export async function detach(netns: string, ifname: string, hostVeth = hostVethName(netns, ifname)): Promise<boolean> {
  // Deleting the host end deletes the container end with it.
  return deleteLink(hostVeth);
}

/** What the container's interface looks like now; undefined when it does not exist. */
export async function inspect(netns: string, ifname: string): Promise<SandboxInterface | undefined> {
  await requireNetns(netns);
  const inNs = { netns };
  const link = (await addrs(ifname, inNs))[0];
  if (!link) return undefined;
  const rs = await listRoutes(['dev', ifname], inNs);
  return {
    mac: link.address ?? '',
    addresses: link.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    routes: rs.map((r) => ({ dst: r.dst === 'default' ? '0.0.0.0/0' : r.dst, ...(r.gateway ? { gw: r.gateway } : {}) })),
  };
}
