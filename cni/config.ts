/**
 * Parsing and validation of everything the runtime hands us: the environment
 * (CNI_*), CNI_ARGS and the network config on stdin. Pure: no fs, no sockets.
 * Every rejection is a CniError with the spec's code and the offending key.
 */
import { CniError, ErrorCode } from './spec/errors.js';
import { parseResult, type CniResult } from './spec/result.js';
import { COMMANDS, isSupportedVersion, type CniCommand, type CniVersion } from './spec/versions.js';
import { DEFAULT_DAEMON_SOCKET, DEFAULT_STATE_DIR } from './defaults.js';
import { isIPv4, parseCidr } from '../src/lib/ipv4.js';
import { isValidMac } from '../src/dataplane/names.js';

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  args: CniArgs;
  path: string;
}

export interface CniArgs {
  ignoreUnknown: boolean;
  ip?: string;
  mac?: string;
}

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** Subnet to allocate from; undefined = the daemon's default subnet. */
  subnet?: string;
  /** Container MTU; undefined = the overlay MTU the daemon reports. */
  mtu?: number;
  hairpinMode: boolean;
  daemonSocket: string;
  isolation: boolean;
  /** The host is this network's gateway: exposed on the subnet (with masquerade) at the first ADD on it. */
  gateway: boolean;
  /** A 224.0.0.0/4 route on the interface (Weave's default; false is its --no-multicast-route). */
  multicastRoute: boolean;
  stateDir: string;
  prevResult?: CniResult;
  runtimeConfig: { ips: string[]; mac?: string };
  /** GC only: attachments the runtime still considers live. */
  validAttachments?: Attachment[];
  /** The config exactly as received, unknown keys included. */
  raw: Record<string, unknown>;
}

const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const NETWORK_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const envError = (msg: string) => new CniError(ErrorCode.InvalidEnv, msg);
const confError = (key: string, msg: string) =>
  new CniError(ErrorCode.InvalidNetworkConfig, `invalid network config key "${key}": ${msg}`);

/** The CNI_COMMAND, or undefined when unset (the "about" invocation). */
export function readCommand(env: Record<string, string | undefined>): CniCommand | undefined {
  const c = env.CNI_COMMAND;
  if (c === undefined || c === '') return undefined;
  if (!(COMMANDS as readonly string[]).includes(c)) throw envError(`unknown CNI_COMMAND "${c}"`);
  return c as CniCommand;
}

/** Which variables each command needs (SPEC.md "Parameters"; CNI_NETNS is optional for DEL). */
function required(cmd: CniCommand): string[] {
  switch (cmd) {
    case 'ADD':
    case 'CHECK':
      return ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'];
    case 'DEL':
      return ['CNI_CONTAINERID', 'CNI_IFNAME'];
    default:
      return [];
  }
}

export function parseEnv(env: Record<string, string | undefined>): CniEnv {
  const command = readCommand(env);
  if (!command) throw envError('CNI_COMMAND is not set');
  for (const name of required(command)) {
    if (!env[name]) throw envError(`${name} is required for ${command}`);
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId && !CONTAINER_ID_RE.test(containerId))
    throw envError(`CNI_CONTAINERID "${containerId}" must be alphanumeric with _ . - and start alphanumeric`);
  const ifname = env.CNI_IFNAME ?? '';
  if (ifname) validateIfname(ifname);
  const netns = env.CNI_NETNS ?? '';
  if (netns && !netns.startsWith('/')) throw envError(`CNI_NETNS "${netns}" must be an absolute path`);
  return { command, containerId, netns, ifname, args: parseCniArgs(env.CNI_ARGS ?? ''), path: env.CNI_PATH ?? '' };
}

function validateIfname(name: string): void {
  if (name.length > 15) throw envError(`CNI_IFNAME "${name}" is longer than 15 characters`);
  if (name === '.' || name === '..') throw envError(`CNI_IFNAME "${name}" is not a valid interface name`);
  if (/[\s/:]/.test(name)) throw envError(`CNI_IFNAME "${name}" contains whitespace, '/' or ':'`);
}

/**
 * CNI_ARGS: "K1=V1;K2=V2". Each pair splits on its FIRST '=' so values may
 * contain '='. Unknown keys are an error unless IgnoreUnknown is 1/true.
 */
