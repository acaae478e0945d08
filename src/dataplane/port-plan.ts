/**
 * What the daemon hands the CNI plugin's attach code, the one place a container
 * is plugged into the bridge (cni/netlink-attacher.ts, over rtnetlink):
 *  - a CNI ADD asks the daemon for a PortPlan (POST /ports/admit) and carries it out;
 *  - `overlay attach` makes the plan itself and runs the plugin binary with a
 *    PlugRequest on stdin (`<plugin> plug`), which answers a PlugReply on stdout.
 * The daemon runs it, as root: a non-root caller of `overlay attach` cannot make veths.
 * No imports with side effects: the plugin and the daemon both load this module.
 */
import { isValidMac } from './names.js';
import type { PortFilterPrograms } from './port-filter.js';

/** One port: its address and how to plug it in. */
export interface PortPlan {
  /** With prefix, e.g. 10.32.1.5/24. */
  address: string;
  subnet: string;
  /** The host's address on the subnet, when it is exposed. */
  gateway?: string;
  mtu: number;
  bridge: string;
  hostVeth: string;
  mac: string;
  /** The port's filter programs (base64 struct sock_filter[]), when it is isolated. */
  filter?: PortFilterPrograms;
  /**
   * Which end of the veth the filters go on. `container`: the container's interface (egress:
   * from the container, ingress: to it), which leaves the host end's qdiscs to the traffic
   * shapers runtimes chain after us (bandwidth takes its ingress slot). Absent: the host end.
   */
  filterOn?: 'container';
}

export interface AttachedPort {
  hostVeth: string;
  mac: string;
}

export interface Route {
  dst: string;
  gw?: string;
}

/** `overlay attach`, as the daemon asks the plugin binary to carry it out. */
export interface PlugRequest {
  /** A netns path: /run/netns/<name>, /proc/<pid>/ns/net, … */
  netns: string;
  ifname: string;
  plan: PortPlan;
  /** Routes besides the connected subnet (a default route via an exposed host, multicast). */
  routes: Route[];
}

/** Why a plug failed, as a kind the daemon maps to its own errors (no meaning is read from the message). */
export type PlugFailure = 'netns-not-found' | 'interface-exists' | 'bad-request' | 'failed';

export type PlugReply = { port: AttachedPort } | { error: { kind: PlugFailure; message: string } };

/** The plugin's subcommand for a PlugRequest (runtimes run the plugin with no arguments). */
export const PLUG_COMMAND = 'plug';

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const HOST_VETH_RE = /^ovl[0-9a-f]{12}$/;
const CIDR_RE = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;

export class BadPlugRequest extends Error {
  constructor(message: string) {
    super(`bad plug request: ${message}`);
    this.name = 'BadPlugRequest';
  }
}

/** Parse and check a PlugRequest (the plugin reads it from stdin); throws BadPlugRequest. */
export function parsePlugRequest(text: string): PlugRequest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new BadPlugRequest('not JSON');
  }
  const o = object(v, 'the request');
  const plan = object(o['plan'], '"plan"');
  const str = (x: Record<string, unknown>, k: string, re?: RegExp) => {
    const s = x[k];
    if (typeof s !== 'string' || (re && !re.test(s))) throw new BadPlugRequest(`"${k}" is missing or malformed: ${JSON.stringify(s)}`);
    return s;
  };
  const netns = str(o, 'netns');
  if (!netns.startsWith('/')) throw new BadPlugRequest(`"netns" must be an absolute path, got ${JSON.stringify(netns)}`);
  const mac = str(plan, 'mac');
  if (!isValidMac(mac)) throw new BadPlugRequest(`"mac" must be a unicast MAC, got ${JSON.stringify(mac)}`);
  const mtu = plan['mtu'];
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new BadPlugRequest(`"mtu" must be an integer between 68 and 65535, got ${JSON.stringify(mtu)}`);
  const filter = plan['filter'] === undefined ? undefined : object(plan['filter'], '"filter"');
  if (plan['filterOn'] !== undefined && plan['filterOn'] !== 'container') throw new BadPlugRequest(`"filterOn" must be "container" or absent`);
  if (!Array.isArray(o['routes'])) throw new BadPlugRequest('"routes" must be a list');
  const routes = o['routes'].map((r) => {
    const x = object(r, 'a route');
    return { dst: str(x, 'dst'), ...(x['gw'] !== undefined ? { gw: str(x, 'gw') } : {}) };
  });
  return {
    netns,
    ifname: str(o, 'ifname', IFNAME_RE),
    plan: {
      address: str(plan, 'address', CIDR_RE),
      subnet: str(plan, 'subnet', CIDR_RE),
      ...(plan['gateway'] !== undefined ? { gateway: str(plan, 'gateway') } : {}),
      mtu,
      bridge: str(plan, 'bridge', IFNAME_RE),
      hostVeth: str(plan, 'hostVeth', HOST_VETH_RE),
      mac: mac.toLowerCase(),
      ...(filter ? { filter: { fromContainer: str(filter, 'fromContainer'), toContainer: str(filter, 'toContainer') } } : {}),
      ...(plan['filterOn'] === 'container' ? { filterOn: 'container' as const } : {}),
    },
    routes,
  };
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadPlugRequest(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

const FAILURES: readonly PlugFailure[] = ['netns-not-found', 'interface-exists', 'bad-request', 'failed'];

/** The daemon's reading of the plugin's answer; anything else it printed is an Error quoting it. */
export function parsePlugReply(text: string): PlugReply {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`the plugin's answer is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as { port?: { hostVeth?: unknown; mac?: unknown }; error?: { kind?: unknown; message?: unknown } };
  if (o.port && typeof o.port.hostVeth === 'string' && typeof o.port.mac === 'string') return { port: { hostVeth: o.port.hostVeth, mac: o.port.mac } };
  if (o.error && FAILURES.includes(o.error.kind as PlugFailure) && typeof o.error.message === 'string') return { error: { kind: o.error.kind as PlugFailure, message: o.error.message } };
  throw new Error(`the plugin's answer has neither a port nor an error: ${JSON.stringify(text.slice(0, 200))}`);
}
