/**
 * Subnet isolation and anti-spoofing, in the project's own nftables table
 * `bridge overlay-isolation`, rebuilt whole from the list of container ports
 * (a new port's rules are appended in place).
 *
 * Each port may only send from its own MAC and IP (ARP included), only to
 * its own subnet (its broadcast address included) or to a group address
 * (limited broadcast, multicast: GROUP_DESTINATIONS), and only IPv4 and ARP;
 * and a port only receives frames whose sender is in its subnet. The bridge
 * floods broadcast and multicast to every port, on this host and (VXLAN
 * head-end replication) on the others: the receiving port's rules are what
 * keep one subnet's groups from another's containers. Rules are matched where frames enter the
 * overlay (iifname) and where they leave it (oifname), so a container in
 * another subnet, on this host or another, can exchange nothing with it at
 * L2 or L3 even if it changes its own address, MAC or routes. What the host
 * itself sends or routes to a port (the bridge's local-out path) may come from
 * the port's subnet or from outside the overlay, never from another overlay
 * subnet: an exposed host reaches the subnets it exposed, but a host exposed
 * on two subnets does not route between them.
 *
 * port-filter.ts enforces the same policy a second time, in tc filters that
 * `nft flush ruleset` cannot remove.
 */
import { LIMITED_BROADCAST, MULTICAST_BLOCK } from '../lib/ipv4.js';
import { run } from '../sys/exec.js';
import { deleteTable, drops, listTableRules, replaceTable, type NftRule } from '../sys/nft.js';

export const ISOLATION_FAMILY = 'bridge';
export const ISOLATION_TABLE = 'overlay-isolation';

export interface IsolatedPort {
  hostVeth: string;
  mac: string;
  /** The container's address, without prefix. */
  ip: string;
  /** Its subnet, e.g. 10.32.1.0/24. */
  subnet: string;
}

/**
 * Destinations a port may send to beyond its subnet, from its own MAC and IP:
 * limited broadcast and IPv4 multicast (IGMP included), which are never
 * routed off the segment. (A subnet's own broadcast address is in the subnet.)
 */
export const GROUP_DESTINATIONS = [MULTICAST_BLOCK, LIMITED_BROADCAST] as const;

/** The rules of one port; `range` is the whole overlay range. */
function portRules(p: IsolatedPort, range: string): { forward: string[]; input: string[]; output: string[] } {
  const i = `iifname "${p.hostVeth}"`;
  const o = `oifname "${p.hostVeth}"`;
  const ingress = [
    `${i} ether saddr != ${p.mac} drop`,
    `${i} arp saddr ether != ${p.mac} drop`,
    `${i} arp saddr ip != ${p.ip} drop`,
    `${i} ip saddr != ${p.ip} drop`,
  ];
  return {
    forward: [
      ...ingress,
      `${i} arp daddr ip != ${p.subnet} drop`,
      `${i} ip daddr != { ${[p.subnet, ...GROUP_DESTINATIONS].join(', ')} } drop`,
      `${i} ether type != { ip, arp } drop`,
      `${o} arp saddr ip != ${p.subnet} drop`,
      `${o} ip saddr != ${p.subnet} drop`,
      `${o} ether type != { ip, arp } drop`,
    ],
    input: [...ingress, `${i} ether type != { ip, arp } drop`],
    output: [`${o} ip saddr != ${p.subnet} ip saddr ${range} drop`, `${o} arp saddr ip != ${p.subnet} arp saddr ip ${range} drop`],
  };
}

type Chain = 'forward' | 'input' | 'output';
const CHAINS: Chain[] = ['forward', 'input', 'output'];

export function isolationRules(ports: IsolatedPort[], range: string): string {
  const sorted = [...ports].sort((a, b) => (a.hostVeth < b.hostVeth ? -1 : 1));
  const rules = sorted.map((p) => portRules(p, range));
  const chain = (name: Chain) =>
    [`  chain ${name} {`, `    type filter hook ${name} priority filter; policy accept;`, ...rules.flatMap((r) => r[name]).map((l) => `    ${l}`), '  }'].join('\n');
  return CHAINS.map(chain).join('\n');
}

/** How many rules the table must hold: a flushed or edited table has fewer, and is rebuilt. */
export function expectedRuleCount(ports: IsolatedPort[], range: string): number {
  return ports.reduce((n, p) => {
    const r = portRules(p, range);
    return n + CHAINS.reduce((m, c) => m + r[c].length, 0);
  }, 0);
}

export async function applyIsolation(ports: IsolatedPort[], range: string): Promise<void> {
  if (ports.length === 0) return deleteTable(ISOLATION_FAMILY, ISOLATION_TABLE);
  await replaceTable(ISOLATION_FAMILY, ISOLATION_TABLE, isolationRules(ports, range));
}

/**
 * Add one port's rules to the table in place. Rules of different ports are
 * independent, so order does not matter; one `nft` call of a few rules takes
 * ~5 ms where rebuilding the table takes ~15 ms, and ADD waits for it.
 */
export async function appendPortRules(p: IsolatedPort, range: string): Promise<void> {
  const r = portRules(p, range);
  const t = `${ISOLATION_FAMILY} ${ISOLATION_TABLE}`;
  const script = CHAINS.flatMap((c) => r[c].map((l) => `add rule ${t} ${c} ${l}`)).join('\n') + '\n';
  await run('nft', ['-f', '-'], { input: script });
}

/** True when the table in the kernel still holds every rule (nobody flushed or deleted it). */
export async function isolationIntact(ports: IsolatedPort[], range: string): Promise<boolean> {
  return isolationIntactIn(await listTableRules(ISOLATION_FAMILY, ISOLATION_TABLE), ports, range);
}

/** The same check on a table's rules already read (the safety pass reads the whole ruleset once); undefined: no table. */
export function isolationIntactIn(rules: NftRule[] | undefined, ports: IsolatedPort[], range: string): boolean {
  if (ports.length === 0) return rules === undefined;
  return rules !== undefined && rules.filter(drops).length === expectedRuleCount(ports, range);
}

export function removeIsolation(): Promise<void> {
  return deleteTable(ISOLATION_FAMILY, ISOLATION_TABLE);
}