export function parseCniArgs(s: string): CniArgs {
  const out: CniArgs = { ignoreUnknown: false };
  if (s.trim() === '') return out;
  const pairs: [string, string][] = [];
  for (const part of s.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw envError(`CNI_ARGS: "${part}" is not KEY=VALUE`);
    pairs.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  const ignore = pairs.find(([k]) => k === 'IgnoreUnknown');
  if (ignore) {
    const v = ignore[1].toLowerCase();
    if (v !== '1' && v !== 'true' && v !== '0' && v !== 'false')
      throw envError(`CNI_ARGS: IgnoreUnknown must be 1, true, 0 or false, got "${ignore[1]}"`);
    out.ignoreUnknown = v === '1' || v === 'true';
  }
  const unknown: string[] = [];
  for (const [k, v] of pairs) {
    if (k === 'IgnoreUnknown') continue;
    if (k === 'IP') {
      if (!isIPv4(v)) throw envError(`CNI_ARGS: IP "${v}" is not an IPv4 address`);
      out.ip = v;
    } else if (k === 'MAC') {
      if (!isValidMac(v)) throw envError(`CNI_ARGS: MAC "${v}" is not a unicast MAC address`);
      out.mac = v.toLowerCase();
    } else {
      unknown.push(k);
    }
  }
  if (unknown.length > 0 && !out.ignoreUnknown)
    throw envError(`CNI_ARGS: unknown key(s) ${unknown.join(', ')} (set IgnoreUnknown=1 to allow)`);
  return out;
}

/**
 * Parse the stdin network config. Version errors come first (code 1) so that
 * a runtime speaking a newer spec gets the right answer even if the rest differs.
 */
export function parseNetConf(text: string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CniError(ErrorCode.Decode, 'failed to decode network config: not valid JSON', (e as Error).message);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CniError(ErrorCode.Decode, 'failed to decode network config: not a JSON object');
  const obj = raw as Record<string, unknown>;
  const cniVersion = obj.cniVersion;
  if (typeof cniVersion !== 'string') throw confError('cniVersion', 'must be a string');
  if (!isSupportedVersion(cniVersion))
    throw new CniError(ErrorCode.IncompatibleVersion, `incompatible CNI version "${cniVersion}"`, 'supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
  const name = obj.name;
  if (typeof name !== 'string' || !NETWORK_NAME_RE.test(name))
    throw confError('name', 'must be a non-empty string of letters, digits, _ . - starting alphanumeric');
  if (typeof obj.type !== 'string' || obj.type === '') throw confError('type', 'must be a non-empty string');

  const conf: NetConf = {
    cniVersion,
    name,
    type: obj.type,
    hairpinMode: optBool(obj, 'hairpinMode', false),
    isolation: optBool(obj, 'isolation', true),
    gateway: optBool(obj, 'gateway', false),
    multicastRoute: optBool(obj, 'multicastRoute', true),
    daemonSocket: optAbsPath(obj, 'daemonSocket', DEFAULT_DAEMON_SOCKET),
    stateDir: optAbsPath(obj, 'stateDir', DEFAULT_STATE_DIR),
    runtimeConfig: parseRuntimeConfig(obj.runtimeConfig),
    raw: obj,
  };
  if (obj.subnet !== undefined) {
    if (typeof obj.subnet !== 'string' || !parseCidr(obj.subnet))
      throw confError('subnet', `must be an IPv4 CIDR like 10.32.0.0/16, got ${JSON.stringify(obj.subnet)}`);
    conf.subnet = obj.subnet;
  }
  if (obj.mtu !== undefined) {
    const m = obj.mtu;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 68 || m > 65535)
      throw confError('mtu', `must be an integer between 68 and 65535, got ${JSON.stringify(m)}`);
    conf.mtu = m;
  }
  if (obj.prevResult !== undefined) conf.prevResult = parseResult(obj.prevResult, cniVersion);
  const valid = obj['cni.dev/valid-attachments'] ?? obj['cni.dev/attachments'];
  if (valid !== undefined) conf.validAttachments = parseAttachments(valid);
  return conf;
}

function optBool(obj: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = obj[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw confError(key, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function optAbsPath(obj: Record<string, unknown>, key: string, dflt: string): string {
  const v = obj[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !v.startsWith('/') || v.includes('\0'))
    throw confError(key, `must be an absolute path, got ${JSON.stringify(v)}`);
  return v;
}

/** runtimeConfig per CONVENTIONS.md; portMappings are left to a chained portmap plugin. */
function parseRuntimeConfig(rc: unknown): NetConf['runtimeConfig'] {
  const out: NetConf['runtimeConfig'] = { ips: [] };
  if (rc === undefined) return out;
  if (typeof rc !== 'object' || rc === null || Array.isArray(rc)) throw confError('runtimeConfig', 'must be an object');
  const r = rc as Record<string, unknown>;
  if (r.ips !== undefined) {
    if (!Array.isArray(r.ips)) throw confError('runtimeConfig.ips', 'must be a list of addresses');
    for (const ip of r.ips) {
      // Accept "10.32.0.5" or "10.32.0.5/12"; the prefix comes from the subnet anyway.
      const addr = typeof ip === 'string' ? ip.split('/')[0]! : '';
      if (typeof ip !== 'string' || !isIPv4(addr) || (ip.includes('/') && !parseCidr(ip)))
        throw confError('runtimeConfig.ips', `${JSON.stringify(ip)} is not an IPv4 address`);
      out.ips.push(addr);
    }
  }
  if (r.mac !== undefined) {
    if (typeof r.mac !== 'string' || !isValidMac(r.mac))
      throw confError('runtimeConfig.mac', `${JSON.stringify(r.mac)} is not a unicast MAC address`);
    out.mac = r.mac.toLowerCase();
  }
  return out;
}

function parseAttachments(v: unknown): Attachment[] {
  if (!Array.isArray(v)) throw confError('cni.dev/valid-attachments', 'must be a list');
  return v.map((a, i) => {
    if (typeof a !== 'object' || a === null) throw confError('cni.dev/valid-attachments', `entry ${i} is not an object`);
    const o = a as Record<string, unknown>;
    if (typeof o.containerID !== 'string' || typeof o.ifname !== 'string')
      throw confError('cni.dev/valid-attachments', `entry ${i} needs string containerID and ifname`);
    return { containerId: o.containerID, ifname: o.ifname };
  });
}
