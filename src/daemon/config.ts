/**
 * Daemon settings: one place that turns flags and environment variables into
 * a validated configuration, shared by `launch`, `launch --foreground` and
 * every client command (which only need the paths).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isLogLevel, type LogLevel } from '../lib/logger.js';
import { parsePeerName, type PeerName } from '../lib/peer-name.js';
import { MAX_RANGE_PREFIX } from '../ipam/space.js';
import type { InitMode, IpamConfig } from '../ipam/ipam.js';
import { cidrContains, formatCidr, parseNetwork } from '../lib/ipv4.js';
import { UsageError, type FlagSpec, type FlagValues } from '../cli/args.js';
import { DATAPLANE_DEFAULTS, WIREGUARD_DEFAULTS, type DataplaneConfig } from '../dataplane/config.js';
import { keyFileIn, type WireguardSettings } from '../dataplane/wireguard.js';
import { DEFAULT_CLUSTER_NAME } from '../mesh/password-key.js';

export const DEFAULT_DATA_DIR = '/var/lib/overlay';
export const DEFAULT_API_SOCKET = '/run/overlay/overlay.sock';
export const DEFAULT_HTTP_ADDR = '127.0.0.1:6784';
export const DEFAULT_PORT = 6783;
export const VERSION = '0.1.0';

/** Flags every command accepts: where to find the daemon. */
export const LOCATION_FLAGS: FlagSpec = {
  'data-dir': { type: 'string', value: 'DIR', help: `the daemon's state, pid and log (env OVERLAY_DATA_DIR) [${DEFAULT_DATA_DIR}]` },
  'api-socket': { type: 'string', value: 'PATH', help: `the daemon's API socket (env OVERLAY_API_SOCKET) [${DEFAULT_API_SOCKET}]` },
  'http-addr': { type: 'string', value: 'HOST:PORT', help: `the API on TCP, for status tools and Prometheus (/metrics) (env OVERLAY_HTTP_ADDR) [${DEFAULT_HTTP_ADDR}]` },
};

export const LAUNCH_FLAGS: FlagSpec = {
  ...LOCATION_FLAGS,
  foreground: { type: 'boolean', help: 'run the daemon in this process (systemd, containers) instead of in the background' },
  name: { type: 'string', value: 'MAC', help: 'the peer name, 6 bytes in MAC format [random on first launch, then kept]' },
  nickname: { type: 'string', value: 'NAME', help: 'a readable name for this peer [the host name]' },
  port: { type: 'number', value: 'PORT', help: `TCP port of the control plane [${DEFAULT_PORT}]` },
  password: { type: 'string', value: 'PW', help: 'encrypt and authenticate the control plane, and put VXLAN inside WireGuard (prefer OVERLAY_PASSWORD)' },
  'password-file': { type: 'string', value: 'FILE', help: 'read the password from a file' },
  'conn-limit': { type: 'number', value: 'N', help: 'most connections to other peers [100]' },
  'no-discovery': { type: 'boolean', help: 'connect only to the peers given, not to the peers they know' },
  'log-level': { type: 'string', value: 'LEVEL', help: 'debug, info, warn or error [info]' },
  'http-addr-allow-remote': { type: 'boolean', help: 'allow --http-addr on an address that is not loopback' },
  'min-protocol-version': { type: 'number', value: 'N', help: 'refuse peers speaking an older protocol version' },
  'cluster-name': { type: 'string', value: 'NAME', help: 'salts the password key, so guesses precomputed for one cluster serve no other [overlay]' },
  'api-group': { type: 'string', value: 'GROUP', help: 'members of this group may use the API socket (mode 0660) [root only]' },
  'metrics-addr': { type: 'string', value: 'HOST:PORT', help: 'also serve /metrics, and nothing else, on this address [off]' },
  'ipalloc-range': { type: 'string', value: 'CIDR', help: `the address range the cluster shares [${'10.32.0.0/12'}]` },
  'ipalloc-default-subnet': { type: 'string', value: 'CIDR', help: 'the subnet for containers that ask for none [the range]' },
  'ipalloc-init': { type: 'string', value: 'MODE', help: 'consensus[=N], seed=<name,...> or observer [consensus]' },
  'ipalloc-wait': { type: 'number', value: 'SECONDS', help: 'how long an allocation may wait for consensus or space, at most 600 [10]' },
  bridge: { type: 'string', value: 'NAME', help: `the bridge containers attach to [${DATAPLANE_DEFAULTS.bridge}]` },
  'vxlan-dev': { type: 'string', value: 'NAME', help: `the VXLAN device [${DATAPLANE_DEFAULTS.vxlanDev}]` },
  'vxlan-vni': { type: 'number', value: 'VNI', help: `the VXLAN network identifier [${DATAPLANE_DEFAULTS.vni}]` },
  'vxlan-port': { type: 'number', value: 'PORT', help: `UDP port of VXLAN [${DATAPLANE_DEFAULTS.port}]` },
  'safety-pass-seconds': { type: 'number', value: 'SECONDS', help: 'how often the data plane rereads the kernel to repair what events missed [60]' },
  'probe-seconds': { type: 'number', value: 'SECONDS', help: 'how often a VXLAN path that nothing changed is probed again, ±20 % [60]' },
  mtu: { type: 'number', value: 'BYTES', help: 'the overlay MTU [underlay MTU - 50, - 60 more when encrypted]' },
  'wireguard-dev': { type: 'string', value: 'NAME', help: `with a password: the WireGuard device (env OVERLAY_WIREGUARD_DEV) [${WIREGUARD_DEFAULTS.dev}]` },
  'wireguard-port': { type: 'number', value: 'PORT', help: `with a password: WireGuard's UDP port [${WIREGUARD_DEFAULTS.port}]` },
  'trusted-subnets': { type: 'string', value: 'CIDR,...', help: 'with a password: underlay subnets where VXLAN may go unencrypted between peers that both trust them' },
};

