import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiRouter, createApiServer, MAX_BODY_BYTES, type ListenerScope } from '../../../src/api/http.js';
import { withoutSecrets } from '../../../src/api/redact.js';

describe('listener scopes: what each listener serves', () => {
  const calls: string[] = [];
  const api = new ApiRouter();
  api.add('GET', '/status', 'read', () => ({ json: { ok: true } }));
  api.add('GET', '/metrics', 'read', () => ({ text: 'm 1' }));
  api.add('POST', '/reset', 'mutate', () => {
    calls.push('reset');
    return { json: { resetting: true } };
  });
  const servers: http.Server[] = [];
  const ports = new Map<ListenerScope, number>();
  beforeAll(async () => {
    for (const scope of ['all', 'read-only', 'metrics'] as const) {
      const s = createApiServer(api.listener(scope, 'the API socket /run/x.sock'));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      ports.set(scope, (s.address() as net.AddressInfo).port);
    }
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });
  const call = (scope: ListenerScope, method: string, path: string, body?: string) =>
    new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
      const q = http.request({ host: '127.0.0.1', port: ports.get(scope), method, path, headers: body ? { 'content-type': 'application/json' } : {} }, (r) => {
        let b = '';
        r.on('data', (c) => (b += c));
        r.on('end', () => resolve({ status: r.statusCode!, body: b, connection: r.headers.connection }));
      });
      q.on('error', reject);
      q.end(body);
    });

  it('a route must say whether it reads or mutates', () => {
    expect(() => new ApiRouter().add('GET', '/x', 'maybe' as never, () => ({}))).toThrow(/needs an access/);
    expect(api.served('read-only')).toEqual(['GET /status', 'GET /metrics']);
    expect(api.served('metrics')).toEqual(['GET /metrics']);
    expect(api.served('all')).toEqual(['GET /status', 'GET /metrics', 'POST /reset']);
  });

  it('the read-only listener refuses a mutation with 403 and a clear message, without running it', async () => {
    const r = await call('read-only', 'POST', '/reset', '{}');
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({
      error: 'POST /reset changes the daemon, so it is served only on the API socket /run/x.sock (root, or the group given by --api-group); this listener is read-only',
      reason: 'read-only listener',
    });
    expect(r.connection).toBe('close');
    expect(calls).toEqual([]);
    expect((await call('read-only', 'GET', '/status')).status).toBe(200);
    expect((await call('all', 'POST', '/reset')).status).toBe(200);
    expect(calls).toEqual(['reset']);
  });

  it('the metrics listener serves /metrics only', async () => {
    expect((await call('metrics', 'GET', '/metrics')).body).toBe('m 1\n');
    for (const [m, p] of [['GET', '/status'], ['POST', '/reset'], ['GET', '/nothing']] as const) {
      const r = await call('metrics', m, p);
      expect(r.status).toBe(404);
      expect(r.body).toMatch(/serves only \/metrics/);
    }
  });

  it('an oversized body is a 413 with the connection closed, declared or not', async () => {
    const big = 'x'.repeat(MAX_BODY_BYTES + 1);
    const r = await call('all', 'POST', '/reset', big);
    expect(r.status).toBe(413);
    expect(r.connection).toBe('close');
    expect((await call('all', 'GET', '//')).status).toBe(404);
  });
});

describe('report redaction', () => {
  it('drops fields that name a secret, at any depth, and keeps the rest', () => {
    expect(withoutSecrets({ a: 1, password: 'p', nested: [{ privateKey: 'k', publicKey: 'pub', psk: 'x' }], encryption: true, key: 'k' })).toEqual({
      a: 1,
      nested: [{ publicKey: 'pub' }],
      encryption: true,
    });
  });
});
