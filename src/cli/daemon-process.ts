/**
 * Starting the daemon in the background and waiting for it: spawn
 * `overlay launch --foreground` detached, with its output in the log file and
 * the password passed through the environment (never argv, so `ps` does not
 * show it), then poll the API until it answers or the child dies.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { apiRequest } from '../api/client.js';
import { logFile, pidFile } from '../daemon/files.js';
import type { Location } from '../daemon/config.js';
import { selfCommand } from '../lib/self.js';
import { DAEMON_WAIT, waitForDaemon } from './daemon-wait.js';

export function readPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(dataDir), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The daemon's /version answer, or undefined while it does not answer. */
async function versionAnswer(socket: string): Promise<{ name: string } | undefined> {
  if (!existsSync(socket)) return undefined;
  try {
    const r = await apiRequest(socket, 'GET', '/version', undefined, { timeoutMs: 1000 });
    return r.status === 200 ? r.json<{ name: string }>() : undefined;
  } catch {
    return undefined;
  }
}

export async function apiAnswers(socket: string): Promise<boolean> {
  return (await versionAnswer(socket)) !== undefined;
}

/** The last meaningful log lines, rendered for a person. */
export function logTail(dataDir: string, lines = 5): string {
  let text = '';
  try {
    text = readFileSync(logFile(dataDir), 'utf8');
  } catch {
    return '(no log file)';
  }
  return text
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .map((l) => {
      try {
        const o = JSON.parse(l) as Record<string, unknown>;
        return `${o['level']}: ${o['msg']}${o['error'] ? `: ${o['error']}` : ''}`;
      } catch {
        return l;
      }
    })
    .join('\n');
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The daemon's runtime settings under Bun (the executable), read at process
 * start, so they go in its environment (packaging/overlay.service sets the
 * same). A setting already in the environment wins. Measured at rest in one
 * 50-host lab, daemons with and without each (README, "Idle CPU and memory"):
 * - JavaScriptCore's optimising tiers (DFG and FTL) are off: the daemon is
 *   event-driven and I/O-bound, native code does its parsing and crypto, and
 *   the baseline JIT is enough for the rest; the optimising compiler and its
 *   code cost about 4-5 MB of RSS per daemon and saved no CPU at rest.
 * - mimalloc's sweep of freed holes inside live pages runs at most every 10 s,
 *   not every 100 ms: Bun hands the main thread's heap to mimalloc's scavenger
 *   thread each time the event loop goes idle, and the scavenger walked every
 *   page of it up to ten times a second, as much CPU as the daemon's own work
 *   (0.13 % of a core at 50 peers, 0.007 % with this). The holes are still
 *   given back (turning the sweep off cost 11 MB of RSS); 10 s costs under 1 MB.
 */
export const DAEMON_RUNTIME_ENV: Readonly<Record<string, string>> = { BUN_JSC_useDFGJIT: '0', MIMALLOC_PURGE_HOLES_MIN_INTERVAL: '10000' };

/** User plus system CPU time a process has used, in clock ticks; undefined where /proc cannot tell. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return undefined;
  }
}

/** Starts the daemon and returns once its API answers (see daemon-wait.ts for how long it waits). */
export async function launchInBackground(
  loc: Location,
  foregroundArgs: string[],
  password: string | undefined,
  limits: { stallMs: number; timeoutMs: number } = DAEMON_WAIT,
): Promise<{ pid: number; name: string }> {
  mkdirSync(loc.dataDir, { recursive: true, mode: 0o700 });
  const out = openSync(logFile(loc.dataDir), 'a');
  const env: NodeJS.ProcessEnv = { ...DAEMON_RUNTIME_ENV, ...process.env, OVERLAY_DATA_DIR: loc.dataDir, OVERLAY_API_SOCKET: loc.apiSocket, OVERLAY_HTTP_ADDR: loc.httpAddr };
  if (password !== undefined) env['OVERLAY_PASSWORD'] = password;
  const self = selfCommand(['launch', '--foreground', ...foregroundArgs]);
  const child = spawn(self.file, self.args, {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  closeSync(out);
  let exited: number | null = null;
  child.once('exit', (code, signal) => (exited = code ?? (signal ? 128 : 1)));
  child.unref();
  const outcome = await waitForDaemon(
    // Its first answer carries its name: a daemon joining a large mesh may be slow to answer a second question.
    { exitCode: () => exited, answer: () => versionAnswer(loc.apiSocket), cpuUsed: () => cpuTicks(child.pid!) },
    { now: () => Date.now(), sleep },
    limits,
  );
  if ('answered' in outcome) return { pid: child.pid!, name: outcome.answered.name };
  if ('exited' in outcome) throw new Error(`the daemon exited during start-up (code ${outcome.exited}):\n${logTail(loc.dataDir)}`);
  const why = 'stalled' in outcome ? `and used no CPU for ${limits.stallMs / 1000} s` : `within ${limits.timeoutMs / 1000} s`;
  throw new Error(`the daemon did not answer on ${loc.apiSocket} ${why}:\n${logTail(loc.dataDir)}`);
}

/** Wait until a process is gone; true if it went within the time. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await sleep(50);
  }
  return !processAlive(pid);
}