export const DEFAULT_IPALLOC_RANGE = '10.32.0.0/12';
/** How long an allocation may wait for consensus or space before failing (ms). */
export const DEFAULT_IPALLOC_WAIT_MS = 10_000;

export interface Location {
  dataDir: string;
  apiSocket: string;
  httpAddr: string;
}

export interface DaemonConfig extends Location {
  name?: PeerName;
  nickname: string;
  port: number;
  password?: string;
  connLimit: number;
  discovery: boolean;
  logLevel: LogLevel;
  minProtocolVersion?: number;
  /** Salts the password's key derivation, so a guess table for one cluster is useless against another. */
  clusterName: string;
  /** The API socket becomes mode 0660 with this group (a name or a numeric gid): its members may change the daemon. */
  apiGroup?: string;
  /** host:port serving /metrics only (for Prometheus on another machine); off unless given. */
  metricsAddr?: string;
  targets: string[];
  allowRemoteHttp: boolean;
  ipam: IpamConfig;
  dataplane: DataplaneConfig;
}

type Env = Record<string, string | undefined>;

export function resolveLocation(flags: FlagValues, env: Env = process.env): Location {
  return {
    dataDir: String(flags['data-dir'] ?? env['OVERLAY_DATA_DIR'] ?? DEFAULT_DATA_DIR),
    apiSocket: String(flags['api-socket'] ?? env['OVERLAY_API_SOCKET'] ?? DEFAULT_API_SOCKET),
    httpAddr: String(flags['http-addr'] ?? env['OVERLAY_HTTP_ADDR'] ?? DEFAULT_HTTP_ADDR),
  };
}

export function parseHttpAddr(addr: string, flag = 'http-addr'): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--${flag} must be host:port, got "${addr}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function validTarget(t: string): boolean {
  return /^[A-Za-z0-9.\-]+(:\d{1,5})?$/.test(t) || /^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(t);
}

export function checkTargets(targets: string[]): string[] {
  for (const t of targets) if (!validTarget(t)) throw new UsageError(`invalid peer address "${t}": expected host or host:port`);
  return targets;
}

