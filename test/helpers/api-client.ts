/**
 * A stand-alone API client for the security tests, run inside a test host's
 * namespace and as another user (setpriv), so it sees the daemon exactly as a
 * local process of that user would. Two modes, JSON on argv, JSON on stdout:
 *   probe: send each request, report status and body (or the socket error);
 *   fuzz:  random methods, paths, headers and bodies (seeded), oversized and
 *          slow bodies; report how each ended.
 */
import http from 'node:http';
import net from 'node:net';
import { pick, seededRandom } from '../../src/lib/random.js';

type Target = { host: string; port: number } | { socketPath: string };

interface ProbeRequest {
  method: string;
  path: string;
  body?: unknown;
}

export interface Outcome {
  method: string;
  path: string;
  status?: number;
  body?: string;
  error?: string;
}

function request(target: Target, method: string, path: string, body: Buffer | undefined, headers: Record<string, string> = {}, timeoutMs = 20_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request({ ...target, method, path, headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...headers }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ method, path, status: res.statusCode, body: Buffer.concat(chunks).toString('utf8').slice(0, 100_000) }));
      res.on('error', (e) => resolve({ method, path, status: res.statusCode, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ method, path, error: e.code ?? e.message }));
    if (body) req.write(body);
    req.end();
  });
}

async function probe(target: Target, requests: ProbeRequest[]): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const r of requests) {
    const body = r.body === undefined ? undefined : Buffer.from(JSON.stringify(r.body));
    out.push(await request(target, r.method, r.path, body, body ? { 'content-type': 'application/json' } : {}));
  }
  return out;
}


const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'get'];
const PATHS = ['/', '/status', '/status/peers', '/status/ipam', '/report', '/metrics', '/version', '/ps', '/connect', '/forget', '/attach', '/detach', '/expose', '/hide', '/ports/admit', '/ports/release', '/ipam/allocate', '/ipam/release', '/ipam/lookup', '/ipam/rmpeer', '/ipam/allocations', '//', '/%00', '/../etc/passwd', '/status?format=json', '/ipam/lookup?owner=%ff%fe', '/a'.repeat(300)];
const BODIES = ['', '{', 'null', '[]', '"x"', '5', '{"targets":[1,2]}', '{"netns":"/etc/passwd"}', '{"netns":"../../x","ifname":"' + 'e'.repeat(40) + '"}', '{"owner":{"a":1}}', '{"peer":""}', '\u0000\u0001\u0002', '{"targets":["a:1"],"replace":"yes"}', JSON.stringify({ a: 'x'.repeat(60_000) })];

function randomBytes(r: () => number, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
}

/** Raw bytes on a socket: a request line and headers as the fuzzer likes; resolves with the first response line (or how it ended). */
function raw(target: Target, bytes: Buffer, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = 'socketPath' in target ? net.connect(target.socketPath) : net.connect(target.port, target.host);
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(got ? got.split('\r\n')[0]! : 'no answer (client gave up)');
    }, waitMs);
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(got ? got.split('\r\n')[0]! : `error ${e.code}`);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(got ? got.split('\r\n')[0]! : 'closed');
    });
    sock.on('connect', () => sock.end(bytes));
  });
}

