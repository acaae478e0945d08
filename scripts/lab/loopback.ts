/**
 * Real routers over real TCP on 127.0.0.1 in this process (ports picked by the
 * OS; no devices, no namespaces): for the mesh tests and the security bench.
 */
import net from 'node:net';
import { SystemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { Router, type RouterConfig } from '../../src/mesh/router.js';
import { TcpTransport } from '../../src/mesh/tcp-transport.js';

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A router listening on 127.0.0.1:<port>, real clock, no discovery; the rest as given. */
export function loopbackRouter(cfg: Pick<RouterConfig, 'name' | 'nickname' | 'port'> & Partial<RouterConfig>): Router {
  return new Router({
    transport: new TcpTransport({ host: '127.0.0.1', port: cfg.port }),
    clock: new SystemClock(),
    random: Math.random,
    logger: silentLogger,
    discovery: false,
    ...cfg,
  });
}
