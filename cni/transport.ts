/**
 * One HTTP request to the daemon over its unix socket, from the plugin.
 *
 * The installed plugin is a Bun executable; there Bun's built-in fetch speaks
 * HTTP over a unix socket and costs nothing to load, while importing node:http
 * adds ~13 ms to every call, as much as the reference plugin's whole ADD. Under
 * Node (unit tests) the daemon API client (src/api/client.ts) is used instead.
 * Both turn "cannot connect" and timeouts into DaemonUnreachable.
 */
import { DaemonUnreachable } from '../src/api/errors.js';

export interface DaemonReply {
  status: number;
  body: string;
}

declare const Bun: unknown;

export async function daemonRequest(socketPath: string, method: string, path: string, body: unknown, timeoutMs: number): Promise<DaemonReply> {
  if (typeof Bun === 'undefined') {
    const { apiRequest } = await import('../src/api/client.js');
    return apiRequest(socketPath, method, path, body, { timeoutMs });
  }
  const payload = body === undefined ? undefined : JSON.stringify(body);
  let r: Response;
  try {
    r = await fetch(`http://overlay${path}`, {
      method,
      body: payload,
      headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
      unix: socketPath,
    } as RequestInit);
    return { status: r.status, body: await r.text() };
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.name === 'TimeoutError') throw new DaemonUnreachable(`the overlay daemon at ${socketPath} did not answer within ${timeoutMs} ms`);
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'FailedToOpenSocket' || err.code === 'ConnectionRefused')
      throw new DaemonUnreachable(`the overlay daemon is not running (no API at ${socketPath}; ${err.code}); start it with "overlay launch"`);
    throw new DaemonUnreachable(`cannot reach the overlay daemon at ${socketPath}: ${err.message}${err.code ? ` (${err.code})` : ''}`);
  }
}
