/**
 * The data plane at rest: N namespaced hosts, all idle, first with no
 * containers and then with 5 per host. Per daemon: processes started per
 * minute (counted with strace on a sample of daemons, so the baseline build
 * is measured the same way), CPU % of a core (utime+stime+cutime+cstime from
 * /proc/<pid>/stat), RSS; and the processes a remote host starts for one
 * container attached elsewhere. The baseline is another build of the CLI
 * (BENCH_REST_BASELINE_CLI: another build's dist/overlay executable, or its
 * dist/src/cli/main.js for Node) measured in the same run on the same lab
 * sizes; without it, the 3-host figure of this build. BENCH_REST_CLI runs this
 * build from a copy (so rebuilding meanwhile changes nothing). CPU is averaged
 * over the daemons strace does not watch (a traced daemon stops at every
 * system call, which costs it CPU). It is measured over two windows one after
 * the other, each one safety-pass period long: the first starts 10 s after the
 * last change (the mesh formed, the last container attached) and still holds
 * that change's tail (the collection after it, the paths it made probe again);
 * the second is rest proper, and is the figure held against the target.
 *
 * Sizes: BENCH_REST_HOSTS (default "10,20,50"). Above 20 hosts the kernel's
 * shared neighbour tables are raised for the run and restored after it, even
 * on failure (the only root-namespace change, and only here).
 */
import { execa, type ResultPromise } from 'execa';
import { readFileSync } from 'node:fs';
import { cleanupDaemons, daemonHost, daemonPid, launch, overlay, waitFor, statusJson, type DaemonHost } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { withNeighbourTablesRaised } from '../lab/neighbour-tables.js';
import { execArgv, holdsSafetyPass } from './exec-trace.js';
import { anonRssMb, ratio, rssMb } from './measure.js';

// One safety pass period (60 s): the pass's processes and CPU count once in every window, not by luck.
const WINDOW_S = Number(process.env['BENCH_REST_WINDOW_S'] ?? 60);
const SAMPLED = 3;
const CONTAINERS = 5;
const TICKS = 100; // USER_HZ

interface RestFigures {
  build: string;
  hosts: number;
  containersPerHost: number;
  processesPerDaemonPerMinute: number;
  /** The second window (see above). */
  cpuPercentPerDaemon: number;
  /** The first window: the minute after the change. */
  cpuFirstMinutePercentPerDaemon: number;
  rssMbPerDaemon: number;
  /** RSS without the executable's file pages (see anonRssMb): what differs between builds. */
  anonRssMbPerDaemon: number;
  processesAtRemotePerAdd?: number;
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // Fields 14-17 (utime stime cutime cstime), counted from after "(comm)", which is field 3.
  return [11, 12, 13, 14].reduce((a, i) => a + Number(f[i]), 0);
}

/** The programs a process and its children exec for as long as this runs (strace -f): one line per execve, from its argv. */
function straceExecs(pid: number): { stop: () => Promise<string[]> } {
  const p: ResultPromise = execa('strace', ['-f', '-qq', '-z', '-s', '64', '-e', 'trace=execve', '-e', 'signal=none', '-p', String(pid)], { reject: false, all: true });
  return {
    stop: async () => {
      p.kill('SIGINT');
      const r = await p;
      return String(r.all ?? '')
        .split('\n')
        .filter((l) => l.includes('execve(') && !l.includes('resumed'))
        .map(execArgv);
    },
  };
}

async function idleFigures(hosts: DaemonHost[], build: string, containersPerHost: number): Promise<RestFigures> {
  const pids = hosts.map((d) => daemonPid(d)!);
  const sample = [pids[0]!, pids[Math.floor(pids.length / 2)]!, pids[pids.length - 1]!].slice(0, SAMPLED);
  const tracers = sample.map(straceExecs);
  await new Promise((r) => setTimeout(r, 1000)); // strace attached
  // strace stops a traced daemon at every system call, which costs it CPU: the CPU figure is of the others.
  const untraced = (_: unknown, i: number) => pids.length <= SAMPLED || !sample.includes(pids[i]!);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const window = async () => {
    const t0 = performance.now();
    const before = pids.map(cpuTicks);
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const after = pids.map(cpuTicks);
    const secs = (performance.now() - t0) / 1000;
    return { secs, cpuPercent: avg(after.map((a, i) => (a - before[i]!) / TICKS / secs).filter(untraced)) * 100 };
  };
  const first = await window();
  const rest = await window();
  const execs = (await Promise.all(tracers.map((t) => t.stop()))).map((e) => e.length);
  return {
    build,
    hosts: hosts.length,
    containersPerHost,
    processesPerDaemonPerMinute: +((avg(execs) * 60) / (first.secs + rest.secs)).toFixed(1),
    cpuPercentPerDaemon: +rest.cpuPercent.toFixed(2),
    cpuFirstMinutePercentPerDaemon: +first.cpuPercent.toFixed(2),
    rssMbPerDaemon: +avg(pids.map(rssMb)).toFixed(1),
    anonRssMbPerDaemon: +avg(pids.map(anonRssMb)).toFixed(1),
  };
}

