/**
 * The rtnetlink requests a container port needs (linux/rtnetlink.h,
 * if_link.h, neighbour.h, pkt_sched.h, pkt_cls.h), built as bytes, and the
 * replies read back. Each builder says which `ip`/`bridge`/`tc` command it
 * stands for.
 */
import { isIPv4, isMac } from '../../lib/ipv4.js';
import { nlRequest, NLM_F, NLM_F_DUMP, parseAttrs, readStr, readU32, type NlMessage, type NlWriter } from './message.js';

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  GETADDR: 22,
  NEWROUTE: 24,
  GETROUTE: 26,
  NEWNEIGH: 28,
  NEWQDISC: 36,
  NEWTFILTER: 44,
} as const;

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_BRIDGE = 7;
const IFF_UP = 0x1;

const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, LINKINFO: 18, AF_SPEC: 26, NET_NS_FD: 28 } as const;
const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
const VETH_INFO_PEER = 1;
const IFLA_BRPORT_MODE = 4;
const IFLA_INET_CONF = 1;
/** IPV4_DEVCONF_ARP_NOTIFY (linux/ip.h): announce the address by gratuitous ARP when the link comes up. */
const IPV4_DEVCONF_ARP_NOTIFY = 22;

const IFA = { ADDRESS: 1, LOCAL: 2 } as const;
const RTA = { DST: 1, OIF: 4, GATEWAY: 5, TABLE: 15 } as const;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RTN_UNICAST = 1;

const NDA_LLADDR = 2;
const NTF_MASTER = 0x04;
/** What `bridge fdb … static` asks for: NUD_NOARP | NUD_REACHABLE. */
const NUD_STATIC = 0x40 | 0x02;

const TCA = { KIND: 1, OPTIONS: 2 } as const;
const TCA_BPF = { OPS_LEN: 4, OPS: 5, FLAGS: 8 } as const;
const TCA_BPF_FLAG_ACT_DIRECT = 1;
/** The kernel's limit on a classic BPF program. */
const BPF_MAXINSNS = 4096;
const TC_H_CLSACT = 0xfffffff1;
const CLSACT_HANDLE = 0xffff0000;
/** Parents of the clsact hooks: ingress (frames the device receives) and egress (frames it sends). */
export const CLSACT_INGRESS = 0xfffffff2;
export const CLSACT_EGRESS = 0xfffffff3;
/** htons(ETH_P_ALL): the filter sees every protocol. */
const ETH_P_ALL_BE = 0x0300;

const CREATE_NEW = NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL;
const CREATE_OR_REPLACE = NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE;
const CHANGE = NLM_F.REQUEST | NLM_F.ACK;

export function ipv4Bytes(ip: string): Uint8Array {
  if (!isIPv4(ip)) throw new Error(`bad IPv4 address "${ip}"`);
  return Uint8Array.from(ip.split('.').map(Number));
}

export function macBytes(mac: string): Uint8Array {
  if (!isMac(mac)) throw new Error(`bad MAC address "${mac}"`);
  return Uint8Array.from(mac.split(':').map((p) => parseInt(p, 16)));
}

function ifinfo(w: NlWriter, index = 0, flags = 0, change = 0, family = AF_UNSPEC): void {
  w.u8(family).u8(0).u16(0).i32(index).u32(flags).u32(change);
}

export interface VethSpec {
  name: string;
  mtu: number;
  peer: { name: string; mac: string; mtu: number; netnsFd: number };
}

/**
 * `ip link add NAME mtu M type veth peer name P address MAC mtu M netns NS` (both ends down).
 * Echoed: the answer carries the new link (see parseLink: its index and its peer's).
 */
export function newVeth(v: VethSpec): Uint8Array {
  return nlRequest(RTM.NEWLINK, CREATE_NEW | NLM_F.ECHO, (w) => {
    ifinfo(w);
    w.attrStr(IFLA.IFNAME, v.name).attrU32(IFLA.MTU, v.mtu);
    w.nest(IFLA.LINKINFO, (li) => {
      li.attrStr(IFLA_INFO.KIND, 'veth');
      li.nest(IFLA_INFO.DATA, (d) =>
        d.nest(VETH_INFO_PEER, (p) => {
          ifinfo(p);
          p.attrStr(IFLA.IFNAME, v.peer.name).attr(IFLA.ADDRESS, macBytes(v.peer.mac)).attrU32(IFLA.MTU, v.peer.mtu).attrU32(IFLA.NET_NS_FD, v.peer.netnsFd);
        }),
      );
    });
  });
}

