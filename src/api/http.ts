/**
 * A tiny JSON-over-HTTP router for the daemon API. Handlers get a parsed,
 * size-limited body and return a status and a body; errors become JSON
 * `{ "error": "…" }` with the right status code.
 *
 * Every route says, where it is added, whether it only reads or changes the
 * daemon. Each listener serves a scope: the API socket serves everything, the
 * loopback TCP listener only reads, the metrics listener only /metrics. So a
 * new route cannot appear on TCP unless it is declared read-only.
 */
import http from 'node:http';

export const MAX_BODY_BYTES = 64 * 1024;
/** A client must send its headers within this, and its whole request within the next: a slow client cannot hold a connection. */
export const HEADERS_TIMEOUT_MS = 5_000;
export const REQUEST_TIMEOUT_MS = 15_000;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** `read`: may be served to anyone who can reach a listener. `mutate`: changes state, served on the API socket only. */
export type RouteAccess = 'read' | 'mutate';

/** What a listener serves: everything (the API socket), reads only (loopback TCP), or only /metrics. */
export type ListenerScope = 'all' | 'read-only' | 'metrics';

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** The client asked for JSON (?format=json or Accept: application/json). */
  wantsJson: boolean;
}

export interface ApiResponse {
  status?: number;
  json?: unknown;
  text?: string;
  contentType?: string;
}

export type Handler = (req: ApiRequest) => Promise<ApiResponse> | ApiResponse;

interface Route {
  access: RouteAccess;
  handler: Handler;
}

export class ApiRouter {
  private readonly routes = new Map<string, Route>();

  add(method: string, path: string, access: RouteAccess, handler: Handler): void {
    const key = `${method} ${path}`;
    if (this.routes.has(key)) throw new Error(`route ${key} registered twice`);
    if (access !== 'read' && access !== 'mutate') throw new Error(`route ${key} needs an access of "read" or "mutate"`);
    this.routes.set(key, { access, handler });
  }

  /** The routes a listener of this scope serves, as "METHOD /path" (for tests and docs). */
  served(scope: ListenerScope): string[] {
    return [...this.routes].filter(([key, r]) => servedIn(scope, key.slice(key.indexOf(' ') + 1), r.access)).map(([key]) => key);
  }

  /** A request listener for http.createServer that serves this scope; `socketHint` names where mutations go instead. */
  listener(scope: ListenerScope, socketHint = 'the API socket'): http.RequestListener {
    return (req, res) => {
      this.handle(req, res, scope, socketHint).catch(() => res.destroy());
    };
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, scope: ListenerScope = 'all', socketHint = 'the API socket'): Promise<void> {
    let out: ApiResponse;
    let close = false;
    try {
      const url = parseTarget(req.url);
      const path = url.pathname;
      if (scope === 'metrics' && path !== '/metrics') throw new ApiError(404, `this listener serves only /metrics, not ${path}`);
      const route = this.routes.get(`${req.method} ${path}`);
      if (!route) {
        const known = [...this.routes.keys()].some((k) => k.endsWith(` ${path}`));
        throw new ApiError(known ? 405 : 404, known ? `method ${req.method} not allowed on ${path}` : `no such endpoint ${path}`);
      }
      if (!servedIn(scope, path, route.access)) {
        close = true; // the body is never read
        throw new ApiError(403, `${req.method} ${path} changes the daemon, so it is served only on ${socketHint} (root, or the group given by --api-group); this listener is read-only`, 'read-only listener');
      }
      const body = await readJsonBody(req);
      const wantsJson = url.searchParams.get('format') === 'json' || (req.headers.accept ?? '').includes('application/json');
      out = await route.handler({ method: req.method ?? 'GET', path, query: url.searchParams, body, wantsJson });
    } catch (e) {
      const status = e instanceof ApiError ? e.status : 500;
      const reason = e instanceof ApiError ? e.reason : undefined;
      // A body we stopped reading (too large, cut off) leaves the connection unusable.
      if (status === 413 || status === 408) close = true;
      out = { status, json: { error: (e as Error).message, ...(reason ? { reason } : {}) } };
    }
    send(res, out, close);
  }
}

/** The request target as a URL; "//x" or "http://host/x" must not be read as naming another host. */
function parseTarget(target: string | undefined): URL {
  try {
    return new URL(`http://overlay${target?.startsWith('/') ? target : `/${target ?? ''}`}`);
  } catch {
    throw new ApiError(400, 'the request target is not a valid path');
  }
}

function servedIn(scope: ListenerScope, path: string, access: RouteAccess): boolean {
  if (scope === 'all') return true;
  if (scope === 'metrics') return path === '/metrics';
  return access === 'read';
}

/** An HTTP server for the API with time limits on headers and on the whole request. */
export function createApiServer(listener: http.RequestListener): http.Server {
  const server = http.createServer(
    // An idle kept-alive connection is closed gracefully before the header time limit would cut it off.
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000, keepAliveTimeout: 2_000 },
    listener,
  );
  // A malformed request or a timed-out one: answer if the socket still can, then drop it (even if the client keeps sending).
  server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const line = e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${line}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, () => socket.destroy());
    setTimeout(() => socket.destroy(), 1_000).unref();
  });
  return server;
}

function send(res: http.ServerResponse, out: ApiResponse, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const status = out.status ?? 200;
  const extra = close ? { connection: 'close' } : {};
  if (out.text !== undefined) {
    res.writeHead(status, { 'content-type': out.contentType ?? 'text/plain; charset=utf-8', ...extra });
    res.end(out.text.endsWith('\n') || out.text === '' ? out.text : out.text + '\n');
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', ...extra });
  res.end(JSON.stringify(out.json ?? {}) + '\n');
}

function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'HEAD') return Promise.resolve(undefined);
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY_BYTES) return Promise.reject(new ApiError(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (e: ApiError) => {
      if (done) return;
      done = true;
      req.removeAllListeners('data');
      req.pause();
      reject(e);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return fail(new ApiError(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
      chunks.push(chunk);
    });
    req.on('error', () => fail(new ApiError(400, 'the request body was cut off')));
    req.on('close', () => fail(new ApiError(400, 'the request body was cut off')));
    req.on('end', () => {
      if (done) return;
      done = true;
      if (size === 0) return resolve({});
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new ApiError(400, 'request body is not valid JSON'));
      }
    });
  });
}

/** An optional string field of a JSON body; anything else but absent or null is a 400. */
export function optionalString(body: unknown, key: string): string | undefined {
  const v = (body as Record<string, unknown> | undefined)?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ApiError(400, `"${key}" must be a string`);
  return v;
}

/** An optional boolean field of a JSON body; anything else but absent is a 400. */
export function optionalBoolean(body: unknown, key: string): boolean | undefined {
  const v = (body as Record<string, unknown> | undefined)?.[key];
  if (v !== undefined && typeof v !== 'boolean') throw new ApiError(400, `"${key}" must be true or false`);
  return v;
}

/** Validate `{ <field>: string[] }` bodies such as /connect. */
export function stringList(body: unknown, field: string): string[] {
  const v = (body as Record<string, unknown> | undefined)?.[field];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ApiError(400, `"${field}" must be a list of strings`);
  return v as string[];
}
