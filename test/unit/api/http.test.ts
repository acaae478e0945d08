import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, DaemonUnreachable } from '../../../src/api/client.js';
import { ApiRouter, MAX_BODY_BYTES, stringList } from '../../../src/api/http.js';

describe('API router and client over a unix socket', () => {
  const socket = join(mkdtempSync(join(tmpdir(), 'ovapi')), 'api.sock');
  let server: http.Server;
  beforeAll(async () => {
    const api = new ApiRouter();
    api.add('POST', '/echo', 'mutate', ({ body }) => ({ json: { targets: stringList(body, 'targets') } }));
    api.add('GET', '/hello', 'read', ({ wantsJson }) => (wantsJson ? { json: { hi: 1 } } : { text: 'hi' }));
    server = http.createServer((q, s) => void api.handle(q, s));
    await new Promise<void>((r) => server.listen(socket, r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('validates bodies and reports errors as JSON', async () => {
    expect((await apiRequest(socket, 'POST', '/echo', { targets: ['a'] })).json()).toEqual({ targets: ['a'] });
    const bad = await apiRequest(socket, 'POST', '/echo', { targets: [1] });
    expect(bad.status).toBe(400);
    expect(bad.json<{ error: string }>().error).toMatch(/list of strings/);
  });

  it('refuses bad JSON, oversized bodies, unknown paths and wrong methods', async () => {
    const raw = (body: string) =>
      new Promise<number>((resolve) => {
        const q = http.request({ socketPath: socket, method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' } }, (r) => {
          r.resume();
          resolve(r.statusCode!);
        });
        q.on('error', () => resolve(-1));
        q.end(body);
      });
    expect(await raw('{nope')).toBe(400);
    expect(await raw('x'.repeat(MAX_BODY_BYTES + 10))).toBe(413);
    expect((await apiRequest(socket, 'GET', '/nothing')).status).toBe(404);
    expect((await apiRequest(socket, 'GET', '/echo')).status).toBe(405);
  });

  it('serves text or JSON as asked', async () => {
    expect((await apiRequest(socket, 'GET', '/hello', undefined, { accept: 'text/plain' })).body).toBe('hi\n');
    expect((await apiRequest(socket, 'GET', '/hello?format=json', undefined, { accept: 'text/plain' })).json()).toEqual({ hi: 1 });
  });

  it('says clearly when no daemon listens', async () => {
    await expect(apiRequest('/nonexistent/overlay.sock', 'GET', '/version')).rejects.toThrow(DaemonUnreachable);
    await expect(apiRequest('/nonexistent/overlay.sock', 'GET', '/version')).rejects.toThrow(/not running/);
  });
});
