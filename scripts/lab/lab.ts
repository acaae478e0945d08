/**
 * The namespace lab: N "hosts" as network namespaces on one machine, joined by
 * a switch bridge that lives in its own lab namespace. Used by the demo, the
 * integration tests and the benchmarks alike.
 *
 * Safety: nothing here touches the root network namespace. Every namespace
 * name carries the creating PID ("ovlab<pid>x<rand>-..."), so a later run can
 * remove leftovers of runs whose process is gone, and never anyone else's.
 */
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const LAB_SUBNET = '198.51.100';
const LAB_RE = /^ovlab(\d+)x[0-9a-z]+-/;
/** A lab's folder, /tmp/<prefix>: the prefix carries a label only when the lab was given one. */
const LAB_FOLDER_RE = /^ovlab(\d+)x[0-9a-z]+(-[0-9a-z]*)?$/i;

export interface LabHost {
  /** 1-based host number; the host's address is 198.51.100.<index>. */
  index: number;
  ns: string;
  ip: string;
  /** The host's underlay interface inside its namespace. */
  dev: string;
  /** The switch port (in the switch namespace) this host hangs off. */
  switchPort: string;
}

export interface SpawnedProcess {
  pid: number;
  proc: ResultPromise;
  label: string;
}

async function ip(args: string[]): Promise<string> {
  const r = await execa('ip', args);
  return r.stdout;
}

/** Run a batch of `ip` commands in one process (one per line, like `ip -batch`). */
export async function ipBatch(ns: string | undefined, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const args = ns ? ['-n', ns, '-batch', '-'] : ['-batch', '-'];
  await execa('ip', args, { input: lines.join('\n') + '\n' });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function listNetns(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!.trim())
    .filter(Boolean);
}

/** Delete lab namespaces left behind by runs whose process no longer exists. */
export async function removeStaleLabs(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await listNetns()) {
    const m = LAB_RE.exec(ns);
    if (!m) continue;
    if (pidAlive(Number(m[1]))) continue;
    await killProcessesIn(ns);
    await execa('ip', ['netns', 'del', ns], { reject: false });
    removed.push(ns);
  }
  for (const name of readdirSync('/tmp')) {
    const m = LAB_FOLDER_RE.exec(name);
    if (m && !pidAlive(Number(m[1])) && removeLabFolder(name)) removed.push(join('/tmp', name));
  }
  return removed;
}

/**
 * A lab's own folder, /tmp/<prefix>: its hosts' data dirs, and what tests make
 * beside them (sockets, a container's root, a package's overlayfs). Removed
 * whole unless something is still mounted under it (a test's private mount
 * namespace is gone once its holder is killed; a mount visible here is not
 * ours to take away, so the folder stays). Returns whether it is gone.
 */
export function removeLabFolder(prefix: string): boolean {
  const dir = join('/tmp', prefix);
  if (!existsSync(dir)) return true;
  // /proc/self/mountinfo: the fifth field is the mount point (octal escapes for spaces, which lab paths never hold).
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => {
      const point = l.split(' ')[4];
      return point !== undefined && (point === dir || point.startsWith(`${dir}/`));
    });
  if (mounted) return false;
  rmSync(dir, { recursive: true, force: true });
  return true;
}

/**
 * Kill whatever still runs inside one of our lab namespaces (a daemon whose
 * test or demo died before its teardown). Only lab namespaces are ever passed
 * here, so these are processes a lab run started.
 */
