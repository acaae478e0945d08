import { describe, expect, it } from 'vitest';
import { SimClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { randomPeerName } from '../../../src/lib/peer-name.js';
import { seededRandom } from '../../../src/lib/random.js';
import { Router } from '../../../src/mesh/router.js';
import { SimNetwork } from '../../../src/mesh/sim-transport.js';

function cluster(n: number, seed: number, password?: (i: number) => string | undefined) {
  const clock = new SimClock();
  const random = seededRandom(seed);
  const net = new SimNetwork(clock, random);
  const routers = Array.from({ length: n }, (_, i) => {
    const host = `h${i}`;
    const name = randomPeerName(Buffer.from(Array.from({ length: 6 }, () => Math.floor(random() * 256))));
    return new Router({ name, nickname: host, port: 6783, transport: net.transport(host), clock, random, logger: silentLogger, epoch: 1000, password: password?.(i) });
  });
  return { clock, net, routers };
}

describe('mesh smoke', () => {
  it('a chain of 5 becomes a full mesh', async () => {
    const { clock, routers } = cluster(5, 1);
    for (const r of routers) await r.start();
    routers.forEach((r, i) => i > 0 && r.connect([`h${i - 1}`]));
    for (let i = 0; i < 200; i++) {
      clock.advance(100);
      for (let k = 0; k < 5; k++) await Promise.resolve();
    }
    for (const r of routers) {
      if (r.peers().length !== 5) console.log(r.nickname, r.peers().length, r.targets(), r.connections());
      expect(r.peers().length).toBe(5);
      expect(r.connections().filter((c) => c.state === 'established').length).toBe(4);
    }
  });

  it('password mismatch is refused', async () => {
    const { clock, routers } = cluster(2, 2, (i) => `secret${i}`);
    for (const r of routers) await r.start();
    routers[1]!.connect(['h0']);
    for (let i = 0; i < 50; i++) {
      clock.advance(100);
      for (let k = 0; k < 5; k++) await Promise.resolve();
    }
    expect(routers[0]!.peers().length).toBe(1);
    expect(routers[1]!.targets()[0]!.lastError).toMatch(/password|closed/);
  });
});
