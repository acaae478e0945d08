/** Three real Routers over real TCP on loopback (ports picked by the OS; no devices, no namespaces). */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { SystemClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { Router } from '../../../src/mesh/router.js';
import { TcpTransport } from '../../../src/mesh/tcp-transport.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const routers: Router[] = [];
afterAll(async () => {
  for (const r of routers) await r.stop();
});

describe('routers over TCP on loopback', () => {
  it('mesh, exchange gossip on a custom channel, and route a unicast', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    for (let i = 0; i < 3; i++) {
      const r = new Router({
        name: `02:00:00:00:01:0${i}`,
        nickname: `t${i}`,
        port: ports[i]!,
        password: 'pw',
        transport: new TcpTransport({ host: '127.0.0.1', port: ports[i]! }),
        clock: new SystemClock(),
        random: Math.random,
        logger: silentLogger,
        discovery: false,
        timings: { deltaCoalesceMs: 5 },
      });
      routers.push(r);
      await r.start();
    }
    // A line: t1 - t0 - t2, so t1 reaches t2 only through t0.
    routers[1]!.connect([`127.0.0.1:${ports[0]}`]);
    routers[2]!.connect([`127.0.0.1:${ports[0]}`]);
    const got: unknown[] = [];
    const values = new Map<string, number>();
    const channels = routers.map((r, i) =>
      r.registerChannel({
        name: 'kv',
        encodeFull: () => [...values.entries()],
        encodeDelta: () => (i === 1 ? [['from-t1', 1]] : undefined),
        merge: () => undefined,
        onUnicast: (from, payload) => got.push({ at: i, from, payload }),
      }),
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && routers.some((r) => r.peers().length < 3)) await new Promise((r) => setTimeout(r, 20));
    expect(routers.map((r) => r.peers().length)).toEqual([3, 3, 3]);
    expect(routers[1]!.connections()[0]!.info).toContain('encrypted');
    expect(channels[1]!.unicast(routers[2]!.name, { hello: 'via t0' })).toBe(true);
    while (Date.now() < deadline && got.length === 0) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual([{ at: 2, from: routers[1]!.name, payload: { hello: 'via t0' } }]);
    expect(routers[0]!.counters.gossipMessagesReceived).toBeGreaterThan(0);
  });
});
