/**
 * The router daemon: opens the store, restores identity and targets, runs the
 * mesh router over TCP, serves the API (all of it on the unix socket, only its
 * read-only routes on loopback TCP, only /metrics on --metrics-addr), and
 * shuts everything down cleanly on SIGTERM, `overlay stop` or `overlay reset`.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { ApiError, ApiRouter, createApiServer, stringList, type ListenerScope } from '../api/http.js';
import { withoutSecrets } from '../api/redact.js';
import { buildInfo, childProcessMetrics, meshMetrics, processMetrics, renderMetrics } from '../api/metrics.js';
import { formatConnections, formatPeers, formatSummary, formatTargets, type DaemonStatus } from '../api/status.js';
import { SystemClock, type Clock } from '../lib/clock.js';
import { IpamComponent } from '../ipam/component.js';
import { DataplaneComponent } from '../dataplane/component.js';
import { formatCidr, type Cidr } from '../lib/ipv4.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION, PROTOCOL_NAME } from '../mesh/protocol.js';
import { derivePasswordKey, shortPasswordWarning, type PasswordKey } from '../mesh/password-key.js';
import { Router } from '../mesh/router.js';
import { resolveGroupId } from '../sys/group.js';
import { TcpTransport } from '../mesh/tcp-transport.js';
import { Store } from '../store/store.js';
import type { DaemonComponent } from './component.js';
import { parseHttpAddr, VERSION, type DaemonConfig } from './config.js';
import { cniStateDir as cniStateDirIn, pidFile } from './files.js';
import { loadOrCreateName, loadTargets, saveTargets } from './identity.js';
import { collectAfterSettling, runtimeCollector } from './settle-collect.js';

/** Crypto-strength randomness for the router (connection ids, jitter, fan-out). */
function cryptoRandom(): number {
  return randomInt(0, 2 ** 47) / 2 ** 47;
}

