/**
 * The router daemon: opens the store, restores identity and targets, runs the
 * mesh router over TCP, serves the API on the unix socket and on loopback
 * TCP, and shuts everything down cleanly on SIGTERM, `overlay stop` or
 * `overlay reset`.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { ApiError, ApiRouter, stringList } from '../api/http.js';
import { buildInfo, meshMetrics, processMetrics, renderMetrics } from '../api/metrics.js';
import { formatConnections, formatPeers, formatSummary, formatTargets, type DaemonStatus } from '../api/status.js';
import { SystemClock } from '../lib/clock.js';
import { IpamComponent } from '../ipam/component.js';
import { DataplaneComponent } from '../dataplane/component.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION, PROTOCOL_NAME } from '../mesh/protocol.js';
import { Router } from '../mesh/router.js';
import { TcpTransport } from '../mesh/tcp-transport.js';
import { Store } from '../store/store.js';
import type { DaemonComponent } from './component.js';
import { parseHttpAddr, VERSION, type DaemonConfig } from './config.js';
import { pidFile } from './files.js';
import { loadOrCreateName, loadTargets, saveTargets } from './identity.js';

/** Crypto-strength randomness for the router (connection ids, jitter, fan-out). */
function cryptoRandom(): number {
  return randomInt(0, 2 ** 47) / 2 ** 47;
}