/** `ip link set dev INDEX [name N] [mtu M] [master B] [up|down]` (a rename needs the link down already). */
export function setLink(index: number, opts: { name?: string; mtu?: number; master?: number; up?: boolean }): Uint8Array {
  return nlRequest(RTM.NEWLINK, CHANGE, (w) => {
    ifinfo(w, index, opts.up ? IFF_UP : 0, opts.up === undefined ? 0 : IFF_UP);
    if (opts.name !== undefined) w.attrStr(IFLA.IFNAME, opts.name);
    if (opts.mtu !== undefined) w.attrU32(IFLA.MTU, opts.mtu);
    if (opts.master !== undefined) w.attrU32(IFLA.MASTER, opts.master);
  });
}

/** `ip link set dev INDEX name NAME mtu M`, with arp_notify on (gratuitous ARP when it comes up). */
export function renameWithArpNotify(index: number, name: string, mtu: number): Uint8Array {
  return nlRequest(RTM.NEWLINK, CHANGE, (w) => {
    ifinfo(w, index);
    w.attrStr(IFLA.IFNAME, name).attrU32(IFLA.MTU, mtu);
    w.nest(IFLA.AF_SPEC, (s) => s.nest(AF_INET, (inet) => inet.nest(IFLA_INET_CONF, (c) => c.attrU32(IPV4_DEVCONF_ARP_NOTIFY, 1))));
  });
}

/** `ip link set dev INDEX type bridge_slave hairpin on` (the port must already be on the bridge). */
export function setHairpin(index: number): Uint8Array {
  return nlRequest(RTM.NEWLINK, CHANGE, (w) => {
    ifinfo(w, index);
    w.nest(IFLA.LINKINFO, (li) => {
      li.attrStr(IFLA_INFO.SLAVE_KIND, 'bridge');
      li.nest(IFLA_INFO.SLAVE_DATA, (d) => d.attrU8(IFLA_BRPORT_MODE, 1));
    });
  });
}

/** `ip link del NAME` (deleting one end of a veth deletes both). */
export function delLinkByName(name: string): Uint8Array {
  return nlRequest(RTM.DELLINK, CHANGE, (w) => {
    ifinfo(w);
    w.attrStr(IFLA.IFNAME, name);
  });
}

/** `ip link show NAME`: answered by one RTM_NEWLINK message (see parseLink), or ENODEV. */
export function getLinkByName(name: string): Uint8Array {
  return nlRequest(RTM.GETLINK, NLM_F.REQUEST, (w) => {
    ifinfo(w);
    w.attrStr(IFLA.IFNAME, name);
  });
}

/** `ip link show` of one index. */
export function getLinkByIndex(index: number): Uint8Array {
  return nlRequest(RTM.GETLINK, NLM_F.REQUEST, (w) => ifinfo(w, index));
}

export interface LinkInfo {
  index: number;
  name: string;
  mac: string;
  /** A veth's peer's index (in the peer's netns). */
  peerIndex?: number;
}

export function parseLink(m: NlMessage): LinkInfo {
  const attrs = parseAttrs(m.payload, 16);
  const mac = attrs.get(IFLA.ADDRESS);
  const peer = attrs.get(IFLA.LINK);
  return {
    ...(peer ? { peerIndex: readU32(peer) } : {}),
    index: new DataView(m.payload.buffer, m.payload.byteOffset + 4, 4).getInt32(0, true),
    name: readStr(attrs.get(IFLA.IFNAME) ?? new Uint8Array()),
    mac: mac ? [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':') : '',
  };
}

/** `ip addr add IP/PREFIX dev INDEX`. */
export function addAddress(index: number, ip: string, prefix: number): Uint8Array {
  return nlRequest(RTM.NEWADDR, CREATE_NEW, (w) => {
    w.u8(AF_INET).u8(prefix).u8(0).u8(RT_SCOPE_UNIVERSE).u32(index);
    w.attr(IFA.LOCAL, ipv4Bytes(ip)).attr(IFA.ADDRESS, ipv4Bytes(ip));
  });
}