export class Daemon {
  readonly components: DaemonComponent[] = [];
  private servers: http.Server[] = [];
  private stopping?: Promise<void>;
  private stopCollecting: () => void = () => undefined;
  private resetRequested = false;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  private constructor(
    readonly cfg: DaemonConfig,
    readonly store: Store,
    readonly router: Router,
    readonly log: Logger,
    private readonly clock: Clock,
    private readonly apiGid?: number,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /**
   * `kdf` is how the password becomes its key; only the security benchmark hands in
   * another (the old derivation, as its baseline).
   */
  static async start(
    cfg: DaemonConfig,
    log = createLogger({ level: cfg.logLevel }),
    kdf: (password: string, clusterName: string) => Promise<PasswordKey> = derivePasswordKey,
  ): Promise<Daemon> {
    // Checked before anything is touched: a typo in the group must not leave a half-started daemon.
    const apiGid = cfg.apiGroup === undefined ? undefined : await resolveGroupId(cfg.apiGroup);
    mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
    chmodSync(cfg.dataDir, 0o700);
    const store = await Store.open(cfg.dataDir);
    try {
      const name = await loadOrCreateName(store, cfg.name);
      const clock = new SystemClock();
      const targets = [...new Set([...(await loadTargets(store)), ...cfg.targets])];
      const passwordKey = cfg.password === undefined ? undefined : await timedKdf(kdf, cfg.password, cfg.clusterName, log);
      const router = new Router({
        name,
        nickname: cfg.nickname,
        uid: randomBytes(8).toString('hex'),
        port: cfg.port,
        passwordKey,
        connLimit: cfg.connLimit,
        discovery: cfg.discovery,
        minProtocolVersion: cfg.minProtocolVersion,
        transport: new TcpTransport({ port: cfg.port }),
        clock,
        random: cryptoRandom,
        logger: log,
      });
      const daemon = new Daemon(cfg, store, router, log, clock, apiGid);
      const cniStateDir = cniStateDirIn(cfg.dataDir);
      // Every line names this peer, as the router's do.
      const peerLog = log.child({ peer: name });
      // An allocation answer carries the data plane's gateway and MTU: the daemon joins the two, neither sets the other.
      let dataplane: DataplaneComponent | undefined;
      const decorator = { gatewayFor: (s: Cidr) => dataplane?.gatewayFor(formatCidr(s)), mtu: () => dataplane?.overlayMtu() };
      const ipam = new IpamComponent(cfg.ipam, router, store, clock, cryptoRandom, peerLog.child({ component: 'ipam' }), cniStateDir, decorator);
      dataplane = new DataplaneComponent(cfg.dataplane, router, ipam, store, peerLog.child({ component: 'dataplane' }), cniStateDir);
      daemon.components.push(ipam, dataplane);
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
    // The garbage of a join, or of containers attached across the cluster, is given back once the mesh is quiet again.
    const anyChange = (cb: () => void) => {
      const stops = [this.router.onPeersChanged(cb), this.router.onGossipChanged(cb)];
      return () => stops.forEach((stop) => stop());
    };
    this.stopCollecting = collectAfterSettling(anyChange, this.clock, runtimeCollector());
    this.router.open();
    this.router.connect(targets);
    await this.serveApi();
    writeFileSync(pidFile(this.cfg.dataDir), `${process.pid}\n`);
    this.log.info('daemon ready', {
      name: this.router.name,
      nickname: this.router.nickname,
      apiSocket: this.cfg.apiSocket,
      ...(this.cfg.apiGroup ? { apiGroup: this.cfg.apiGroup } : {}),
      httpAddr: this.cfg.httpAddr,
      ...(this.cfg.metricsAddr ? { metricsAddr: this.cfg.metricsAddr } : {}),
    });
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
      clusterName: this.cfg.clusterName,
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
    // Cheap whatever the mesh's size (no topology is built): `launch` reads the name from here.
    api.add('GET', '/version', 'read', () => ({ json: { version: VERSION, protocol: PROTOCOL_NAME, minVersion: PROTOCOL_MIN_VERSION, maxVersion: PROTOCOL_MAX_VERSION, name: this.router.name } }));
    api.add('GET', '/status', 'read', view(formatSummary, (s) => s));
    api.add('GET', '/status/peers', 'read', view(formatPeers, (s) => s.peers));
    api.add('GET', '/status/connections', 'read', view(formatConnections, (s) => ({ connections: s.connections, targets: s.targets })));
    api.add('GET', '/status/targets', 'read', view(formatTargets, (s) => s.targets));
    // The one thing to attach to a bug report: every layer's whole state, but never a secret (it is read-only, so on TCP too).
    api.add('GET', '/report', 'read', async () => {
      const layers: Record<string, unknown> = {};
      for (const c of this.components) layers[c.name] = c.report ? await c.report() : c.statusJson?.();
      return { json: withoutSecrets({ generatedAt: new Date().toISOString(), status: this.status(), ...layers }) };
    });
    api.add('POST', '/connect', 'mutate', ({ body }) => {
      const targets = stringList(body, 'targets');
      try {
        this.router.connect(targets, { replace: (body as { replace?: unknown }).replace === true });
      } catch (e) {
        throw new ApiError(400, (e as Error).message);
      }
      return { json: { targets: this.router.userTargets() } };
    });
    api.add('POST', '/forget', 'mutate', ({ body }) => {
      try {
        this.router.forget(stringList(body, 'targets'));
      } catch (e) {
        throw new ApiError(400, (e as Error).message);
      }
      return { json: { targets: this.router.userTargets() } };
    });
    api.add('GET', '/metrics', 'read', () => {
      const fams = [buildInfo(VERSION), ...processMetrics(), childProcessMetrics(), ...meshMetrics(this.status(), this.router.counters), ...this.components.flatMap((c) => c.metrics?.() ?? [])];
      return { text: renderMetrics(fams), contentType: 'text/plain; version=0.0.4' };
    });
    api.add('POST', '/stop', 'mutate', () => {
      setImmediate(() => void this.stop('stop requested through the API'));
      return { json: { stopping: true } };
    });
    api.add('POST', '/reset', 'mutate', () => {
      this.resetRequested = true;
      setImmediate(() => void this.stop('reset requested through the API'));
      return { json: { resetting: true } };
    });
    for (const c of this.components) c.routes?.(api);
    return api;
  }

  /**
   * Who may change the daemon is decided by the socket's owner, group and mode
   * (root, or root and --api-group); loopback TCP reaches every local user, so
   * it serves reads only, and --metrics-addr only /metrics.
   */
  private async serveApi(): Promise<void> {
    const api = this.buildApi();
    const socket = this.cfg.apiSocket;
    const socketHint = `the API socket ${socket}`;
    mkdirSync(dirname(socket), { recursive: true, mode: 0o755 });
    try {
      unlinkSync(socket); // a stale socket from a daemon that died; the store lock proves none is running
    } catch {
      /* none */
    }
    const unix = this.server(api, 'all', socketHint);
    // Created with no access for anyone, so there is no moment at which another user could connect.
    const umask = process.umask(0o177);
    try {
      await listen(unix, { path: socket }, socketHint);
    } finally {
      process.umask(umask);
    }
    if (this.apiGid !== undefined) {
      chownSync(socket, process.getuid?.() ?? 0, this.apiGid);
      chmodSync(socket, 0o660);
    } else chmodSync(socket, 0o600);
    const tcp = this.server(api, 'read-only', socketHint);
    await listen(tcp, parseHttpAddr(this.cfg.httpAddr), `the HTTP API address ${this.cfg.httpAddr}`);
    if (this.cfg.metricsAddr !== undefined) {
      const metrics = this.server(api, 'metrics', socketHint);
      await listen(metrics, parseHttpAddr(this.cfg.metricsAddr, 'metrics-addr'), `the metrics address ${this.cfg.metricsAddr}`);
    }
  }

  private server(api: ApiRouter, scope: ListenerScope, socketHint: string): http.Server {
    const s = createApiServer(api.listener(scope, socketHint));
    this.servers.push(s);
    return s;
  }

  async stop(why: string): Promise<void> {
    this.stopping ??= this.shutdown(why);
    return this.stopping;
  }

  private async shutdown(why: string): Promise<void> {
    this.log.info('daemon stopping', { reason: why });
    this.stopCollecting();
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

/** Derive the password key once for the whole process, and say what it cost and whether the password is weak. */
async function timedKdf(kdf: (password: string, clusterName: string) => Promise<PasswordKey>, password: string, clusterName: string, log: Logger): Promise<PasswordKey> {
  const warning = shortPasswordWarning(password);
  if (warning) log.warn(warning);
  const t0 = performance.now();
  const key = await kdf(password, clusterName);
  log.info('password key derived', { clusterName, ms: Math.round(performance.now() - t0) });
  return key;
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