export class Daemon {
  readonly components: DaemonComponent[] = [];
  private servers: http.Server[] = [];
  private stopping?: Promise<void>;
  private resetRequested = false;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  private constructor(
    readonly cfg: DaemonConfig,
    readonly store: Store,
    readonly router: Router,
    readonly log: Logger,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  static async start(cfg: DaemonConfig, log = createLogger({ level: cfg.logLevel })): Promise<Daemon> {
    mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
    chmodSync(cfg.dataDir, 0o700);
    const store = await Store.open(cfg.dataDir);
    try {
      const name = await loadOrCreateName(store, cfg.name);
      const clock = new SystemClock();
      const targets = [...new Set([...(await loadTargets(store)), ...cfg.targets])];
      const router = new Router({
        name,
        nickname: cfg.nickname,
        uid: randomBytes(8).toString('hex'),
        port: cfg.port,
        password: cfg.password,
        connLimit: cfg.connLimit,
        discovery: cfg.discovery,
        minProtocolVersion: cfg.minProtocolVersion,
        transport: new TcpTransport({ port: cfg.port }),
        clock,
        random: cryptoRandom,
        logger: log,
      });
      const daemon = new Daemon(cfg, store, router, log);
      const cniStateDir = join(cfg.dataDir, 'cni');
      // Every line names this peer, as the router's do.
      const peerLog = log.child({ peer: name });
      const ipam = new IpamComponent(cfg.ipam, router, store, clock, cryptoRandom, peerLog.child({ component: 'ipam' }), cniStateDir);
      daemon.components.push(ipam, new DataplaneComponent(cfg.dataplane, router, ipam, store, peerLog.child({ component: 'dataplane' }), cniStateDir));
      try {
        await daemon.boot(targets);
      } catch (e) {
        await daemon.stop(`start-up failed: ${(e as Error).message}`).catch(() => undefined);
        throw e;
      }
      return daemon;
    } catch (e) {
      await store.close().catch(() => undefined);
      throw e;
    }
  }

  private async boot(targets: string[]): Promise<void> {
    try {
      // Bound now (a port in use fails the launch before anything else is touched), but no
      // connection starts until the components' channels are registered: see below.
      await this.router.start({ open: false });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new Error(err.code === 'EADDRINUSE' ? `port ${this.cfg.port} is already in use (is another overlay daemon running?)` : `cannot listen on port ${this.cfg.port}: ${err.message}`);
    }
    this.router.onTargetsChanged(() => {
      saveTargets(this.store, this.router.userTargets()).catch((e) => this.log.error('cannot persist targets', { error: String(e) }));
    });
    // Components register their gossip channels before the first connection, so it carries their full state.
    // A peer that dials us in the meantime (its redial after our restart) waits until then: were its
    // connection established now, its full state for the channels not yet registered would be dropped
    // here, and not sent again until its next anti-entropy round (up to 36 s): no FDB entries, no
    // WireGuard peer for it until then.
    for (const c of this.components) await c.start();
    this.router.open();
    this.router.connect(targets);
    await this.serveApi();
    writeFileSync(pidFile(this.cfg.dataDir), `${process.pid}\n`);
    this.log.info('daemon ready', { name: this.router.name, nickname: this.router.nickname, apiSocket: this.cfg.apiSocket, httpAddr: this.cfg.httpAddr });
  }

  /** Resolves when the daemon has fully stopped. */
  waitUntilStopped(): Promise<void> {
    return this.done;
  }

  get wasReset(): boolean {
    return this.resetRequested;
  }

  status(): DaemonStatus {
    return {
      version: VERSION,
      protocol: { name: PROTOCOL_NAME, minVersion: PROTOCOL_MIN_VERSION, maxVersion: PROTOCOL_MAX_VERSION },
      name: this.router.name,
      nickname: this.router.nickname,
      uid: this.router.uid,
      port: this.cfg.port,
      encryption: this.cfg.password !== undefined,
      discovery: this.cfg.discovery,
      connLimit: this.cfg.connLimit,
      targets: this.router.targets(),
      connections: this.router.connections(),
      peers: this.router.topology(),
      sections: this.components.map((c) => c.status?.()).filter((x) => x !== undefined),
    };
  }

  private buildApi(): ApiRouter {
    const api = new ApiRouter();
    const view = (fmt: (s: DaemonStatus) => string, pick: (s: DaemonStatus) => unknown) => ({ wantsJson }: { wantsJson: boolean }) => {
      const s = this.status();
      return wantsJson ? { json: pick(s) } : { text: fmt(s) };
    };
    api.add('GET', '/version', () => ({ json: { version: VERSION, protocol: PROTOCOL_NAME, minVersion: PROTOCOL_MIN_VERSION, maxVersion: PROTOCOL_MAX_VERSION } }));
    api.add('GET', '/status', view(formatSummary, (s) => s));
    api.add('GET', '/status/peers', view(formatPeers, (s) => s.peers));
    api.add('GET', '/status/connections', view(formatConnections, (s) => ({ connections: s.connections, targets: s.targets })));
    api.add('GET', '/status/targets', view(formatTargets, (s) => s.targets));
    // The one thing to attach to a bug report: every layer's whole state.
    api.add('GET', '/report', async () => {
      const layers: Record<string, unknown> = {};
      for (const c of this.components) layers[c.name] = c.report ? await c.report() : c.statusJson?.();
      return { json: { generatedAt: new Date().toISOString(), status: this.status(), ...layers } };
    });
    api.add('POST', '/connect', ({ body }) => {
      const targets = stringList(body, 'targets');
      try {
        this.router.connect(targets, { replace: (body as { replace?: unknown }).replace === true });
      } catch (e) {
        throw new ApiError(400, (e as Error).message);
      }
      return { json: { targets: this.router.userTargets() } };
    });
    api.add('POST', '/forget', ({ body }) => {
      try {
        this.router.forget(stringList(body, 'targets'));
      } catch (e) {
        throw new ApiError(400, (e as Error).message);
      }
      return { json: { targets: this.router.userTargets() } };
    });
    api.add('GET', '/metrics', () => {
      const fams = [buildInfo(VERSION), ...processMetrics(), ...meshMetrics(this.status(), this.router.counters), ...this.components.flatMap((c) => c.metrics?.() ?? [])];
      return { text: renderMetrics(fams), contentType: 'text/plain; version=0.0.4' };
    });
    api.add('POST', '/stop', () => {
      setImmediate(() => void this.stop('stop requested through the API'));
      return { json: { stopping: true } };
    });
    api.add('POST', '/reset', () => {
      this.resetRequested = true;
      setImmediate(() => void this.stop('reset requested through the API'));
      return { json: { resetting: true } };
    });
    for (const c of this.components) c.routes?.(api);
    return api;
  }

  private async serveApi(): Promise<void> {
    const api = this.buildApi();
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void api.handle(req, res);
    mkdirSync(dirname(this.cfg.apiSocket), { recursive: true, mode: 0o755 });
    try {
      unlinkSync(this.cfg.apiSocket); // a stale socket from a daemon that died; the store lock proves none is running
    } catch {
      /* none */
    }
    const unix = http.createServer(handler);
    await listen(unix, { path: this.cfg.apiSocket }, `the API socket ${this.cfg.apiSocket}`);
    chmodSync(this.cfg.apiSocket, 0o600);
    this.servers.push(unix);
    const { host, port } = parseHttpAddr(this.cfg.httpAddr);
    const tcp = http.createServer(handler);
    await listen(tcp, { host, port }, `the HTTP API address ${this.cfg.httpAddr}`);
    this.servers.push(tcp);
  }

  async stop(why: string): Promise<void> {
    this.stopping ??= this.shutdown(why);
    return this.stopping;
  }

  private async shutdown(why: string): Promise<void> {
    this.log.info('daemon stopping', { reason: why });
    const reset = this.resetRequested;
    for (const c of [...this.components].reverse()) {
      try {
        if (reset) await c.reset?.();
        await c.stop();
      } catch (e) {
        this.log.error('component failed to stop cleanly', { component: c.name, error: String(e) });
      }
    }
    await this.router.stop();
    for (const s of this.servers) {
      s.closeAllConnections?.();
      await new Promise<void>((r) => s.close(() => r()));
    }
    await this.store.close();
    rmSync(this.cfg.apiSocket, { force: true });
    rmSync(pidFile(this.cfg.dataDir), { force: true });
    if (reset) wipeState(this.cfg.dataDir);
    this.log.info(reset ? 'daemon reset: state removed' : 'daemon stopped');
    this.resolveDone();
  }
}

/** Remove everything the daemon keeps on disk, but not the log (it explains what happened). */
export function wipeState(dataDir: string): void {
  rmSync(join(dataDir, 'db'), { recursive: true, force: true });
  rmSync(pidFile(dataDir), { force: true });
}

function listen(server: http.Server, opts: { path: string } | { host: string; port: number }, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${what}: ${e.code === 'EADDRINUSE' ? 'already in use' : e.message}`)));
    server.listen(opts, () => resolve());
  });
}
