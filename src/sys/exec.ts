/**
 * Running the kernel's command-line tools (iproute2, bridge, nft, sysctl) via
 * execa. Every failure becomes a SysError naming the command and quoting the
 * tool's own message, so callers can report it as is.
 */
import { execa, type ResultPromise } from 'execa';

/**
 * Processes this daemon has started, by program (the first argument after nsenter). The
 * data plane at rest must start none outside its slow safety pass; `/metrics` shows this.
 */
const started = new Map<string, number>();

function count(cmd: string): void {
  started.set(cmd, (started.get(cmd) ?? 0) + 1);
}

/** A copy of the counts, by program. */
export function processesStarted(): Map<string, number> {
  return new Map(started);
}

export class SysError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly exitCode: number | undefined,
  ) {
    super(`${command} failed: ${stderr.trim() || `exit code ${exitCode}`}`);
    this.name = 'SysError';
  }
}

export interface RunOptions {
  /** Run inside this network namespace (a path such as /run/netns/x or /proc/<pid>/ns/net). */
  netns?: string;
  input?: string;
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  failed: boolean;
}

/** Run a command and return what it printed, whatever its exit code (for tools run with -force). */
export async function runUnchecked(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  // nsenter, not `ip netns exec`: it takes any netns path and does not remount /sys.
  const [file, argv] = opts.netns ? ['nsenter', [`--net=${opts.netns}`, cmd, ...args]] : [cmd, args];
  count(cmd);
  // No stdin pipe unless there is input: in Bun, execa's stdin stream is about 40 % of a
  // spawn's CPU, and the safety pass spawns its reads once a minute on every host.
  const stdin = opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input };
  const r = await execa(file, argv, { ...stdin, reject: false, timeout: opts.timeoutMs ?? 30_000, stripFinalNewline: true });
  const failed = r.exitCode !== 0 || r.failed;
  return { stdout: String(r.stdout), stderr: String(r.stderr || (failed ? r.message : '') || ''), exitCode: r.exitCode, failed };
}

export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await runUnchecked(cmd, args, opts);
  if (r.failed) {
    const shown = [cmd, ...args].join(' ') + (opts.netns ? ` (in ${opts.netns})` : '');
    throw new SysError(shown, r.stderr, r.exitCode);
  }
  return r.stdout;
}

/** Parse a tool's -j output; empty output is an empty list. */
export function parseJsonList<T>(text: string): T[] {
  const t = text.trim();
  return t ? (JSON.parse(t) as T[]) : [];
}

/** Start a long-lived process (an event monitor) whose output the caller streams; counted like the rest. */
export function spawnStreaming(cmd: string, args: string[]): ResultPromise<{ reject: false; buffer: false; stdin: 'pipe' }> {
  count(cmd);
  return execa(cmd, args, { reject: false, buffer: false, stdin: 'pipe' });
}
