/**
 * Running the kernel's command-line tools (iproute2, bridge, nft, sysctl) via
 * execa. Every failure becomes a SysError naming the command and quoting the
 * tool's own message, so callers can report it as is.
 */
import { execa } from 'execa';

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

export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  // nsenter, not `ip netns exec`: it takes any netns path and does not remount /sys.
  const [file, argv] = opts.netns ? ['nsenter', [`--net=${opts.netns}`, cmd, ...args]] : [cmd, args];
  const r = await execa(file, argv, { input: opts.input, reject: false, timeout: opts.timeoutMs ?? 30_000, stripFinalNewline: true });
  if (r.exitCode !== 0 || r.failed) {
    const shown = [cmd, ...args].join(' ') + (opts.netns ? ` (in ${opts.netns})` : '');
    throw new SysError(shown, String(r.stderr || r.message || ''), r.exitCode);
  }
  return String(r.stdout);
}

/** Parse a tool's -j output; empty output is an empty list. */
export function parseJsonList<T>(text: string): T[] {
  const t = text.trim();
  return t ? (JSON.parse(t) as T[]) : [];
}
