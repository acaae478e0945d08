/**
 * What the slow safety pass reads of the kernel, in at most three processes whatever
 * the number of peers or containers: every link with its details and addresses, every
 * FDB entry, and the nftables ruleset's rules by table. Port filters cost one
 * `tc` batch more (port-filter.ts) and WireGuard its own check, when they are in use.
 */
import { fdbShow, type FdbEntry } from '../sys/fdb.js';
import { parseJsonList, run } from '../sys/exec.js';
import type { LinkAddrs } from '../sys/ip.js';
import { listRuleset, type NftRule } from '../sys/nft.js';

export interface KernelSnapshot {
  links: Map<string, LinkAddrs>;
  fdb: FdbEntry[];
  /** Each nft table's rules by "family name". */
  tables: Map<string, NftRule[]>;
}

export async function readSnapshot(): Promise<KernelSnapshot> {
  const [links, fdb, tables] = await Promise.all([
    run('ip', ['-j', '-d', 'addr', 'show']).then((t) => parseJsonList<LinkAddrs>(t)),
    fdbShow({}),
    listRuleset(),
  ]);
  return { links: new Map(links.map((l) => [l.ifname, l])), fdb, tables };
}

/** The IPv4 addresses (with prefix) of a link in the snapshot. */
export function inetOf(l: LinkAddrs | undefined): string[] {
  return (l?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

export function linkLocalOf(l: LinkAddrs | undefined): string | undefined {
  return (l?.addr_info ?? []).find((a) => a.family === 'inet6' && a.scope === 'link')?.local;
}
