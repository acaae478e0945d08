/** IPv4 parsing and address math shared by the daemon (IPAM, data plane) and the CNI plugin. */
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

/** IPv4 multicast (RFC 5771): the route containers get for it, and what isolation lets a port send to. */
export const MULTICAST_BLOCK = '224.0.0.0/4';
/** Limited broadcast: never routed, only ever on the sender's segment. */
export const LIMITED_BROADCAST = '255.255.255.255/32';

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** "10.32.0.0/12" → { ip, prefix }, or undefined if not an IPv4 CIDR. */
export function parseCidr(s: string): { ip: string; prefix: number } | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = s.slice(0, slash);
  const p = s.slice(slash + 1);
  if (!isIPv4(ip) || !/^\d{1,2}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > 32) return undefined;
  return { ip, prefix };
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** The netmask of a prefix length as an unsigned 32-bit number: 24 → 0xffffff00. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

/** The network address of a CIDR, in canonical "a.b.c.d/p" form. */
export function networkOf(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  return `${intToIp((ipToInt(c.ip) & prefixMask(c.prefix)) >>> 0)}/${c.prefix}`;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
export function isMac(s: string): boolean {
  return MAC_RE.test(s);
}

/** A CIDR as a span of addresses: [start, start + size). */
export interface Cidr {
  start: number;
  size: number;
  prefix: number;
}

/** Parse "a.b.c.d/p", requiring it to be the network address; throws a message fit for users. */
export function parseNetwork(s: string, what = 'subnet'): Cidr {
  const c = parseCidr(s);
  if (!c) throw new Error(`${what} "${s}" is not an IPv4 CIDR like 10.32.0.0/12`);
  const size = 2 ** (32 - c.prefix);
  const start = ipToInt(c.ip);
  if (start % size !== 0) throw new Error(`${what} "${s}" has host bits set; did you mean ${networkOf(s)}?`);
  return { start, size, prefix: c.prefix };
}

export function formatCidr(c: { start: number; prefix: number }): string {
  return `${intToIp(c.start)}/${c.prefix}`;
}

export function cidrContains(outer: { start: number; size: number }, inner: { start: number; size: number }): boolean {
  return inner.start >= outer.start && inner.start + inner.size <= outer.start + outer.size;
}

/** The usable host addresses of a subnet: network and broadcast excluded (except /31 and /32). */
export function hostSpan(c: Cidr): { start: number; end: number } {
  if (c.size <= 2) return { start: c.start, end: c.start + c.size };
  return { start: c.start + 1, end: c.start + c.size - 1 };
}