export function resolveDaemonConfig(flags: FlagValues, positionals: string[], env: Env = process.env): DaemonConfig {
  const loc = resolveLocation(flags, env);
  const { host } = parseHttpAddr(loc.httpAddr);
  const allowRemoteHttp = flags['http-addr-allow-remote'] === true;
  if (!isLoopback(host) && !allowRemoteHttp) {
    throw new UsageError(`--http-addr ${loc.httpAddr} is not a loopback address; add --http-addr-allow-remote to expose the API beyond this host`);
  }
  const logLevel = String(flags['log-level'] ?? env['OVERLAY_LOG_LEVEL'] ?? 'info');
  if (!isLogLevel(logLevel)) throw new UsageError(`--log-level must be one of debug, info, warn, error`);
  const port = Number(flags['port'] ?? DEFAULT_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be 1-65535`);
  const connLimit = Number(flags['conn-limit'] ?? 100);
  if (connLimit < 1) throw new UsageError('--conn-limit must be at least 1');
  let name: PeerName | undefined;
  if (flags['name'] !== undefined) {
    try {
      name = parsePeerName(String(flags['name']));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  let password = flags['password'] !== undefined ? String(flags['password']) : env['OVERLAY_PASSWORD'];
  if (flags['password-file'] !== undefined) {
    try {
      password = readFileSync(String(flags['password-file']), 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new UsageError(`cannot read --password-file: ${(e as Error).message}`);
    }
  }
  if (password === '') throw new UsageError('the password must not be empty');
  const minVersion = flags['min-protocol-version'];
  const clusterName = String(flags['cluster-name'] ?? env['OVERLAY_CLUSTER_NAME'] ?? DEFAULT_CLUSTER_NAME);
  if (!/^[\x21-\x7e]{1,64}$/.test(clusterName)) throw new UsageError(`--cluster-name must be 1-64 printable characters without spaces, got "${clusterName}"`);
  const apiGroup = flags['api-group'] === undefined ? undefined : String(flags['api-group']);
  if (apiGroup !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/.test(apiGroup)) throw new UsageError(`--api-group must be a group name or a numeric gid, got "${apiGroup}"`);
  const metricsAddr = flags['metrics-addr'] === undefined ? undefined : String(flags['metrics-addr']);
  if (metricsAddr !== undefined) parseHttpAddr(metricsAddr, 'metrics-addr');
  return {
    ...loc,
    name,
    nickname: String(flags['nickname'] ?? hostname()).slice(0, 64),
    port,
    password,
    connLimit,
    discovery: flags['no-discovery'] !== true,
    logLevel,
    minProtocolVersion: minVersion === undefined ? undefined : Number(minVersion),
    clusterName,
    apiGroup,
    metricsAddr,
    targets: checkTargets(positionals),
    allowRemoteHttp,
    ipam: resolveIpamConfig(flags, positionals.length),
    dataplane: { ...resolveDataplaneConfig(flags, port), wireguard: resolveWireguard(flags, env, password, loc.dataDir, port) },
  };
}

const IFNAME_RE = /^[A-Za-z0-9_-]{1,15}$/;

function resolveDataplaneConfig(flags: FlagValues, controlPort: number): DataplaneConfig {
  const name = (flag: string, def: string) => {
    const v = String(flags[flag] ?? def);
    if (!IFNAME_RE.test(v)) throw new UsageError(`--${flag} must be an interface name of 1-15 letters, digits, - or _, got "${v}"`);
    return v;
  };
  const bridge = name('bridge', DATAPLANE_DEFAULTS.bridge);
  const vxlanDev = name('vxlan-dev', DATAPLANE_DEFAULTS.vxlanDev);
  if (bridge === vxlanDev) throw new UsageError('--bridge and --vxlan-dev must differ');
  const vni = Number(flags['vxlan-vni'] ?? DATAPLANE_DEFAULTS.vni);
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) throw new UsageError('--vxlan-vni must be 1 to 16777215');
  const port = Number(flags['vxlan-port'] ?? DATAPLANE_DEFAULTS.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--vxlan-port must be 1-65535');
  if (port === controlPort) throw new UsageError(`--vxlan-port must differ from the control --port ${controlPort}`);
  const mtu = flags['mtu'] === undefined ? undefined : Number(flags['mtu']);
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 576 || mtu > 65_000)) throw new UsageError('--mtu must be 576 to 65000');
  const safety = Number(flags['safety-pass-seconds'] ?? DATAPLANE_DEFAULTS.reconcileMs / 1000);
  if (!Number.isInteger(safety) || safety < 1 || safety > 86_400) throw new UsageError('--safety-pass-seconds must be 1 to 86400');
  const probe = Number(flags['probe-seconds'] ?? DATAPLANE_DEFAULTS.probeRefreshMs / 1000);
  if (!Number.isInteger(probe) || probe < 1 || probe > 86_400) throw new UsageError('--probe-seconds must be 1 to 86400');
  return { ...DATAPLANE_DEFAULTS, bridge, vxlanDev, vni, port, mtu, reconcileMs: safety * 1000, probeRefreshMs: probe * 1000 };
}

/** With a password the data plane is encrypted too; the WireGuard flags mean nothing without one. */
function resolveWireguard(flags: FlagValues, env: NodeJS.ProcessEnv, password: string | undefined, dataDir: string, controlPort: number): WireguardSettings | undefined {
  const given = ['wireguard-dev', 'wireguard-port', 'trusted-subnets'].filter((f) => flags[f] !== undefined);
  if (password === undefined) {
    if (given.length) throw new UsageError(`--${given[0]} needs a password (--password, --password-file or OVERLAY_PASSWORD): without one nothing is encrypted`);
    return undefined;
  }
  // OVERLAY_WIREGUARD_DEV: several daemons on one machine (namespaced test hosts) need distinct
  // names, because wireguard-go's control socket is /var/run/wireguard/<dev>.sock for every namespace.
  const dev = String(flags['wireguard-dev'] ?? env['OVERLAY_WIREGUARD_DEV'] ?? WIREGUARD_DEFAULTS.dev);
  if (!IFNAME_RE.test(dev)) throw new UsageError(`--wireguard-dev must be an interface name of 1-15 letters, digits, - or _, got "${dev}"`);
  const port = Number(flags['wireguard-port'] ?? WIREGUARD_DEFAULTS.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--wireguard-port must be 1-65535');
  const vxlanPort = Number(flags['vxlan-port'] ?? DATAPLANE_DEFAULTS.port);
  if (port === controlPort || port === vxlanPort) throw new UsageError('--wireguard-port must differ from the control --port and the --vxlan-port');
  const trusted = flags['trusted-subnets'] === undefined ? [] : String(flags['trusted-subnets']).split(',').map((x) => x.trim()).filter(Boolean);
  return { dev, port, trusted: trusted.map((t) => formatCidr(network('trusted-subnets', t))), keyFile: keyFileIn(dataDir) };
}

function network(flag: string, value: string) {
  try {
    return parseNetwork(value, `--${flag}`);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** --ipalloc-init consensus[=N] | seed=<name,...> | observer; consensus defaults to N = launch peers + 1. */
export function parseIpallocInit(value: string | undefined, launchPeers: number): InitMode {
  if (value === undefined || value === 'consensus') return { mode: 'consensus', n: launchPeers + 1 };
  if (value === 'observer') return { mode: 'observer' };
  let m = /^consensus=(\d+)$/.exec(value);
  if (m) {
    const n = Number(m[1]);
    if (n < 1 || n > 10_000) throw new UsageError('--ipalloc-init consensus=N needs 1 <= N <= 10000');
    return { mode: 'consensus', n };
  }
  m = /^seed=(.+)$/.exec(value);
  if (m) {
    try {
      return { mode: 'seed', seeds: m[1]!.split(',').map((s) => parsePeerName(s.trim())) };
    } catch (e) {
      throw new UsageError(`--ipalloc-init seed=: ${(e as Error).message} (seeds are peer names, as \`overlay status\` prints them)`);
    }
  }
  throw new UsageError(`--ipalloc-init must be consensus, consensus=N, seed=<name,...> or observer, got "${value}"`);
}

function resolveIpamConfig(flags: FlagValues, launchPeers: number): IpamConfig {
  const range = network('ipalloc-range', String(flags['ipalloc-range'] ?? DEFAULT_IPALLOC_RANGE));
  if (range.prefix < MAX_RANGE_PREFIX || range.prefix > 30) throw new UsageError(`--ipalloc-range must be between a /${MAX_RANGE_PREFIX} and a /30`);
  const defaultSubnet = flags['ipalloc-default-subnet'] === undefined ? range : network('ipalloc-default-subnet', String(flags['ipalloc-default-subnet']));
  if (!cidrContains(range, defaultSubnet)) throw new UsageError('--ipalloc-default-subnet must lie inside --ipalloc-range');
  const waitMs = Number(flags['ipalloc-wait'] ?? DEFAULT_IPALLOC_WAIT_MS / 1000) * 1000;
  if (!(waitMs >= 0 && waitMs <= 600_000)) throw new UsageError('--ipalloc-wait must be 0 to 600 seconds');
  const init = parseIpallocInit(flags['ipalloc-init'] === undefined ? undefined : String(flags['ipalloc-init']), launchPeers);
  return { range, defaultSubnet, init, waitMs };
}
