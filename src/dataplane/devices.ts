/**
 * The shared kernel objects the daemon owns: the bridge and the VXLAN device
 * plugged into it. ensureDevices() makes them match the configuration and
 * repairs whatever was changed or deleted by hand; removeDevices() undoes it.
 */
import { deleteLink, ipBatch, link, links, routeGet, routes, addrs, type Link } from '../sys/ip.js';
import { setSysctl } from '../sys/sysctl.js';
import { VXLAN_OVERHEAD, type DataplaneConfig } from './config.js';
import { HOST_VETH_RE } from './names.js';
import { WIREGUARD_OVERHEAD } from './wireguard.js';

export interface Underlay {
  dev: string;
  mtu: number;
  ip?: string;
}

/**
 * The interface VXLAN packets leave by: the route to a known peer, else the
 * default route, else the first other interface that is up with an IPv4
 * address. Its MTU less the VXLAN overhead is the overlay MTU.
 */
export async function detectUnderlay(cfg: DataplaneConfig, peerIp?: string): Promise<Underlay | undefined> {
  const ours = (l: Link) => l.ifname === cfg.bridge || l.ifname === cfg.vxlanDev || l.master === cfg.bridge || l.ifname === 'lo';
  const all = await links();
  const byName = new Map(all.map((l) => [l.ifname, l]));
  const viaRoute = async (dst: string): Promise<Underlay | undefined> => {
    const r = await routeGet(dst);
    const l = r?.dev ? byName.get(r.dev) : undefined;
    return l && !ours(l) ? { dev: l.ifname, mtu: l.mtu, ip: r?.prefsrc } : undefined;
  };
  if (peerIp) {
    const u = await viaRoute(peerIp);
    if (u) return u;
  }
  const def = (await routes(['default'])).find((r) => r.dev);
  if (def?.dev && byName.has(def.dev) && !ours(byName.get(def.dev)!)) {
    const l = byName.get(def.dev)!;
    const a = (await addrs(l.ifname)).flatMap((x) => x.addr_info).find((x) => x.family === 'inet');
    return { dev: l.ifname, mtu: l.mtu, ip: a?.local };
  }
  for (const la of await addrs()) {
    if (ours(la) || !la.flags.includes('UP')) continue;
    const a = la.addr_info.find((x) => x.family === 'inet' && x.scope === 'global');
    if (a) return { dev: la.ifname, mtu: la.mtu, ip: a.local };
  }
  return undefined;
}

/** The underlay MTU less VXLAN, and less WireGuard when the data plane is encrypted. */
export function overlayMtu(cfg: DataplaneConfig, underlay?: Underlay): number {
  return cfg.mtu ?? (underlay?.mtu ?? 1500) - VXLAN_OVERHEAD - (cfg.wireguard ? WIREGUARD_OVERHEAD : 0);
}

function vxlanMatches(l: Link, cfg: DataplaneConfig): boolean {
  const d = l.linkinfo?.info_data ?? {};
  return l.linkinfo?.info_kind === 'vxlan' && d['id'] === cfg.vni && d['port'] === cfg.port && d['learning'] === false;
}

/**
 * Create or repair the bridge and VXLAN device, given the links as they are now (a
 * snapshot: nothing is read here). Returns what had to be fixed (empty when all was well).
 */
export async function ensureDevices(cfg: DataplaneConfig, mtu: number, bridgeMac: string, now: ReadonlyMap<string, Link>): Promise<string[]> {
  const fixed: string[] = [];
  const br = now.get(cfg.bridge);
  if (br && br.linkinfo?.info_kind !== 'bridge') throw new Error(`a non-bridge interface named ${cfg.bridge} exists; remove it or choose another --bridge`);
  if (!br) {
    await ipBatch([`link add ${cfg.bridge} type bridge`]);
    fixed.push(`created bridge ${cfg.bridge}`);
  }
  if (!br || br.mtu !== mtu || br.address !== bridgeMac || !br.flags.includes('UP')) {
    await ipBatch([`link set dev ${cfg.bridge} address ${bridgeMac} mtu ${mtu} up`]);
    if (br) fixed.push(`reset bridge ${cfg.bridge} address/mtu/up`);
  }
  // The data path probe talks between bridges' IPv6 link-local addresses.
  if (!br) await setSysctl(`net/ipv6/conf/${cfg.bridge}/disable_ipv6`, '0').catch(() => undefined);

  let vx = now.get(cfg.vxlanDev);
  if (vx && !vxlanMatches(vx, cfg)) {
    await deleteLink(cfg.vxlanDev);
    fixed.push(`replaced ${cfg.vxlanDev} (wrong kind, VNI, port or learning)`);
    vx = undefined;
  }
  if (!vx) {
    await ipBatch([`link add ${cfg.vxlanDev} type vxlan id ${cfg.vni} dstport ${cfg.port} nolearning df set`]);
    if (!fixed.some((f) => f.startsWith('replaced'))) fixed.push(`created ${cfg.vxlanDev}`);
  }
  if (!vx || vx.mtu !== mtu || vx.master !== cfg.bridge || !vx.flags.includes('UP')) {
    await ipBatch([`link set dev ${cfg.vxlanDev} mtu ${mtu} master ${cfg.bridge} up`]);
    if (vx) fixed.push(`reset ${cfg.vxlanDev} mtu/master/up`);
  }
  return fixed;
}

/**
 * Plugged container ports that lost their bridge, because the bridge was deleted and
 * recreated, are plugged back in. A port the plugin is still making is not plugged yet
 * and is left alone: bringing it up is the plugin's last step, not ours.
 */
export async function reattachPorts(cfg: DataplaneConfig, now: ReadonlyMap<string, Link>, plugged: (hostVeth: string) => boolean): Promise<string[]> {
  const orphans = [...now.values()].filter((l) => HOST_VETH_RE.test(l.ifname) && plugged(l.ifname) && l.master !== cfg.bridge);
  if (orphans.length) await ipBatch(orphans.map((l) => `link set dev ${l.ifname} master ${cfg.bridge} up`));
  return orphans.map((l) => `plugged ${l.ifname} back into ${cfg.bridge}`);
}

/** Everything: container ports (useless without the bridge), the VXLAN device and the bridge. */
export async function removeDevices(cfg: Pick<DataplaneConfig, 'bridge' | 'vxlanDev'>): Promise<void> {
  for (const l of await links()) if (HOST_VETH_RE.test(l.ifname) && l.linkinfo?.info_kind === 'veth') await deleteLink(l.ifname);
  await deleteLink(cfg.vxlanDev);
  await deleteLink(cfg.bridge);
}

/** The IPv6 link-local address of a device (the probe's source and target), if it has one yet. */
export async function linkLocal(dev: string): Promise<string | undefined> {
  const a = (await addrs(dev)).flatMap((x) => x.addr_info).find((x) => x.family === 'inet6' && x.scope === 'link');
  return a?.local;
}
