/**
 * What the slow safety pass reads of the kernel, in at most three processes whatever
 * the number of peers or containers: every link with its details and addresses, every
 * FDB entry, and the nftables ruleset (split into tables here). Port filters cost one
 * `tc` batch more (port-filter.ts) and WireGuard its own check, when they are in use.
 */
import { fdbShow, type FdbEntry } from '../sys/fdb.js';
import { parseJsonList, run } from '../sys/exec.js';
import type { LinkAddrs } from '../sys/ip.js';

export interface KernelSnapshot {
  links: Map<string, LinkAddrs>;
  fdb: FdbEntry[];
  /** nft tables by "family name", as `nft list ruleset` prints them. */
  tables: Map<string, string>;
}

export async function readSnapshot(): Promise<KernelSnapshot> {
  const [links, fdb, ruleset] = await Promise.all([
    run('ip', ['-j', '-d', 'addr', 'show']).then((t) => parseJsonList<LinkAddrs>(t)),
    fdbShow({}),
    run('nft', ['list', 'ruleset']),
  ]);
  return { links: new Map(links.map((l) => [l.ifname, l])), fdb, tables: nftTables(ruleset) };
}

/** `nft list ruleset` text, split by table ("bridge overlay-isolation" → its text, header included). */
export function nftTables(ruleset: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (name) out.set(name, lines.join('\n'));
  };
  for (const line of ruleset.split('\n')) {
    const m = /^table (\S+) (\S+) \{/.exec(line);
    if (m) {
      flush();
      name = `${m[1]} ${m[2]}`;
      lines = [];
    }
    if (name) lines.push(line);
  }
  flush();
  return out;
}

/** The IPv4 addresses (with prefix) of a link in the snapshot. */
export function inetOf(l: LinkAddrs | undefined): string[] {
  return (l?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

export function linkLocalOf(l: LinkAddrs | undefined): string | undefined {
  return (l?.addr_info ?? []).find((a) => a.family === 'inet6' && a.scope === 'link')?.local;
}