async function attachOne(lab: Lab, d: DaemonHost, name: string): Promise<void> {
  const ns = await lab.addNamespace(name);
  const r = await overlay(d, ['attach', ns]);
  if (r.exitCode !== 0) throw new Error(`attach ${name} failed: ${r.stderr}`);
}

async function restAt(n: number, build: string, cli: string | undefined): Promise<RestFigures[]> {
  const env = process.env['OVERLAY_LAB_CLI'];
  if (cli) process.env['OVERLAY_LAB_CLI'] = cli;
  else delete process.env['OVERLAY_LAB_CLI'];
  const lab = await Lab.create({ hosts: n, label: 'benchrest' });
  const hosts = Array.from({ length: n }, (_, i) => daemonHost(lab, i + 1));
  try {
    for (const [i, d] of hosts.entries()) await launch(d, i === 0 ? [] : ['198.51.100.1']);
    const meshed = await waitFor(async () => {
      for (const d of [hosts[0]!, hosts[n - 1]!]) if ((await statusJson<unknown[]>(d, 'peers')).length !== n) return false;
      return (await statusJson<{ status: string }>(hosts[n - 1]!, 'ipam')).status === 'ready';
    }, 60_000 + n * 2000, 1000);
    if (!meshed) throw new Error(`${n} hosts did not form one mesh`);
    await new Promise((r) => setTimeout(r, 10_000)); // let start-up settle
    const out = [await idleFigures(hosts, build, 0)];
    // Work at a remote host for one container attached on host 1, in a window free of the remote's
    // safety pass (it runs once a minute and would add its reads): up to 3 tries, one container each.
    const remote = hosts[1]!;
    let perAdd = NaN;
    let attachedOnFirst = 0;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const t = straceExecs(daemonPid(remote)!);
      await new Promise((r) => setTimeout(r, 1000));
      await attachOne(lab, hosts[0]!, `c1x${++attachedOnFirst}`);
      await new Promise((r) => setTimeout(r, 5000));
      const execs = await t.stop();
      perAdd = execs.length;
      if (!holdsSafetyPass(execs)) break;
      console.log(`bench rest: the remote's safety pass fell in ADD window ${attempt} (${execs.join('; ')}); again`);
    }
    for (const [i, d] of hosts.entries()) for (let k = i === 0 ? attachedOnFirst + 1 : 1; k <= CONTAINERS; k++) await attachOne(lab, d, `c${i + 1}x${k}`);
    await new Promise((r) => setTimeout(r, 10_000));
    out.push({ ...(await idleFigures(hosts, build, CONTAINERS)), processesAtRemotePerAdd: perAdd });
    return out;
  } finally {
    await cleanupDaemons(hosts);
    await lab.destroy();
    if (env === undefined) delete process.env['OVERLAY_LAB_CLI'];
    else process.env['OVERLAY_LAB_CLI'] = env;
  }
}

export async function benchRest(): Promise<Record<string, number | string>[]> {
  const sizes = (process.env['BENCH_REST_HOSTS'] ?? '10,20,50').split(',').map(Number);
  const baselineCli = process.env['BENCH_REST_BASELINE_CLI'];
  // This build's CLI may be a copy, so a rebuild during a long run does not change what is measured.
  const thisCli = process.env['BENCH_REST_CLI'];
  const rows: RestFigures[] = [];
  const add = (r: RestFigures[]) => {
    for (const x of r) console.log(JSON.stringify(x)); // as measured: a long run that fails later keeps these
    rows.push(...r);
  };
  for (const n of sizes) {
    const atSize = async () => {
      add(await restAt(n, 'this', thisCli));
      if (baselineCli) add(await restAt(n, 'baseline', baselineCli));
    };
    // Above 20 hosts the kernel's shared neighbour tables overflow (scripts/lab/neighbour-tables.ts).
    if (n > 20) await withNeighbourTablesRaised(atSize);
    else await atSize();
  }
  if (!baselineCli) add(await restAt(3, 'this@3 hosts (baseline)', thisCli));
  // Ratios against the baseline of the same size and container count (or the 3-host figure).
  return rows.map((r) => {
    const base =
      rows.find((b) => b.build === 'baseline' && b.hosts === r.hosts && b.containersPerHost === r.containersPerHost) ??
      rows.find((b) => b.build.startsWith('this@3') && b.containersPerHost === r.containersPerHost);
    if (!base || base === r) return { ...r };
    return {
      ...r,
      processesRatio: base.processesPerDaemonPerMinute ? ratio(r.processesPerDaemonPerMinute, base.processesPerDaemonPerMinute) : NaN,
      cpuRatio: base.cpuPercentPerDaemon ? ratio(r.cpuPercentPerDaemon, base.cpuPercentPerDaemon) : NaN,
      cpuFirstMinuteRatio: base.cpuFirstMinutePercentPerDaemon ? ratio(r.cpuFirstMinutePercentPerDaemon, base.cpuFirstMinutePercentPerDaemon) : NaN,
      rssRatio: ratio(r.rssMbPerDaemon, base.rssMbPerDaemon),
      anonRssRatio: ratio(r.anonRssMbPerDaemon, base.anonRssMbPerDaemon),
    };
  });
}
