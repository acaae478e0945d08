/**
 * The plugin's daemon client against a fake daemon (Node's HTTP server on a
 * unix socket), over both transports: the Node one used by the other unit
 * tests, and the installed plugin's (plain socket calls through bun:ffi), run
 * by Bun in a child process (bun-client.ts) since bun:ffi exists only there.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { apiRequest } from '../../../src/api/client.js';
import { HttpDaemonClient } from '../../../cni/daemon-client.js';
import type { DaemonTransport } from '../../../cni/transport.js';

let dir: string;
let sock: string;
let server: Server | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cni-client-'));
  sock = join(dir, 'overlay.sock');
});
afterEach(async () => {
  server?.closeAllConnections();
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

function serve(handler: Parameters<typeof createServer>[1]): Promise<void> {
  server = createServer(handler);
  return new Promise((r) => server!.listen(sock, () => r()));
}

/** One client call and what came of it: the value, or the error's class and message. */
type Outcome = { value?: unknown; error?: string; message?: string };
type Call = [method: 'admit' | 'release' | 'lookup' | 'status', ...args: unknown[]];

const here = fileURLToPath(new URL('.', import.meta.url));
const nodeTransport: DaemonTransport = (socketPath, method, path, body, timeoutMs) => apiRequest(socketPath, method, path, body, { timeoutMs });
const transports: Record<string, (timeoutMs: number, calls: Call[]) => Promise<Outcome[]>> = {
  node: async (timeoutMs, calls) => {
    const c = new HttpDaemonClient(sock, nodeTransport, timeoutMs) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const out: Outcome[] = [];
    for (const [m, ...args] of calls) {
      try {
        out.push({ value: await c[m]!(...args) });
      } catch (e) {
        out.push({ error: (e as Error).name, message: (e as Error).message });
      }
    }
    return out;
  },
  'bun (installed plugin)': async (timeoutMs, calls) => {
    const r = await execa('npx', ['bun', join(here, 'bun-client.ts'), sock, String(timeoutMs), JSON.stringify(calls)], { cwd: join(here, '../../..') });
    return JSON.parse(r.stdout) as Outcome[];
  },
};

const PLAN = { address: '10.32.0.2/12', subnet: '10.32.0.0/12', mtu: 1450, bridge: 'overlay', hostVeth: 'ovl0123456789ab', mac: '02:00:00:00:00:01', filter: { fromContainer: 'BgAAAAAAAAA=', toContainer: 'BgAAAAAAAAA=' } };
const REQ = { netns: '/run/netns/c1', ifname: 'eth0', mac: '02:00:00:00:00:01', isolate: true };

describe.each(Object.keys(transports))('daemon client over %s', (name) => {
  const calls = (timeoutMs: number, ...c: Call[]) => transports[name]!(timeoutMs, c);

  it('talks the daemon routes', async () => {
    const seen: string[] = [];
    await serve((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        if (req.url === '/ipam/status') return res.end(JSON.stringify({ ready: true }));
        if (req.url === '/ipam/lookup?owner=missing%3Aeth0') return res.writeHead(404).end(JSON.stringify({ error: 'no such owner' }));
        if (req.url === '/ports/release') return res.end('{}');
        res.end(JSON.stringify(PLAN));
      });
    });
    const out = await calls(3000, ['admit', 'c1:eth0', REQ], ['lookup', 'missing:eth0'], ['release', 'c1:eth0', { hostVeth: 'ovl0123456789ab', retired: 'ovr0123456789ab' }], ['status']);
    expect(out).toEqual([{ value: PLAN }, {}, {}, { value: { ready: true } }]);
    expect(seen[0]).toBe(`POST /ports/admit ${JSON.stringify({ owner: 'c1:eth0', ...REQ })}`);
    expect(seen[2]).toBe('POST /ports/release {"owner":"c1:eth0","hostVeth":"ovl0123456789ab","retired":"ovr0123456789ab"}');
  });
  it('no daemon → unavailable, naming the socket', async () => {
    const [out] = await calls(3000, ['release', 'c1:eth0']);
    expect(out).toMatchObject({ error: 'DaemonUnavailableError', message: expect.stringContaining(sock) });
  });
  it('a hung daemon times out as unavailable', async () => {
    await serve(() => {});
    const [out] = await calls(300, ['release', 'c1:eth0']);
    expect(out).toMatchObject({ error: 'DaemonUnavailableError', message: expect.stringContaining('300 ms') });
  });
  it('503 → unavailable with the reason; status reports not ready', async () => {
    await serve((_req, res) => res.writeHead(503).end(JSON.stringify({ ready: false, error: 'waiting for consensus', reason: 'waiting for consensus' })));
    const [admit, status] = await calls(3000, ['admit', 'c1:eth0', REQ], ['status']);
    expect(admit).toMatchObject({ error: 'DaemonUnavailableError', message: expect.stringContaining('waiting for consensus') });
    expect(status).toEqual({ value: { ready: false, reason: 'waiting for consensus' } });
  });
  it('a malformed plan or a garbage reply is an error, not a crash', async () => {
    await serve((req, res) => (req.url === '/ports/admit' ? res.end(JSON.stringify({ ...PLAN, mtu: 'big' })) : res.end('garbage')));
    const [plan, status] = await calls(3000, ['admit', 'c1:eth0', REQ], ['status']);
    expect(plan).toMatchObject({ error: 'Error', message: expect.stringMatching(/malformed/) });
    expect(status).toMatchObject({ value: { ready: false } });
  });
  it('a 4xx on admit is a rejection carrying the daemon message', async () => {
    await serve((_req, res) => res.writeHead(400).end(JSON.stringify({ error: 'subnet 10.99.0.0/16 is outside the range 10.32.0.0/12' })));
    const [out] = await calls(3000, ['admit', 'c1:eth0', { ...REQ, subnet: '10.99.0.0/16' }]);
    expect(out).toMatchObject({ error: 'DaemonRejectedError', message: expect.stringContaining('outside the range') });
  });
});

describe('daemon client over bun (installed plugin), raw replies', () => {
  it('a daemon that closes without answering, or answers with garbage, is unavailable or an error', async () => {
    const { createServer: netServer } = await import('node:net');
    const replies = ['', 'NOT HTTP\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'];
    let n = 0;
    const s = netServer((c) => c.once('data', () => c.end(replies[n++])));
    await new Promise<void>((r) => s.listen(sock, () => r()));
    try {
      const out = await transports['bun (installed plugin)']!(3000, [['release', 'a:eth0'], ['release', 'b:eth0'], ['release', 'c:eth0']]);
      expect(out[0]).toMatchObject({ error: 'DaemonUnavailableError', message: expect.stringMatching(/without answering/) });
      expect(out[1]).toMatchObject({ error: 'Error', message: expect.stringMatching(/malformed reply/) });
      expect(out[2]).toEqual({});
    } finally {
      await new Promise((r) => s.close(r));
    }
  });
});
