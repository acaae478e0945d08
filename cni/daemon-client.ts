/**
 * IpamClient over the daemon's HTTP API (cni/transport.ts) on its unix
 * socket. The IPAM routes are this plugin's proposal, in the daemon router's
 * style (exact paths, errors as {"error": "..."}):
 *   POST /ipam/allocate {owner, subnet?, ip?} → Allocation  (idempotent per owner)
 *   POST /ipam/release  {owner}               → 200/204      (also for unknown owners)
 *   GET  /ipam/lookup?owner=<owner>           → Allocation | 404
 *   GET  /ipam/status                         → {ready, reason?}   (503 when not ready)
 * Unreachable daemon, timeouts and 503 become DaemonUnavailableError ("try
 * again later", 11); a 4xx on allocate becomes DaemonRejectedError (code 7).
 */
import { DaemonUnreachable } from '../src/api/errors.js';
import { DAEMON_TIMEOUT_MS } from './defaults.js';
import { DaemonRejectedError, DaemonUnavailableError, type Allocation, type IpamClient, type IpamStatus } from './ports.js';
import { daemonRequest, type DaemonReply } from './transport.js';

export class HttpIpamClient implements IpamClient {
  constructor(
    private readonly socketPath: string,
    private readonly timeoutMs = DAEMON_TIMEOUT_MS,
  ) {}

  async allocate(owner: string, req: { subnet?: string; ip?: string }): Promise<Allocation> {
    const r = await this.call('POST', '/ipam/allocate', { owner, ...req });
    if (r.status >= 400 && r.status < 500) throw new DaemonRejectedError(errorText(r));
    if (r.status !== 200) throw new Error(errorText(r));
    return asAllocation(parseJson(r));
  }

  async release(owner: string): Promise<void> {
    const r = await this.call('POST', '/ipam/release', { owner });
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
    return daemonCall(this.socketPath, this.timeoutMs, method, path, body, allow503);
  }
}

/** A daemon call; "unreachable" and 503 become DaemonUnavailableError ("try again later"). */
export async function daemonCall(socketPath: string, timeoutMs: number, method: string, path: string, body?: unknown, allow503 = false): Promise<DaemonReply> {
  let r: DaemonReply;
  try {
    r = await daemonRequest(socketPath, method, path, body, timeoutMs);
  } catch (e) {
    if (e instanceof DaemonUnreachable) throw new DaemonUnavailableError(e.message);
    throw e;
  }
  if (r.status === 503 && !allow503) throw new DaemonUnavailableError(errorText(r));
  return r;
}

export function parseJson(r: DaemonReply): unknown {
  try {
    return r.body ? JSON.parse(r.body) : undefined;
  } catch {
    return undefined;
  }
}

export function errorText(r: DaemonReply): string {
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
