/**
 * Subnet isolation and anti-spoofing, in the project's own nftables table
 * `bridge overlay-isolation`, rebuilt whole from the list of container ports
 * (a new port's rules are appended in place).
 *
 * Each port may only send from its own MAC and IP (ARP included), only to
 * its own subnet, and only IPv4 and ARP; and a port only receives frames
 * whose sender is in its subnet. Rules are matched where frames enter the
 * overlay (iifname) and where they leave it (oifname), so a container in
 * another subnet, on this host or another, can exchange nothing with it at
 * L2 or L3 even if it changes its own address, MAC or routes. Routed traffic
 * from an exposed host goes through the bridge's local-out path, which these
 * forward rules leave alone: an exposed host reaches the subnets it exposed.
 */
import { run } from '../sys/exec.js';
import { deleteTable, listTable, replaceTable } from '../sys/nft.js';

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

function portRules(p: IsolatedPort): { forward: string[]; input: string[] } {
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
      `${i} ip daddr != ${p.subnet} drop`,
      `${i} ether type != { ip, arp } drop`,
      `${o} arp saddr ip != ${p.subnet} drop`,
      `${o} ip saddr != ${p.subnet} drop`,
      `${o} ether type != { ip, arp } drop`,
    ],
    input: [...ingress, `${i} ether type != { ip, arp } drop`],
  };
}

export function isolationRules(ports: IsolatedPort[]): string {
  const sorted = [...ports].sort((a, b) => (a.hostVeth < b.hostVeth ? -1 : 1));
  const rules = sorted.map(portRules);
  const chain = (name: string, hook: string, lines: string[]) =>
    [`  chain ${name} {`, `    type filter hook ${hook} priority filter; policy accept;`, ...lines.map((l) => `    ${l}`), '  }'].join('\n');
  return [chain('forward', 'forward', rules.flatMap((r) => r.forward)), chain('input', 'input', rules.flatMap((r) => r.input))].join('\n');
}

/** How many rules the table must hold: a flushed or edited table has fewer, and is rebuilt. */
export function expectedRuleCount(ports: IsolatedPort[]): number {
  return ports.reduce((n, p) => {
    const r = portRules(p);
    return n + r.forward.length + r.input.length;
  }, 0);
}

export async function applyIsolation(ports: IsolatedPort[]): Promise<void> {
  if (ports.length === 0) return deleteTable(ISOLATION_FAMILY, ISOLATION_TABLE);
  await replaceTable(ISOLATION_FAMILY, ISOLATION_TABLE, isolationRules(ports));
}

/**
 * Add one port's rules to the table in place. Rules of different ports are
 * independent, so order does not matter; one `nft` call of a few rules takes
 * ~5 ms where rebuilding the table takes ~15 ms, and ADD waits for it.
 */
export async function appendPortRules(p: IsolatedPort): Promise<void> {
  const r = portRules(p);
  const t = `${ISOLATION_FAMILY} ${ISOLATION_TABLE}`;
  const script = [...r.forward.map((l) => `add rule ${t} forward ${l}`), ...r.input.map((l) => `add rule ${t} input ${l}`)].join('\n') + '\n';
  await run('nft', ['-f', '-'], { input: script });
}

/** True when the table in the kernel still holds every rule (nobody flushed or deleted it). */
export async function isolationIntact(ports: IsolatedPort[]): Promise<boolean> {
  const text = await listTable(ISOLATION_FAMILY, ISOLATION_TABLE);
  if (ports.length === 0) return text === undefined;
  return text !== undefined && (text.match(/ drop$/gm) ?? []).length === expectedRuleCount(ports);
}

export function removeIsolation(): Promise<void> {
  return deleteTable(ISOLATION_FAMILY, ISOLATION_TABLE);
}
