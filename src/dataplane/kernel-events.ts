/**
 * The kernel's change events, as `ip -o monitor link address` and `bridge monitor fdb`
 * print them, parsed into what the data plane acts on. Pure, so it is unit-tested; the
 * monitors themselves are monitor.ts. Lines we do not understand are ignored: the slow
 * safety pass still catches whatever they were about.
 */

export interface LinkEvent {
  kind: 'link';
  deleted: boolean;
  ifname: string;
  up: boolean;
  mtu?: number;
  master?: string;
}

export interface AddrEvent {
  kind: 'addr';
  deleted: boolean;
  ifname: string;
  family: 'inet' | 'inet6';
  /** With its prefix length, e.g. 10.32.0.1/12. */
  address: string;
  scope?: string;
}

export interface RuleEvent {
  kind: 'rule';
  deleted: boolean;
  pref: number;
  table: string;
}

export interface FdbEvent {
  kind: 'fdb';
  deleted: boolean;
  mac: string;
  dev: string;
  master?: string;
  dst?: string;
  permanent: boolean;
}

const LINK_RE = /^(Deleted )?\d+: ([^:@\s]+)(?:@\S+)?: <([^>]*)>(.*)$/;
const ADDR_RE = /^(Deleted )?\d+: (\S+)\s+(inet6?) (\S+)(?:.* scope (\S+))?/;
const RULE_RE = /^(Deleted )?(\d+):\s+from .* lookup (\S+)/;

/** One line of `ip -o monitor link address rule`. */
export function parseIpEvent(line: string): LinkEvent | AddrEvent | RuleEvent | undefined {
  const r = RULE_RE.exec(line);
  if (r) return { kind: 'rule', deleted: r[1] !== undefined, pref: Number(r[2]), table: r[3]! };
  const l = LINK_RE.exec(line);
  if (l) {
    const rest = l[4]!;
    // The bridge's own port notices (no qdisc): "Deleted" there means "left the bridge", not
    // "gone". The same change also comes as an ordinary link message, which is the one we read.
    if (!rest.includes(' qdisc ')) return undefined;
    const mtu = / mtu (\d+)/.exec(rest)?.[1];
    const master = / master (\S+)/.exec(rest)?.[1];
    return {
      kind: 'link',
      deleted: l[1] !== undefined,
      ifname: l[2]!,
      up: l[3]!.split(',').includes('UP'),
      ...(mtu ? { mtu: Number(mtu) } : {}),
      ...(master ? { master } : {}),
    };
  }
  const a = ADDR_RE.exec(line);
  if (a) return { kind: 'addr', deleted: a[1] !== undefined, ifname: a[2]!, family: a[3] as 'inet' | 'inet6', address: a[4]!, ...(a[5] ? { scope: a[5] } : {}) };
  return undefined;
}

const FDB_RE = /^(Deleted )?([0-9a-f]{2}(?::[0-9a-f]{2}){5}) dev (\S+)(.*)$/;

/** One line of `bridge monitor fdb`. */
export function parseFdbEvent(line: string): FdbEvent | undefined {
  const m = FDB_RE.exec(line.trim());
  if (!m) return undefined;
  const rest = ` ${m[4]!} `;
  const master = / master (\S+)/.exec(rest)?.[1];
  const dst = / dst (\S+)/.exec(rest)?.[1];
  return { kind: 'fdb', deleted: m[1] !== undefined, mac: m[2]!, dev: m[3]!, ...(master ? { master } : {}), ...(dst ? { dst } : {}), permanent: rest.includes(' permanent ') };
}
