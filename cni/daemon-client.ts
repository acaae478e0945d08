/**
 * DaemonClient over the daemon's HTTP API (cni/transport.ts) on its unix
 * socket (errors come as {"error": "..."}):
 *   POST /ports/admit   {owner, netns, ifname, subnet?, ip?, mac?, isolate, gateway?}
 *                         → PortPlan (address, subnet, gateway?, mtu, bridge, hostVeth, mac, filter?)
 *                           idempotent per owner; one round trip for ADD
 *   POST /ports/release {owner, hostVeth?, retired?}
 *                         → 200 (also for unknown owners); a retired port is destroyed after
 *   GET  /ipam/lookup?owner=<owner>           → Allocation | 404
 *   GET  /ipam/status                         → {ready, reason?}   (503 when not ready)
 * Unreachable daemon, timeouts and 503 become DaemonUnavailableError ("try
 * again later", 11); a 4xx on admit becomes DaemonRejectedError (code 7).
 */
import { DaemonUnreachable } from '../src/api/errors.js';
import { DAEMON_TIMEOUT_MS } from './defaults.js';
import { DaemonRejectedError, DaemonUnavailableError, type Allocation, type DaemonClient, type IpamStatus, type PortPlan, type PortRequest } from './ports.js';
import type { DaemonReply, DaemonTransport } from './transport.js';

export class HttpDaemonClient implements DaemonClient {
  constructor(
    private readonly socketPath: string,
    private readonly transport: DaemonTransport,
    private readonly timeoutMs = DAEMON_TIMEOUT_MS,
  ) {}

  async admit(owner: string, req: PortRequest): Promise<PortPlan> {
    const r = await this.call('POST', '/ports/admit', { owner, ...req });
    if (r.status >= 400 && r.status < 500) throw new DaemonRejectedError(errorText(r));
    if (r.status !== 200) throw new Error(errorText(r));
    return asPortPlan(parseJson(r));
  }

  async release(owner: string, port?: { hostVeth: string; retired?: string }): Promise<void> {
    const r = await this.call('POST', '/ports/release', { owner, ...port });
    if (r.status !== 200 && r.status !== 204) throw new Error(errorText(r));
  }

  async lookup(owner: string): Promise<Allocation | undefined> {
    const r = await this.call('GET', `/ipam/lookup?owner=${encodeURIComponent(owner)}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(errorText(r));
    return asAllocation(parseJson(r));
  }

  async status(): Promise<IpamStatus> {
    const r = await this.call('GET', '/ipam/status', undefined, true);
    if (r.status !== 200 && r.status !== 503) throw new Error(errorText(r));
    const b = (parseJson(r) ?? {}) as { ready?: unknown; reason?: unknown; error?: unknown };
    const reason = typeof b.reason === 'string' ? b.reason : typeof b.error === 'string' ? b.error : undefined;
    return { ready: r.status === 200 && b.ready === true, reason };
  }

  private call(method: string, path: string, body?: unknown, allow503 = false): Promise<DaemonReply> {
    return daemonCall(() => this.transport(this.socketPath, method, path, body, this.timeoutMs), allow503);
  }
}

/** A daemon call; "unreachable" and 503 become DaemonUnavailableError ("try again later"). */
async function daemonCall(send: () => Promise<DaemonReply>, allow503: boolean): Promise<DaemonReply> {
  let r: DaemonReply;
  try {
    r = await send();
  } catch (e) {
    if (e instanceof DaemonUnreachable) throw new DaemonUnavailableError(e.message);
    throw e;
  }
  if (r.status === 503 && !allow503) throw new DaemonUnavailableError(errorText(r));
  return r;
}

function parseJson(r: DaemonReply): unknown {
  try {
    return r.body ? JSON.parse(r.body) : undefined;
  } catch {
    return undefined;
  }
}

function errorText(r: DaemonReply): string {
  const b = parseJson(r) as { error?: unknown; reason?: unknown } | undefined;
  const detail = typeof b?.error === 'string' ? b.error : typeof b?.reason === 'string' ? b.reason : r.body.slice(0, 200);
  return `daemon answered HTTP ${r.status}${detail ? `: ${detail}` : ''}`;
}

function asAllocation(b: unknown): Allocation {
  const o = b as Partial<Allocation> | undefined;
  if (!o || typeof o.address !== 'string' || typeof o.subnet !== 'string')
    throw new Error('daemon returned a malformed allocation');
  const out: Allocation = { address: o.address, subnet: o.subnet };
  if (typeof o.gateway === 'string') out.gateway = o.gateway;
  if (typeof o.mtu === 'number') out.mtu = o.mtu;
  return out;
}

function asPortPlan(b: unknown): PortPlan {
  const a = asAllocation(b);
  const o = b as Partial<PortPlan>;
  const f = o.filter;
  const filterOk = f === undefined || (typeof f === 'object' && f !== null && typeof f.fromContainer === 'string' && typeof f.toContainer === 'string');
  if (typeof o.bridge !== 'string' || typeof o.hostVeth !== 'string' || typeof o.mac !== 'string' || typeof o.mtu !== 'number' || !filterOk)
    throw new Error('daemon returned a malformed port plan');
  return {
    ...a,
    bridge: o.bridge,
    hostVeth: o.hostVeth,
    mac: o.mac,
    mtu: o.mtu,
    ...(f ? { filter: { fromContainer: f.fromContainer, toContainer: f.toContainer } } : {}),
    ...(o.filterOn === 'container' ? { filterOn: 'container' as const } : {}),
  };
}
