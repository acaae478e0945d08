/**
 * The second, fail-closed layer of subnet isolation: a classic BPF filter on
 * each container port's host veth (tc clsact, ingress = frames from the
 * container, egress = frames to it), enforcing the same policy as the
 * nftables rules (isolation.ts).
 *
 * Why two layers: the nftables rules are the visible, countable policy, but
 * `nft flush ruleset` or a firewall reload removes them until the daemon puts
 * them back (tens of milliseconds), and a stopped daemon puts nothing back.
 * The tc filters live on the port itself: nftables cannot touch them, they
 * survive a daemon crash, and they go away with the veth. Both must pass a
 * frame for it to cross.
 *
 * Policy per port (its MAC, IP, subnet; this host's bridge MAC; the overlay range):
 *  from the container: only IPv4 and ARP (Ethernet/IPv4); always from its own
 *    MAC and IP (ARP sender fields included); IPv4 only to its subnet (its
 *    broadcast address included), to a group address (limited broadcast,
 *    multicast), or to this host (the bridge's MAC: the host's routing and
 *    nftables decide what it may reach beyond); ARP only for addresses in its
 *    subnet.
 *  to the container: IPv4 and ARP from its subnet; or IPv4 this host sends or
 *    routes (the bridge's MAC) from outside the overlay range (an exposed
 *    host's masqueraded or routed traffic). Never from another overlay subnet:
 *    this is what stops another subnet's broadcast and multicast, which the
 *    bridge floods to every port.
 * Frames too short to hold the fields checked are dropped.
 */
import { assemble, bytecode, sockFilter, type Insn, type Step } from '../lib/cbpf.js';
import { ipToInt, networkOf, parseNetwork, prefixMask } from '../lib/ipv4.js';
import { tcBatchAll } from '../sys/tc.js';
import { GROUP_DESTINATIONS, type IsolatedPort } from './isolation.js';

/** tc direct-action verdicts (linux/pkt_cls.h): TC_ACT_OK, TC_ACT_SHOT. */
export const PASS = 0;
export const DROP = 2;

const ETH_IP = 0x0800;
const ETH_ARP = 0x0806;
const IP_MIN_FRAME = 14 + 20;
const ARP_MIN_FRAME = 14 + 28;
// Offsets in an Ethernet frame.
const ETH_DST = 0;
const ETH_SRC = 6;
const ETH_TYPE = 12;
const IP_SRC = 26;
const IP_DST = 30;
const ARP_HTYPE_PTYPE = 14;
const ARP_HLEN_PLEN = 18;
const ARP_SHA = 22;
const ARP_SPA = 28;
const ARP_TPA = 38;

export interface PortFilterContext {
  /** This host's bridge MAC: frames to or from it are the host's own or routed by it. */
  bridgeMac: string;
  /** The whole overlay range, e.g. 10.32.0.0/12. */
  range: string;
}

/** A port's two programs, as text (`tc … bpf bytecode`) or as base64 struct sock_filter[] (netlink: the CNI plugin). */
export interface PortFilterPrograms {
  /** Frames from the container (tc ingress on the host veth). */
  fromContainer: string;
  /** Frames to the container (tc egress on the host veth). */
  toContainer: string;
}

