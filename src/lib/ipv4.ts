/** Minimal IPv4 parsing for validating config values; the daemon does the real address math. */
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

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

/** The network address of a CIDR, in canonical "a.b.c.d/p" form. */
export function networkOf(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const mask = c.prefix === 0 ? 0 : (~0 << (32 - c.prefix)) >>> 0;
  return `${intToIp((ipToInt(c.ip) & mask) >>> 0)}/${c.prefix}`;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
export function isMac(s: string): boolean {
  return MAC_RE.test(s);
}
