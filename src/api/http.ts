/**
 * A tiny JSON-over-HTTP router for the daemon API. Handlers get a parsed,
 * size-limited body and return a status and a body; errors become JSON
 * `{ "error": "…" }` with the right status code.
 */
import http from 'node:http';

export const MAX_BODY_BYTES = 64 * 1024;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

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

export class ApiRouter {
  private readonly routes = new Map<string, Handler>();

  add(method: string, path: string, handler: Handler): void {
    const key = `${method} ${path}`;
    if (this.routes.has(key)) throw new Error(`route ${key} registered twice`);
    this.routes.set(key, handler);
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let out: ApiResponse;
    try {
      const url = new URL(req.url ?? '/', 'http://overlay');
      const handler = this.routes.get(`${req.method} ${url.pathname}`);
      if (!handler) {
        const known = [...this.routes.keys()].some((k) => k.endsWith(` ${url.pathname}`));
        throw new ApiError(known ? 405 : 404, known ? `method ${req.method} not allowed on ${url.pathname}` : `no such endpoint ${url.pathname}`);
      }
      const body = await readJsonBody(req);
      const wantsJson = url.searchParams.get('format') === 'json' || (req.headers.accept ?? '').includes('application/json');
      out = await handler({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body, wantsJson });
    } catch (e) {
      const status = e instanceof ApiError ? e.status : 500;
      const reason = e instanceof ApiError ? e.reason : undefined;
      out = { status, json: { error: (e as Error).message, ...(reason ? { reason } : {}) } };
    }
    send(res, out);
  }
}

function send(res: http.ServerResponse, out: ApiResponse): void {
  const status = out.status ?? 200;
  if (out.text !== undefined) {
    res.writeHead(status, { 'content-type': out.contentType ?? 'text/plain; charset=utf-8' });
    res.end(out.text.endsWith('\n') || out.text === '' ? out.text : out.text + '\n');
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(out.json ?? {}) + '\n');
}

async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'request body is not valid JSON');
  }
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
