/**
 * The ADD result in one internal shape (the 1.1.0 one) plus conversion to and
 * from the wire shape of each supported version. Differences we care about:
 *  - before 1.0.0 every ips[] entry carries `version` ("4" or "6");
 *  - 1.1.0 added interface mtu/socketPath/pciID and route mtu/advmss/priority/table/scope.
 */
import { CniError, ErrorCode } from './errors.js';
import { atLeast, type CniVersion } from './versions.js';

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  mtu?: number;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  /** CIDR notation: the address and its prefix length, e.g. 10.32.0.5/12. */
  address: string;
  gateway?: string;
  /** Index into interfaces[]. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
}

export function emptyResult(): CniResult {
  return { interfaces: [], ips: [], routes: [], dns: {} };
}

const IFACE_11_ONLY = ['mtu', 'socketPath', 'pciID'] as const;
const ROUTE_11_ONLY = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const;

/** The wire object for `version` (cniVersion included). */
export function formatResult(result: CniResult, version: CniVersion): Record<string, unknown> {
  const v11 = atLeast(version, '1.1.0');
  const v10 = atLeast(version, '1.0.0');
  const interfaces = result.interfaces.map((i) => (v11 ? { ...i } : omit(i, IFACE_11_ONLY)));
  const ips = result.ips.map((ip) => (v10 ? { ...ip } : { version: ipFamily(ip.address), ...ip }));
  const routes = result.routes.map((r) => (v11 ? { ...r } : omit(r, ROUTE_11_ONLY)));
  const out: Record<string, unknown> = { cniVersion: version, interfaces, ips, routes, dns: { ...result.dns } };
  return out;
}

/**
 * Read a result (a prevResult) written in `version`. Fields we do not model are
 * dropped; a malformed result is a network-config error (code 7) because the
 * runtime put it in our config.
 */
export function parseResult(raw: unknown, version: string, where = 'prevResult'): CniResult {
  const bad = (what: string) => new CniError(ErrorCode.InvalidNetworkConfig, `invalid ${where}: ${what}`);
  if (!isObject(raw)) throw bad('not an object');
  const result = emptyResult();
  const interfaces = raw.interfaces ?? [];
  if (!Array.isArray(interfaces)) throw bad('interfaces is not a list');
  interfaces.forEach((i, n) => {
    if (!isObject(i) || typeof i.name !== 'string') throw bad(`interfaces[${n}] has no name`);
    const iface: CniInterface = { name: i.name };
    copyString(i, iface, 'mac', bad, `interfaces[${n}]`);
    copyString(i, iface, 'sandbox', bad, `interfaces[${n}]`);
    copyString(i, iface, 'socketPath', bad, `interfaces[${n}]`);
    copyString(i, iface, 'pciID', bad, `interfaces[${n}]`);
    copyNumber(i, iface, 'mtu', bad, `interfaces[${n}]`);
    result.interfaces.push(iface);
  });
  const ips = raw.ips ?? [];
  if (!Array.isArray(ips)) throw bad('ips is not a list');
  ips.forEach((ip, n) => {
    if (!isObject(ip) || typeof ip.address !== 'string' || !ip.address.includes('/'))
      throw bad(`ips[${n}].address must be a CIDR`);
    const cfg: CniIpConfig = { address: ip.address };
    copyString(ip, cfg, 'gateway', bad, `ips[${n}]`);
    if (ip.interface !== undefined) {
      if (!Number.isInteger(ip.interface) || (ip.interface as number) < 0 || (ip.interface as number) >= result.interfaces.length)
        throw bad(`ips[${n}].interface is not an index into interfaces`);
      cfg.interface = ip.interface as number;
    }
    // Before 1.0.0 `version` is required; we recompute it on output anyway.
    if (!atLeast(version, '1.0.0') && ip.version !== undefined && ip.version !== '4' && ip.version !== '6')
      throw bad(`ips[${n}].version must be "4" or "6"`);
    result.ips.push(cfg);
  });
  const routes = raw.routes ?? [];
  if (!Array.isArray(routes)) throw bad('routes is not a list');
  routes.forEach((r, n) => {
    if (!isObject(r) || typeof r.dst !== 'string') throw bad(`routes[${n}].dst missing`);
    const route: CniRoute = { dst: r.dst };
    copyString(r, route, 'gw', bad, `routes[${n}]`);
    for (const k of ROUTE_11_ONLY) copyNumber(r, route, k, bad, `routes[${n}]`);
    result.routes.push(route);
  });
  if (raw.dns !== undefined) {
    if (!isObject(raw.dns)) throw bad('dns is not an object');
    const d = raw.dns;
    if (Array.isArray(d.nameservers)) result.dns.nameservers = d.nameservers.filter(isString);
    if (typeof d.domain === 'string') result.dns.domain = d.domain;
    if (Array.isArray(d.search)) result.dns.search = d.search.filter(isString);
    if (Array.isArray(d.options)) result.dns.options = d.options.filter(isString);
  }
  return result;
}

/**
 * Chain: our additions go after what earlier plugins reported, so interface
 * indices in `ours` are shifted by the number of interfaces already present.
 */
export function mergeResults(prev: CniResult | undefined, ours: CniResult): CniResult {
  if (!prev) return ours;
  const offset = prev.interfaces.length;
  return {
    interfaces: [...prev.interfaces, ...ours.interfaces],
    ips: [
      ...prev.ips,
      ...ours.ips.map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + offset })),
    ],
    routes: [...prev.routes, ...ours.routes.filter((r) => !prev.routes.some((p) => p.dst === r.dst && p.gw === r.gw))],
    dns: mergeDns(prev.dns, ours.dns),
  };
}

function mergeDns(a: CniDns, b: CniDns): CniDns {
  const out: CniDns = { ...a };
  if (b.nameservers) out.nameservers = [...new Set([...(a.nameservers ?? []), ...b.nameservers])];
  if (b.domain && !a.domain) out.domain = b.domain;
  if (b.search) out.search = [...new Set([...(a.search ?? []), ...b.search])];
  if (b.options) out.options = [...new Set([...(a.options ?? []), ...b.options])];
  return out;
}

export function ipFamily(cidr: string): '4' | '6' {
  return cidr.includes(':') ? '6' : '4';
}

function omit<T extends object>(obj: T, keys: readonly string[]): T {
  const out = { ...obj } as Record<string, unknown>;
  for (const k of keys) delete out[k];
  return out as T;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isString(x: unknown): x is string {
  return typeof x === 'string';
}

function copyString(src: Record<string, unknown>, dst: object, key: string, bad: (w: string) => Error, where: string): void {
  const v = src[key];
  if (v === undefined) return;
  if (typeof v !== 'string') throw bad(`${where}.${key} must be a string`);
  (dst as Record<string, unknown>)[key] = v;
}

function copyNumber(src: Record<string, unknown>, dst: object, key: string, bad: (w: string) => Error, where: string): void {
  const v = src[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${where}.${key} must be a number`);
  (dst as Record<string, unknown>)[key] = v;
}
