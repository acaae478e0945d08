/**
 * IpamClient over the daemon's HTTP API on its unix socket. A seam until
 * src/api/client.ts lands: the routes below are this plugin's proposal.
 *   POST   /v1/ipam/allocate        {owner, subnet?, ip?} → Allocation
 *   GET    /v1/ipam/owners/<owner>  → Allocation | 404
 *   DELETE /v1/ipam/owners/<owner>  → 204 (also for unknown owners)
 *   GET    /v1/ipam/status          → {ready, reason?}
 * Connection failures, timeouts and 503 (IPAM not ready) become
 * DaemonUnavailableError, which commands turn into "try again later" (11);
 * a 4xx on allocate becomes DaemonRejectedError (invalid config, 7).
 */
import { request } from 'node:http';
import { DAEMON_TIMEOUT_MS } from './defaults.js';
import { DaemonRejectedError, DaemonUnavailableError, type Allocation, type IpamClient, type IpamStatus } from './ports.js';

const MAX_RESPONSE_BYTES = 1 << 20;

interface HttpReply {
  status: number;
  body: unknown;
}

export class HttpIpamClient implements IpamClient {
  constructor(
    private readonly socketPath: string,
    private readonly timeoutMs = DAEMON_TIMEOUT_MS,
  ) {}

  async allocate(owner: string, req: { subnet?: string; ip?: string }): Promise<Allocation> {
    const r = await this.call('POST', '/v1/ipam/allocate', { owner, ...req });
    // 4xx: the request itself is wrong (subnet outside the range, address taken).
    if (r.status >= 400 && r.status < 500) throw new DaemonRejectedError(errorText(r));
    if (r.status !== 200) throw new Error(errorText(r));
    return asAllocation(r.body);
  }

  async release(owner: string): Promise<void> {
    const r = await this.call('DELETE', `/v1/ipam/owners/${encodeURIComponent(owner)}`);
    if (r.status !== 200 && r.status !== 204 && r.status !== 404) throw new Error(errorText(r));
  }

  async lookup(owner: string): Promise<Allocation | undefined> {
    const r = await this.call('GET', `/v1/ipam/owners/${encodeURIComponent(owner)}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(errorText(r));
    return asAllocation(r.body);
  }

  async status(): Promise<IpamStatus> {
    const r = await this.call('GET', '/v1/ipam/status', undefined, true);
    const b = (r.body ?? {}) as { ready?: unknown; reason?: unknown };
    if (r.status === 200 || r.status === 503)
      return { ready: r.status === 200 && b.ready === true, reason: typeof b.reason === 'string' ? b.reason : undefined };
    throw new Error(errorText(r));
  }

  private call(method: string, path: string, body?: unknown, allow503 = false): Promise<HttpReply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('daemon response too large'));
            else chunks.push(c);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            const reply = { status: res.statusCode ?? 0, body: parsed };
            if (reply.status === 503 && !allow503) reject(new DaemonUnavailableError(errorText(reply)));
            else resolve(reply);
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(new DaemonUnavailableError(`no answer from ${this.socketPath} within ${this.timeoutMs} ms`)),
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof DaemonUnavailableError) return reject(e);
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'EACCES')
          return reject(new DaemonUnavailableError(`cannot connect to ${this.socketPath}: ${e.code}`));
        reject(e);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }
}

function errorText(r: HttpReply): string {
  const b = r.body as { error?: unknown; message?: unknown } | string | undefined;
  const detail = typeof b === 'string' ? b : typeof b?.error === 'string' ? b.error : typeof b?.message === 'string' ? b.message : '';
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