/** `ip -4 addr show`: a dump of every IPv4 address (see parseAddress). */
export function dumpAddresses(): Uint8Array {
  return nlRequest(RTM.GETADDR, NLM_F.REQUEST | NLM_F_DUMP, (w) => w.u8(AF_INET).u8(0).u8(0).u8(0).u32(0));
}

export function parseAddress(m: NlMessage): { index: number; cidr: string } | undefined {
  const local = parseAttrs(m.payload, 8).get(IFA.LOCAL);
  if (!local || local.length !== 4) return undefined;
  return { index: readU32(m.payload, 4), cidr: `${[...local].join('.')}/${m.payload[1]}` };
}

/** `ip route replace DST/LEN [via GW] dev INDEX`. */
export function replaceRoute(index: number, dst: string, dstLen: number, gateway?: string): Uint8Array {
  return nlRequest(RTM.NEWROUTE, CREATE_OR_REPLACE, (w) => {
    w.u8(AF_INET).u8(dstLen).u8(0).u8(0).u8(RT_TABLE_MAIN).u8(RTPROT_BOOT).u8(gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK).u8(RTN_UNICAST).u32(0);
    if (dstLen > 0) w.attr(RTA.DST, ipv4Bytes(dst));
    if (gateway) w.attr(RTA.GATEWAY, ipv4Bytes(gateway));
    w.attrU32(RTA.OIF, index);
  });
}

/** `ip -4 route show table main`: a dump of IPv4 routes (see parseRoute). */
export function dumpRoutes(): Uint8Array {
  return nlRequest(RTM.GETROUTE, NLM_F.REQUEST | NLM_F_DUMP, (w) => w.u8(AF_INET).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u32(0));
}

export function parseRoute(m: NlMessage): { index?: number; table: number; dst: string; gw?: string } {
  const p = m.payload;
  const attrs = parseAttrs(p, 12);
  const dst = attrs.get(RTA.DST);
  const gw = attrs.get(RTA.GATEWAY);
  const oif = attrs.get(RTA.OIF);
  const table = attrs.get(RTA.TABLE);
  return {
    ...(oif ? { index: readU32(oif) } : {}),
    table: table ? readU32(table) : p[4]!,
    dst: `${dst ? [...dst].join('.') : '0.0.0.0'}/${p[1]}`,
    ...(gw ? { gw: [...gw].join('.') } : {}),
  };
}

/** `bridge fdb replace MAC dev INDEX master static`. */
export function replaceStaticFdb(index: number, mac: string): Uint8Array {
  return nlRequest(RTM.NEWNEIGH, CREATE_OR_REPLACE, (w) => {
    w.u8(AF_BRIDGE).u8(0).u16(0).i32(index).u16(NUD_STATIC).u8(NTF_MASTER).u8(0);
    w.attr(NDA_LLADDR, macBytes(mac));
  });
}

function tcmsg(w: NlWriter, index: number, handle: number, parent: number, info = 0): void {
  w.u8(AF_UNSPEC).u8(0).u16(0).i32(index).u32(handle).u32(parent).u32(info);
}

/** `tc qdisc replace dev INDEX clsact`. */
export function replaceClsact(index: number): Uint8Array {
  return nlRequest(RTM.NEWQDISC, CREATE_OR_REPLACE, (w) => {
    tcmsg(w, index, CLSACT_HANDLE, TC_H_CLSACT);
    w.attrStr(TCA.KIND, 'clsact');
  });
}

/** `tc filter replace dev INDEX ingress|egress pref 1 handle 1 bpf da bytecode …` (protocol all); `ops` is a struct sock_filter[]. */
export function replaceBpfFilter(index: number, parent: number, ops: Uint8Array): Uint8Array {
  if (ops.length === 0 || ops.length % 8 !== 0 || ops.length > BPF_MAXINSNS * 8) throw new Error(`bad classic BPF program (${ops.length} bytes)`);
  return nlRequest(RTM.NEWTFILTER, CREATE_OR_REPLACE, (w) => {
    tcmsg(w, index, 1, parent, (1 << 16) | ETH_P_ALL_BE);
    w.attrStr(TCA.KIND, 'bpf');
    w.nest(TCA.OPTIONS, (o) => o.attrU16(TCA_BPF.OPS_LEN, ops.length / 8).attr(TCA_BPF.OPS, ops).attrU32(TCA_BPF.FLAGS, TCA_BPF_FLAG_ACT_DIRECT));
  });
}
