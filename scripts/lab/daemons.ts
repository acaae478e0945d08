/**
 * Real overlay daemons on lab hosts: launch through the real CLI inside the
 * host's namespace, talk to each through its own API socket, and stop them by
 * the PID in their pid file. Shared by the demo, the integration tests and
 * the benchmarks.
 */
import { execa } from 'execa';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logFile } from '../../src/daemon/files.js';
import type { Lab, LabHost } from './lab.js';

/** The checkout's root, found from this file whether it runs from src (vitest) or dist. */
function root(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'scripts')}`) ? resolve(here, '../../..') : resolve(here, '../..');
}

/** dist/src/cli/main.js: the CLI and daemon as Node runs them. */
export function cliPath(): string {
  return join(root(), 'dist', 'src', 'cli', 'main.js');
}

/** dist/overlay: the same program as one Bun executable (what the package installs). */
export function executablePath(): string {
  return join(root(), 'dist', 'overlay');
}

/**
 * The command that runs `overlay` in the lab: the executable (the default, and
 * what CI runs) or, with OVERLAY_RUNTIME=node, `node dist/src/cli/main.js`.
 */
export function overlayCommand(): string[] {
  // A benchmark's baseline runs another build's CLI (e.g. main's) in the same lab code:
  // its dist/src/cli/main.js under this Node, or its dist/overlay executable.
  const other = process.env['OVERLAY_LAB_CLI'];
  if (other) return other.endsWith('.js') ? [process.execPath, other] : [other];
  const runtime = process.env['OVERLAY_RUNTIME'] ?? 'executable';
  if (runtime === 'node') return [process.execPath, cliPath()];
  if (runtime === 'executable') return [executablePath()];
  throw new Error(`OVERLAY_RUNTIME must be "executable" or "node", got "${runtime}"`);
}

export interface DaemonHost {
  host: LabHost;
  dataDir: string;
  apiSocket: string;
  env: Record<string, string>;
}

/** Per-host data dir and socket under /tmp/<lab prefix>/ (short: unix socket paths max 108 bytes). */
export function daemonHost(lab: Lab, index: number): DaemonHost {
  const host = lab.host(index);
  const dataDir = join('/tmp', lab.prefix, `h${index}`);
  mkdirSync(dataDir, { recursive: true });
  const apiSocket = join(dataDir, 'api.sock');
  // Unique per lab host: wireguard-go's control socket path is shared by all namespaces.
  const wireguardDev = `wg${/x([0-9a-f]+)/.exec(lab.prefix)?.[1] ?? ''}h${index}`;
  return { host, dataDir, apiSocket, env: { OVERLAY_DATA_DIR: dataDir, OVERLAY_API_SOCKET: apiSocket, OVERLAY_WIREGUARD_DEV: wireguardDev } };
}

/** Run `overlay <args>` as if on that host (inside its namespace). */
export function overlay(d: DaemonHost, args: string[], opts: { env?: Record<string, string>; reject?: boolean; timeoutMs?: number } = {}) {
  return execa('ip', ['netns', 'exec', d.host.ns, ...overlayCommand(), ...args], {
    env: { ...d.env, ...opts.env },
    reject: opts.reject ?? false,
    timeout: opts.timeoutMs ?? 60_000,
  });
}

export function daemonPid(d: DaemonHost): number | undefined {
  try {
    return Number(readFileSync(join(d.dataDir, 'overlay.pid'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** Launch in the background via the CLI; throws with the CLI's message on failure. */
export async function launch(d: DaemonHost, args: string[], env: Record<string, string> = {}): Promise<string> {
  // Past the CLI's own wait for a slow daemon (5 min at most), so that its message is what a failure shows.
  const r = await overlay(d, ['launch', '--nickname', `h${d.host.index}`, ...args], { env, timeoutMs: 330_000 });
  if (r.exitCode !== 0) throw new Error(`launch on h${d.host.index} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout.trim();
}

