import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpIpamClient } from '../../../cni/daemon-client.js';
import { DaemonUnavailableError } from '../../../cni/ports.js';

let dir: string;
let sock: string;
let server: Server | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cni-client-'));
  sock = join(dir, 'overlay.sock');
});
afterEach(async () => {
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

function serve(handler: Parameters<typeof createServer>[1]): Promise<void> {
  server = createServer(handler);
  return new Promise((r) => server!.listen(sock, () => r()));
}

describe('HttpIpamClient', () => {
  it('talks the proposed routes', async () => {
    const seen: string[] = [];
    await serve((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        if (req.url === '/ipam/status') return res.end(JSON.stringify({ ready: true }));
        if (req.url === '/ipam/lookup?owner=missing%3Aeth0') return res.writeHead(404).end(JSON.stringify({ error: 'no such owner' }));
        if (req.url === '/ipam/release') return res.writeHead(204).end();
        res.end(JSON.stringify({ address: '10.32.0.2/12', subnet: '10.32.0.0/12', mtu: 1450 }));
      });
    });
    const c = new HttpIpamClient(sock);
    expect(await c.allocate('c1:eth0', { ip: '10.32.0.2' })).toEqual({ address: '10.32.0.2/12', subnet: '10.32.0.0/12', mtu: 1450 });
    expect(await c.lookup('missing:eth0')).toBeUndefined();
    await c.release('c1:eth0');
    expect(await c.status()).toEqual({ ready: true, reason: undefined });
    expect(seen[0]).toBe('POST /ipam/allocate {"owner":"c1:eth0","ip":"10.32.0.2"}');
    expect(seen[2]).toBe('POST /ipam/release {"owner":"c1:eth0"}');
  });
  it('no socket → DaemonUnavailableError naming the socket', async () => {
    const err = await new HttpIpamClient(sock).allocate('c1:eth0', {}).catch((e) => e);
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect(err.message).toContain(sock);
  });
  it('a hung daemon times out as unavailable', async () => {
    await serve(() => {});
    const err = await new HttpIpamClient(sock, 200).release('c1:eth0').catch((e) => e);
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect(err.message).toContain('200 ms');
  });
  it('503 → unavailable with the reason; status reports not ready', async () => {
    await serve((_req, res) => res.writeHead(503).end(JSON.stringify({ ready: false, error: 'waiting for consensus', reason: 'waiting for consensus' })));
    const c = new HttpIpamClient(sock);
    const err = await c.allocate('c1:eth0', {}).catch((e) => e);
    expect(err).toBeInstanceOf(DaemonUnavailableError);
    expect(err.message).toContain('waiting for consensus');
    expect(await c.status()).toEqual({ ready: false, reason: 'waiting for consensus' });
  });
  it('a malformed allocation is an error, not a crash', async () => {
    await serve((_req, res) => res.end('garbage'));
    await expect(new HttpIpamClient(sock).allocate('c1:eth0', {})).rejects.toThrow(/malformed/);
  });
});

describe('HttpIpamClient rejections', () => {
  it('a 4xx on allocate is a DaemonRejectedError carrying the daemon message', async () => {
    const { DaemonRejectedError } = await import('../../../cni/ports.js');
    await serve((_req, res) => res.writeHead(400).end(JSON.stringify({ error: 'subnet 10.99.0.0/16 is outside the range 10.32.0.0/12' })));
    const err = await new HttpIpamClient(sock).allocate('c1:eth0', { subnet: '10.99.0.0/16' }).catch((e) => e);
    expect(err).toBeInstanceOf(DaemonRejectedError);
    expect(err.message).toContain('outside the range');
  });
});