async function fuzz(target: Target, seed: number, count: number, exclude: string[]): Promise<{ outcomes: Record<string, number>; serverErrors: Outcome[] }> {
  const r = seededRandom(seed);
  const outcomes: Record<string, number> = {};
  const serverErrors: Outcome[] = [];
  const note = (k: string) => (outcomes[k] = (outcomes[k] ?? 0) + 1);
  for (let i = 0; i < count; i++) {
    const kind = r();
    if (kind < 0.6) {
      const method = pick(r, METHODS);
      let path = pick(r, PATHS);
      if (r() < 0.2) path = '/' + randomBytes(r, 1 + Math.floor(r() * 30)).toString('base64url');
      if (exclude.includes(`${method} ${path.split('?')[0]}`)) continue;
      const body = r() < 0.8 ? Buffer.from(pick(r, BODIES)) : randomBytes(r, Math.floor(r() * 2_000));
      const headers: Record<string, string> = {};
      if (r() < 0.5) headers['content-type'] = pick(r, ['application/json', 'text/plain', 'multipart/form-data; boundary=x', '']);
      if (r() < 0.3) headers['accept'] = pick(r, ['application/json', '*/*', 'text/html', 'x'.repeat(500)]);
      if (r() < 0.1) headers['x-junk'] = 'y'.repeat(Math.floor(r() * 8_000));
      const o = await request(target, method, path, method === 'GET' || method === 'HEAD' || method === 'get' ? undefined : body, headers);
      note(o.status ? `status ${o.status}` : `error ${o.error}`);
      if ((o.status ?? 0) >= 500 && serverErrors.length < 5) serverErrors.push({ ...o, path: `${path} body=${body.toString('latin1').slice(0, 80)}` });
    } else if (kind < 0.85) {
      // Hand-made HTTP: broken request lines, lying lengths, chunked garbage, huge headers.
      const line = pick(r, ['POST /connect HTTP/1.1', 'GET /status HTTP/1.1', 'GET / HTTP/9.9', 'BREW /pot HTCPCP/1.0', 'GET', '\x16\x03\x01', 'POST /attach HTTP/1.0']);
      const headers = pick(r, [
        'host: x\r\ncontent-length: 5\r\n\r\n{}',
        'host: x\r\ncontent-length: -1\r\n\r\n',
        'host: x\r\ncontent-length: 99999999999\r\n\r\n{',
        'host: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nxx\r\n',
        'host: x\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
        `host: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
        'host: x\r\n\r\n',
      ]);
      note(`raw: ${(await raw(target, Buffer.from(`${line}\r\n${headers}`, 'latin1'), 3_000)).slice(0, 40)}`);
    } else {
      // Oversized body, declared honestly, sent all at once.
      const size = pick(r, [65_537, 200_000, 2_000_000]);
      const path = pick(r, ['/connect', '/attach', '/ipam/allocate', '/status']);
      const o = await request(target, 'POST', path, Buffer.alloc(size, 0x7b), { 'content-type': 'application/json' });
      note(o.status ? `oversized ${size}: status ${o.status}` : `oversized ${size}: error ${o.error}`);
    }
  }
  return { outcomes, serverErrors };
}

/** Slow clients: connections that send part of their headers, or trickle a body, and hold on. Reports when the daemon closed each. */
async function slow(target: Target, n: number, holdMs: number, kind: 'headers' | 'body'): Promise<{ closedByServer: number; stillOpen: number; closedAfterMs: number[] }> {
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise<{ closed: boolean; ms: number }>((resolve) => {
        const t0 = Date.now();
        const sock = 'socketPath' in target ? net.connect(target.socketPath) : net.connect(target.port, target.host);
        let trickle: NodeJS.Timeout | undefined;
        const end = (closed: boolean) => {
          clearInterval(trickle);
          clearTimeout(giveUp);
          sock.destroy();
          resolve({ closed, ms: Date.now() - t0 });
        };
        const giveUp = setTimeout(() => end(false), holdMs);
        sock.on('connect', () => {
          if (kind === 'headers') sock.write(`GET /status HTTP/1.1\r\nhost: x${i}\r\n`); // headers never finished
          else sock.write('POST /connect HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{');
          trickle = setInterval(() => sock.write(kind === 'headers' ? 'x-a: b\r\n' : ' '), 1_000);
        });
        sock.on('close', () => end(true));
        sock.on('error', () => undefined);
      }),
    ),
  );
  return { closedByServer: results.filter((x) => x.closed).length, stillOpen: results.filter((x) => !x.closed).length, closedAfterMs: results.map((x) => x.ms) };
}

const [mode, json] = process.argv.slice(2);
const args = JSON.parse(json ?? '{}') as { target: Target; requests?: ProbeRequest[]; seed?: number; count?: number; exclude?: string[]; n?: number; holdMs?: number; kind?: 'headers' | 'body' };
const run = mode === 'probe' ? probe(args.target, args.requests ?? []) : mode === 'fuzz' ? fuzz(args.target, args.seed ?? 1, args.count ?? 100, args.exclude ?? []) : slow(args.target, args.n ?? 10, args.holdMs ?? 30_000, args.kind ?? 'headers');
run.then(
  (r) => process.stdout.write(JSON.stringify(r) + '\n'),
  (e) => {
    process.stderr.write(String(e) + '\n');
    process.exitCode = 1;
  },
);