function macWords(mac: string): [number, number] {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  return [((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0, (b[4]! << 8) | b[5]!];
}

function network(cidr: string): { net: number; mask: number } {
  const c = parseNetwork(networkOf(cidr));
  return { net: c.start, mask: prefixMask(c.prefix) };
}

/** Fails over to `otherwise` unless the 6 bytes at `at` are `mac`. */
function requireMac(at: number, mac: string, otherwise: string): Step[] {
  const [hi, lo] = macWords(mac);
  return [
    { loadWord: at },
    { ifEqual: hi, then: 'next', else: otherwise },
    { loadHalf: at + 4 },
    { ifEqual: lo, then: 'next', else: otherwise },
  ];
}

/** Jumps to `then` if the word at `at` lies in `cidr`, else to `otherwise`. */
function inNetwork(at: number, cidr: string, then: string, otherwise: string): Step[] {
  const { net, mask } = network(cidr);
  return [{ loadWord: at }, { and: mask }, { ifEqual: net, then, else: otherwise }];
}

/** Ethernet/IPv4 ARP only: the fixed offsets below assume 6-byte hardware and 4-byte protocol addresses. */
const arpShape: Step[] = [
  { loadLength: true },
  { ifAtLeast: ARP_MIN_FRAME, then: 'next', else: 'drop' },
  { loadWord: ARP_HTYPE_PTYPE },
  { ifEqual: (1 << 16) | ETH_IP, then: 'next', else: 'drop' },
  { loadHalf: ARP_HLEN_PLEN },
  { ifEqual: 0x0604, then: 'next', else: 'drop' },
];

const verdicts: Step[] = [{ label: 'pass' }, { ret: PASS }, { label: 'drop' }, { ret: DROP }];

const byType: Step[] = [
  { loadHalf: ETH_TYPE },
  { ifEqual: ETH_IP, then: 'ip', else: 'next' },
  { ifEqual: ETH_ARP, then: 'arp', else: 'drop' },
];

export function fromContainerSteps(p: IsolatedPort, ctx: PortFilterContext): Step[] {
  const ip = ipToInt(p.ip);
  return [
    ...byType,
    { label: 'ip' },
    { loadLength: true },
    { ifAtLeast: IP_MIN_FRAME, then: 'next', else: 'drop' },
    ...requireMac(ETH_SRC, p.mac, 'drop'),
    { loadWord: IP_SRC },
    { ifEqual: ip, then: 'next', else: 'drop' },
    ...inNetwork(IP_DST, p.subnet, 'pass', 'next'),
    ...GROUP_DESTINATIONS.flatMap((g) => inNetwork(IP_DST, g, 'pass', 'next')),
    ...requireMac(ETH_DST, ctx.bridgeMac, 'drop'),
    { goto: 'pass' }, // addressed to this host
    { label: 'arp' },
    ...arpShape,
    ...requireMac(ETH_SRC, p.mac, 'drop'),
    ...requireMac(ARP_SHA, p.mac, 'drop'),
    { loadWord: ARP_SPA },
    { ifEqual: ip, then: 'next', else: 'drop' },
    ...inNetwork(ARP_TPA, p.subnet, 'pass', 'drop'),
    ...verdicts,
  ];
}

export function toContainerSteps(p: IsolatedPort, ctx: PortFilterContext): Step[] {
  return [
    ...byType,
    { label: 'ip' },
    { loadLength: true },
    { ifAtLeast: IP_MIN_FRAME, then: 'next', else: 'drop' },
    ...inNetwork(IP_SRC, p.subnet, 'pass', 'next'),
    ...requireMac(ETH_SRC, ctx.bridgeMac, 'drop'),
    ...inNetwork(IP_SRC, ctx.range, 'drop', 'pass'),
    { label: 'arp' },
    ...arpShape,
    ...inNetwork(ARP_SPA, p.subnet, 'pass', 'drop'),
    ...verdicts,
  ];
}

export function portFilterPrograms(p: IsolatedPort, ctx: PortFilterContext, form: 'tc' | 'netlink' = 'tc'): PortFilterPrograms {
  const encode = form === 'tc' ? bytecode : (insns: Insn[]) => Buffer.from(sockFilter(insns)).toString('base64');
  return {
    fromContainer: encode(assemble(fromContainerSteps(p, ctx))),
    toContainer: encode(assemble(toContainerSteps(p, ctx))),
  };
}

/**
 * `tc -batch` lines that install (or replace in place) a port's filters.
 * `qdisc replace` keeps filters already there; handle 1 makes `filter replace` idempotent.
 */
export function portFilterCommands(hostVeth: string, f: PortFilterPrograms): string[] {
  return [
    `qdisc replace dev ${hostVeth} clsact`,
    `filter replace dev ${hostVeth} ingress pref 1 handle 1 bpf da bytecode "${f.fromContainer}"`,
    `filter replace dev ${hostVeth} egress pref 1 handle 1 bpf da bytecode "${f.toContainer}"`,
  ];
}

/** `tc -batch` lines that show a port's installed filters. */
function portFilterShowCommands(hostVeth: string): string[] {
  return [`filter show dev ${hostVeth} ingress`, `filter show dev ${hostVeth} egress`];
}

/** The bytecode of each of our filters (handle 1) in `tc filter show` output. */
export function installedBytecodes(showOutput: string): string[] {
  return [...showOutput.matchAll(/ bpf .*handle 0x1 direct-action.* bytecode '([^']*)'/g)].map((m) => m[1]!);
}

/**
 * Check every port's filters with one `tc` process, and put back whatever is
 * missing or changed. Returns the host veths repaired; a veth deleted
 * meanwhile is not an error (its port is pruned by the next pass).
 */
export async function ensurePortFilters(ports: IsolatedPort[], ctx: PortFilterContext): Promise<string[]> {
  if (ports.length === 0) return [];
  const want = ports.map((p) => ({ p, f: portFilterPrograms(p, ctx) }));
  const shown = await tcBatchAll(want.flatMap(({ p }) => portFilterShowCommands(p.hostVeth)));
  // Each port's programs are unique (its MAC and IP are in them), so one set tells who lacks what.
  const have = new Set(installedBytecodes(shown.stdout));
  const broken = want.filter(({ f }) => !have.has(f.fromContainer) || !have.has(f.toContainer));
  if (broken.length === 0) return [];
  const fixed = await tcBatchAll(broken.flatMap(({ p, f }) => portFilterCommands(p.hostVeth, f)));
  const unexpected = fixed.errors.split('\n').filter((l) => l.trim() && !/Cannot find device|Command failed/.test(l));
  if (unexpected.length) throw new Error(`cannot restore port filters: ${unexpected.join('; ')}`);
  return broken.map(({ p }) => p.hostVeth).filter((v) => !fixed.errors.includes(`"${v}"`));
}