export async function killProcessesIn(ns: string): Promise<void> {
  const r = await execa('ip', ['netns', 'pids', ns], { reject: false });
  for (const pid of r.stdout.split(/\s+/).map(Number).filter((p) => p > 1 && p !== process.pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export function newLabPrefix(label = ''): string {
  const rand = randomBytes(3).toString('hex');
  return `ovlab${process.pid}x${rand}${label ? '-' + label.replace(/[^a-z0-9]/gi, '').slice(0, 12) : ''}`;
}

export class Lab {
  readonly hosts: LabHost[] = [];
  readonly extraNamespaces: string[] = [];
  private readonly processes: SpawnedProcess[] = [];
  private destroyed = false;

  private constructor(
    readonly prefix: string,
    readonly switchNs: string,
  ) {}

  /** Build a lab of `hosts` namespaces on one switch. Always pair with destroy(). */
  static async create(opts: { hosts: number; label?: string; mtu?: number }): Promise<Lab> {
    await removeStaleLabs();
    const prefix = newLabPrefix(opts.label);
    const lab = new Lab(prefix, `${prefix}-sw`);
    activeLabs.add(lab);
    try {
      await ip(['netns', 'add', lab.switchNs]);
      await ipBatch(lab.switchNs, ['link set lo up', 'link add sw type bridge', 'link set sw up']);
      for (let i = 1; i <= opts.hosts; i++) await lab.addHost(i, opts.mtu);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  private async addHost(index: number, mtu?: number): Promise<LabHost> {
    const host: LabHost = {
      index,
      ns: `${this.prefix}-h${index}`,
      ip: `${LAB_SUBNET}.${index}`,
      dev: 'eth0',
      switchPort: `p${index}`,
    };
    await ip(['netns', 'add', host.ns]);
    this.hosts.push(host);
    const mtuArg = mtu ? ` mtu ${mtu}` : '';
    await ipBatch(this.switchNs, [
      `link add ${host.switchPort}${mtuArg} type veth peer name ${host.dev}${mtuArg} netns ${host.ns}`,
      `link set ${host.switchPort} master sw`,
      `link set ${host.switchPort} up`,
    ]);
    await ipBatch(host.ns, [
      'link set lo up',
      `addr add ${host.ip}/24 dev ${host.dev}`,
      `link set ${host.dev} up`,
    ]);
    return host;
  }

  host(index: number): LabHost {
    const h = this.hosts.find((x) => x.index === index);
    if (!h) throw new Error(`lab has no host ${index}`);
    return h;
  }

  /** A further namespace owned by this lab (a "container"), removed on destroy. */
  async addNamespace(suffix: string): Promise<string> {
    const ns = `${this.prefix}-${suffix}`;
    await ip(['netns', 'add', ns]);
    this.extraNamespaces.push(ns);
    await ipBatch(ns, ['link set lo up']);
    return ns;
  }

  /** Run a command inside a namespace and wait for it. */
  async exec(ns: string, cmd: string, args: string[], opts: { input?: string; reject?: boolean; timeoutMs?: number; env?: Record<string, string> } = {}) {
    return execa('ip', ['netns', 'exec', ns, cmd, ...args], {
      input: opts.input,
      reject: opts.reject ?? true,
      timeout: opts.timeoutMs ?? 60_000,
      env: opts.env,
    });
  }

  /**
   * Start a long-running process in a namespace. `ip netns exec` execs the
   * command in place, so the PID we track is the program's own PID.
   */
  spawn(ns: string, cmd: string, args: string[], opts: { label?: string; env?: Record<string, string>; stdoutFile?: string; stderrFile?: string } = {}): SpawnedProcess {
    const proc = execa('ip', ['netns', 'exec', ns, cmd, ...args], {
      env: opts.env,
      reject: false,
      stdin: 'ignore',
      stdout: opts.stdoutFile ? { file: opts.stdoutFile } : 'pipe',
      stderr: opts.stderrFile ? { file: opts.stderrFile } : 'pipe',
      buffer: !(opts.stdoutFile || opts.stderrFile),
    });
    if (proc.pid === undefined) throw new Error(`failed to start ${cmd} in ${ns}`);
    const sp: SpawnedProcess = { pid: proc.pid, proc, label: opts.label ?? cmd };
    this.processes.push(sp);
    return sp;
  }

  /** Stop one process this lab started, by PID: SIGTERM, then SIGKILL after a grace period. */
  async stopProcess(sp: SpawnedProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    const idx = this.processes.indexOf(sp);
    if (idx >= 0) this.processes.splice(idx, 1);
    if (sp.proc.exitCode !== null && sp.proc.exitCode !== undefined) return;
    try {
      process.kill(sp.pid, signal);
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(sp.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, graceMs);
    await sp.proc.catch(() => undefined);
    clearTimeout(timer);
  }

  /** Set the host's underlay link down or up (a partition or a cable pull). */
  async setLink(hostIndex: number, up: boolean): Promise<void> {
    const h = this.host(hostIndex);
    await ipBatch(this.switchNs, [`link set ${h.switchPort} ${up ? 'up' : 'down'}`]);
  }

  /** Remove everything this lab made: its processes (by PID), then its namespaces. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    activeLabs.delete(this);
    for (const sp of [...this.processes].reverse()) await this.stopProcess(sp, 'SIGKILL', 0);
    const all = [...this.extraNamespaces, ...this.hosts.map((h) => h.ns), this.switchNs];
    for (const ns of all) {
      await killProcessesIn(ns); // daemons that detached from the processes we tracked
      await execa('ip', ['netns', 'del', ns], { reject: false });
    }
    removeLabFolder(this.prefix);
  }
}

/** Labs still alive; torn down if the process is interrupted. */
const activeLabs = new Set<Lab>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const cleanup = async () => {
    for (const lab of [...activeLabs]) await lab.destroy().catch(() => undefined);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void cleanup().finally(() => process.exit(130));
    });
  }
}
hookExit();

export function netnsPath(ns: string): string {
  return `/run/netns/${ns}`;
}

export function netnsExists(ns: string): boolean {
  return existsSync(netnsPath(ns));
}
