/**
 * The mesh's TCP transport (src/mesh/tcp-transport.ts, node:net) on both
 * runtimes: Node, and Bun, whose node:net is its own implementation. Inside a
 * lab host, test/fixtures/tcp-transport-check.mjs checks the ByteStream
 * contract on each:
 * data sent before the reader is attached is delivered, 32 MB written at once
 * makes write() refuse and onDrain follow with every byte in order, a close by
 * the other end is seen once, and a refused or unanswered dial rejects with
 * the reason. The router's backpressure (one pending state per channel per
 * connection) rests on write() and onDrain keeping that contract.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../scripts/lab/lab.js';

const ROOT = resolve(__dirname, '../..');
const check = resolve(ROOT, 'test/fixtures/tcp-transport-check.mjs');
const module = resolve(ROOT, 'dist/src/mesh/tcp-transport.js');

describe('the TCP transport', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ hosts: 1, label: 'tcpt' });
    await lab.exec(lab.host(1).ns, 'ip', ['link', 'set', 'lo', 'up']);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it.each([
    ['Node', process.execPath, 'node'],
    ['Bun', resolve(ROOT, 'node_modules/.bin/bun'), 'bun'],
  ])('%s keeps the byte-stream contract', async (_, runtime, name) => {
    // No host has this address on the lab's link: the dial waits on ARP until it times out.
    const r = await lab.exec(lab.host(1).ns, runtime, [check, module, '198.51.100.250'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(out).toMatchObject({
      runtime: name,
      echo: 'early',
      remote: true,
      localHost: '127.0.0.1',
      received: 32 << 20,
      inOrder: true,
      writesRefused: true,
      bufferedAfter: 0,
      closes: 1,
      timeout: 'connect 198.51.100.250:6783 timed out',
    });
    expect(out['drains']).toBeGreaterThanOrEqual(1);
    expect(String(out['refused'])).toMatch(/^connect 127\.0\.0\.1:\d+: ECONNREFUSED$/);
  });
});
