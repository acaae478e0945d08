/**
 * The daemon API client: HTTP over the daemon's unix socket, with a timeout.
 * Used by the CLI (and anything else local that talks to the daemon).
 */
import http from 'node:http';
import { DaemonUnreachable } from './errors.js';

export { DaemonUnreachable };

export interface ApiResult {
  status: number;
  body: string;
  json<T = unknown>(): T;
}

export function apiRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { timeoutMs?: number; accept?: string } = {},
): Promise<ApiResult> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path,
        // A fresh connection per call: reusing a kept-alive one races the server closing it (ECONNRESET).
        agent: false,
        headers: {
          accept: opts.accept ?? 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            body: text,
            json: <T>() => JSON.parse(text) as T,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new DaemonUnreachable(`the overlay daemon at ${socketPath} did not answer within ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof DaemonUnreachable) return reject(e);
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        reject(new DaemonUnreachable(`the overlay daemon is not running (no API at ${socketPath}); start it with "overlay launch"`));
      } else reject(new DaemonUnreachable(`cannot reach the overlay daemon at ${socketPath}: ${e.message}`));
    });
    if (payload) req.write(payload);
    req.end();
  });
}