export async function statusJson<T = Record<string, unknown>>(d: DaemonHost, view = ''): Promise<T> {
  const r = await overlay(d, ['status', ...(view ? [view] : []), '--json']);
  if (r.exitCode !== 0) throw new Error(`status on h${d.host.index} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * Running, not a zombie: a daemon launched in the background is reparented to
 * PID 1, which on some machines (a VM's minimal init) reaps it seconds after it
 * died, and waiting for that would be counted as the daemon's time.
 */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** Kill a daemon we started, by PID (SIGKILL by default: the "kill -9" fault). */
export async function killDaemon(d: DaemonHost, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const pid = daemonPid(d);
  if (!pid || !alive(pid)) return;
  process.kill(pid, signal);
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
}

/**
 * Stop every daemon of these hosts (by PID) and remove their data dirs. With
 * OVERLAY_KEEP_LOGS=<dir> the daemon logs are copied there first, so a failure
 * seen only in CI can be read afterwards.
 */
export async function cleanupDaemons(hosts: DaemonHost[]): Promise<void> {
  for (const d of hosts) await killDaemon(d);
  // Deleting the device ends wireguard-go cleanly, which removes its control socket.
  for (const d of hosts) await execa('ip', ['-n', d.host.ns, 'link', 'del', d.env['OVERLAY_WIREGUARD_DEV']!], { reject: false });
  const keep = process.env['OVERLAY_KEEP_LOGS'];
  if (keep) {
    for (const d of hosts) {
      const target = join(keep, basename(dirname(d.dataDir)));
      mkdirSync(target, { recursive: true });
      if (existsSync(logFile(d.dataDir))) copyFileSync(logFile(d.dataDir), join(target, `h${d.host.index}.log`));
    }
  }
  for (const d of hosts) rmSync(d.dataDir, { recursive: true, force: true });
  // The lab's folder itself goes with the lab (Lab.destroy).
}

/** Poll until `check` passes or the time runs out; returns the last error otherwise. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return true;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return false;
}

/** Wait until IPAM on every one of these daemons says ready. */
/**
 * With every daemon frozen (SIGSTOP, by PID) and every nftables rule flushed on its host, run
 * `checks`: what the port filters alone hold. Then thaw them and wait until the first host's
 * isolation rules are back. The checks' failure is rethrown after the thaw.
 */
export async function withRulesFlushedAndDaemonsFrozen(lab: Lab, hosts: DaemonHost[], checks: () => Promise<void>): Promise<boolean> {
  const pids = hosts.map((x) => daemonPid(x)!);
  for (const pid of pids) process.kill(pid, 'SIGSTOP'); // nothing restores the rules meanwhile
  try {
    for (const x of hosts) {
      await lab.exec(x.host.ns, 'nft', ['flush', 'ruleset']);
      const left = (await lab.exec(x.host.ns, 'nft', ['list', 'ruleset'])).stdout.trim();
      if (left !== '') throw new Error(`nft flush ruleset left rules on ${x.host.ns}: ${left}`);
    }
    await checks();
  } finally {
    for (const pid of pids) process.kill(pid, 'SIGCONT');
  }
  const drops = async () => ((await lab.exec(hosts[0]!.host.ns, 'nft', ['list', 'table', 'bridge', 'overlay-isolation'], { reject: false })).stdout.match(/ drop$/gm) ?? []).length;
  return waitFor(async () => (await drops()) > 0, 10_000, 100);
}

export function ipamReady(hosts: DaemonHost[], timeoutMs = 20_000): Promise<boolean> {
  return waitFor(async () => (await Promise.all(hosts.map((x) => statusJson<{ status: string }>(x, 'ipam')))).every((s) => s.status === 'ready'), timeoutMs);
}

interface PeerView {
  name: string;
  connections: unknown[];
}

/** True when every daemon sees all `n` peers, each with n-1 connections. */
export async function fullMesh(hosts: DaemonHost[], n = hosts.length): Promise<boolean> {
  for (const d of hosts) {
    const peers = await statusJson<PeerView[]>(d, 'peers');
    if (peers.length !== n || peers.some((p) => p.connections.length !== n - 1)) return false;
  }
  return true;
}
