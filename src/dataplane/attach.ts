/**
 * The one code path that plugs a network namespace into the overlay bridge
 * and takes it out again. The CNI plugin and `overlay attach` both use it.
 *
 * attach: a veth pair with a deterministic host-side name; the container end
 * is created directly inside the target netns (so nothing with its name ever
 * appears on the host), renamed, given its MAC, MTU, address and routes; the
 * host end joins the bridge with a static FDB entry for the container's MAC;
 * the container announces itself by gratuitous ARP (arp_notify) as it comes up.
 */
import { access } from 'node:fs/promises';
import { bridgeBatch } from '../sys/fdb.js';
import { run, SysError } from '../sys/exec.js';
import { addrs, deleteLink, ipBatch, routes as listRoutes } from '../sys/ip.js';
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

export class NetnsNotFoundError extends Error {
  constructor(netns: string) {
    super(`network namespace ${netns} does not exist`);
    this.name = 'NetnsNotFoundError';
  }
}

export class InterfaceExistsError extends Error {
  constructor(netns: string, ifname: string) {
    super(`interface ${ifname} already exists in ${netns}`);
    this.name = 'InterfaceExistsError';
  }
}

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
  if (await inspect(req.netns, req.ifname)) throw new InterfaceExistsError(req.netns, req.ifname);
  const hostVeth = hostVethName(req.netns, req.ifname);
  const tmp = peerTempName(req.netns, req.ifname);
  const mac = (req.mac ?? randomMac()).toLowerCase();
  const inNs = { netns: req.netns };
  const create = () =>
    ipBatch([
      `link add ${hostVeth} mtu ${req.mtu} type veth peer name ${tmp} mtu ${req.mtu} address ${mac} netns ${req.netns}`,
      `link set dev ${hostVeth} master ${req.bridge} up`,
      ...(req.hairpin ? [`link set dev ${hostVeth} type bridge_slave hairpin on`] : []),
    ]);
  try {
    try {
      await create();
    } catch (e) {
      // A host end left by an attempt that died half-way blocks the name: remove it and try once more.
      if (!(e instanceof SysError && /File exists/.test(e.stderr))) throw e;
      await deleteLink(hostVeth);
      await create();
    }
    await bridgeBatch([`fdb replace ${mac} dev ${hostVeth} master static`]);
    // One process in the container's netns: gratuitous ARP on link up (arp_notify), then name, address, up, routes.
    await run('sh', ['-c', 'sysctl -q -w "$1" && exec ip -batch -', 'sh', `net/ipv4/conf/${tmp}/arp_notify=1`], {
      ...inNs,
      input: [
        `link set dev ${tmp} name ${req.ifname}`,
        `addr add ${req.address} dev ${req.ifname}`,
        `link set dev ${req.ifname} up`,
        ...(req.routes ?? []).map((r) => `route replace ${r.dst}${r.gw ? ` via ${r.gw}` : ''} dev ${req.ifname}`),
      ].join('\n') + '\n',
    });
  } catch (e) {
    await deleteLink(hostVeth).catch(() => undefined);
    if (e instanceof SysError && /No such file|Invalid "netns"/.test(e.stderr)) throw new NetnsNotFoundError(req.netns);
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
