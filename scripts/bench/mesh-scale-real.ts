/**
 * The real half of `npm run bench scale`: N daemons in namespaces (10, 30,
 * 60, 100), launched in parallel, each naming up to 3 earlier hosts, with
 * `--ipalloc-init consensus=N`. Measured from the last `launch` returning:
 * full topology on every host, every other peer's VXLAN path verified by each
 * host's own probe, IPAM ready everywhere; after settling, RSS, CPU and gossip
 * bytes sent per daemon per minute (and IPAM's share, where the build counts it); after a kill -9, the time until every
 * other host has removed the dead peer, and its FDB entries. The daemons are
 * asked over their API sockets, not through a CLI process per question.
 * Baselines in the same run: an idle bare Node process's RSS, and the
 * smallest size's numbers for the ratios.
 *
 * The kernel's neighbour tables (global) overflow at about 40 hosts on one
 * switch; this lab raises them and restores them afterwards
 * (scripts/lab/neighbour-tables.ts).
 */
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { apiRequest } from '../../src/api/client.js';
import { DATAPLANE_DEFAULTS } from '../../src/dataplane/config.js';
import { cleanupDaemons, daemonHost, daemonPid, killDaemon, launch, type DaemonHost } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { withNeighbourTablesRaised } from '../lab/neighbour-tables.js';
import { median, ratio, rssMb } from './measure.js';

/** One API call to a daemon, straight over its socket (a CLI process per call would load the machine more than the daemons do). */
async function api<T>(d: DaemonHost, path: string): Promise<T> {
  const r = await apiRequest(d.apiSocket, 'GET', path, undefined, { timeoutMs: 10_000 });
  if (r.status !== 200) throw new Error(`${path} on h${d.host.index}: HTTP ${r.status}`);
  return path === '/metrics' ? (r.body as T) : r.json<T>();
}

/**
 * A daemon's /metrics, shared by the checks polled together in one round: the three
 * conditions watched at once ask each daemon once per round, for a few KB of text
 * (at 100 hosts /status/peers is ~800 KB of JSON per daemon, and serialising it for
 * three pollers loaded the daemons while they were being timed).
 */
const scrapes = new Map<DaemonHost, { at: number; text: Promise<string> }>();
function metricsOf(d: DaemonHost): Promise<string> {
  const last = scrapes.get(d);
  if (last && performance.now() - last.at < 250) return last.text;
  const text = api<string>(d, '/metrics');
  scrapes.set(d, { at: performance.now(), text });
  return text;
}
const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

/** Gossip bytes sent, in all and IPAM's own (undefined from a build without per-channel counters). */
async function gossipBytesSent(d: DaemonHost): Promise<{ all: number; ipam?: number }> {
  const text = await api<string>(d, '/metrics');
  const all = gauge(text, 'overlay_gossip_sent_bytes_total');
  if (Number.isNaN(all)) throw new Error(`no overlay_gossip_sent_bytes_total on ${d.host.ns}'s /metrics`);
  const ipam = /^overlay_gossip_channel_sent_bytes_total\{channel="ipam"\} (\d+)/m.exec(text);
  return { all, ...(ipam ? { ipam: Number(ipam[1]) } : {}) };
}

const loadAverage1m = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

/** User plus system CPU time of a process, in seconds (/proc/<pid>/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Exactly n peers in the topology, every one reachable (after a kill, n - 1: the dead one is gone). */
const seesAll = (n: number) => async (d: DaemonHost) => {
  const m = await metricsOf(d);
  return gauge(m, 'overlay_peers') === n && gauge(m, 'overlay_reachable_peers') === n;
};
const ipamReady = async (d: DaemonHost) => gauge(await metricsOf(d), 'overlay_ipam_ready') === 1;
/** Every other peer's VXLAN path answered the daemon's own full-MTU probe. */
const pathsVerified = (n: number) => async (d: DaemonHost) => ((await metricsOf(d)).match(/^overlay_vxlan_path_ok\{.*\} 1$/gm) ?? []).length >= n - 1;
/** No FDB entry on the host's VXLAN device still sends to the dead host's address. */
const fdbWithout = (ip: string) => async (d: DaemonHost) => {
  const r = await execa('bridge', ['-n', d.host.ns, '-j', 'fdb', 'show', 'dev', DATAPLANE_DEFAULTS.vxlanDev]);
  return !(JSON.parse(r.stdout || '[]') as { dst?: string }[]).some((e) => e.dst === ip);
};

/**
 * Poll every host until `check` holds on all of them at once; returns ms from `since`, or -1.
 * A host that passed is not asked again until all have passed, then all are asked once more
 * together (so the answer is "all at once", without loading settled daemons with questions).
 */
async function untilAll(hosts: DaemonHost[], check: (d: DaemonHost) => Promise<boolean>, since: number, timeoutMs: number, stepMs = 500): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let pending = hosts;
  while (Date.now() < deadline) {
    const ok = await Promise.all(pending.map((d) => check(d).catch(() => false)));
    pending = pending.filter((_, i) => !ok[i]);
    if (pending.length === 0) {
      const t = performance.now() - since;
      const again = await Promise.all(hosts.map((d) => check(d).catch(() => false)));
      if (again.every(Boolean)) return Math.round(t);
      pending = hosts.filter((_, i) => !again[i]);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return -1;
}

async function runSize(n: number, log: (s: string) => void): Promise<Record<string, number>> {
  const lab = await Lab.create({ hosts: n, label: `scale${n}` });
  const hosts = Array.from({ length: n }, (_, i) => daemonHost(lab, i + 1));
  try {
    const t0 = performance.now();
    const launchMs: number[] = [];
    await Promise.all(
      hosts.map(async (d, i) => {
        const earlier = [i - 1, i - 2, i - 3].filter((j) => j >= 0).map((j) => `198.51.100.${j + 1}`);
        const t = performance.now();
        const name = await launch(d, ['--ipalloc-init', `consensus=${n}`, ...earlier]);
        launchMs.push(performance.now() - t);
        return name;
      }),
    );
    const lastLaunch = performance.now();
    const loadAtLastLaunch = loadAverage1m();
    // The three conditions are watched together, each timed from the last launch.
    const [topologyMs, ipamMs, pathsMs] = await Promise.all([
      untilAll(hosts, seesAll(n), lastLaunch, 600_000),
      untilAll(hosts, ipamReady, lastLaunch, 600_000),
      untilAll(hosts, pathsVerified(n), lastLaunch, 600_000),
    ]);
    // CPU each daemon spent from its start until the mesh, IPAM and data paths were all there.
    const formingCpu = hosts.map((d) => cpuSeconds(daemonPid(d)!));
    log(`${n} hosts: launched in ${((lastLaunch - t0) / 1000).toFixed(1)} s; after the last launch: topology ${topologyMs} ms, IPAM ${ipamMs} ms, data paths ${pathsMs} ms`);
    await new Promise((r) => setTimeout(r, 15_000)); // settle
    const pids = hosts.map((d) => daemonPid(d)!);
    const b0 = await Promise.all(hosts.map(gossipBytesSent));
    const c0 = pids.map(cpuSeconds);
    await new Promise((r) => setTimeout(r, 60_000));
    const b1 = await Promise.all(hosts.map(gossipBytesSent));
    const cpuPct = pids.map((p, i) => ((cpuSeconds(p) - c0[i]!) / 60) * 100);
    const perMin = b1.map((b, i) => b.all - b0[i]!.all);
    const ipamPerMin = b1.every((b, i) => b.ipam !== undefined && b0[i]!.ipam !== undefined) ? b1.map((b, i) => b.ipam! - b0[i]!.ipam!) : undefined;
    const rss = pids.map(rssMb);
    // How much of it is the JS heap (undefined from a build without the gauge).
    const heap = (await Promise.all(hosts.map(async (d) => gauge(await metricsOf(d), 'overlay_js_heap_used_bytes') / 2 ** 20))).filter((x) => !Number.isNaN(x));
    const victim = hosts[Math.floor(n / 2)]!;
    const k0 = performance.now();
    await killDaemon(victim);
    const rest = hosts.filter((d) => d !== victim);
    const [removedMs, fdbMs] = await Promise.all([untilAll(rest, seesAll(n - 1), k0, 180_000), untilAll(rest, fdbWithout(victim.host.ip), k0, 180_000)]);
    return {
      hosts: n,
      launchAllS: +((lastLaunch - t0) / 1000).toFixed(1),
      launchMedianMs: Math.round(median(launchMs)),
      launchMaxMs: Math.round(Math.max(...launchMs)),
      loadAverageAtLastLaunch: loadAtLastLaunch,
      lastLaunchToTopologyMs: topologyMs,
      lastLaunchToPathsVerifiedMs: pathsMs,
      lastLaunchToIpamReadyMs: ipamMs,
      formingCpuSecondsMedian: +median(formingCpu).toFixed(2),
      formingCpuSecondsMax: +Math.max(...formingCpu).toFixed(2),
      rssMedianMb: +median(rss).toFixed(1),
      rssMaxMb: +Math.max(...rss).toFixed(1),
      ...(heap.length ? { jsHeapUsedMedianMb: +median(heap).toFixed(1) } : {}),
      cpuPercentMedian: +median(cpuPct).toFixed(2),
      cpuPercentMax: +Math.max(...cpuPct).toFixed(2),
      gossipBytesPerDaemonPerMinMedian: Math.round(median(perMin)),
      gossipBytesPerDaemonPerMinMax: Math.max(...perMin),
      ...(ipamPerMin ? { ipamGossipBytesPerDaemonPerMinMedian: Math.round(median(ipamPerMin)) } : {}),
      killToRemovedEverywhereMs: removedMs,
      killToFdbCleanEverywhereMs: fdbMs,
    };
  } finally {
    await cleanupDaemons(hosts);
    await lab.destroy();
  }
}

/** SCALE_REAL_HOSTS="10,30,60" picks the sizes. */
function sizesFrom(spec: string | undefined): number[] | undefined {
  if (!spec) return undefined;
  const sizes = spec.split(/[ ,]+/).filter(Boolean).map(Number);
  if (!sizes.every((n) => Number.isInteger(n) && n >= 2 && n <= 250)) throw new Error(`bad SCALE_REAL_HOSTS "${spec}": expected host counts from 2 to 250`);
  return sizes;
}

export async function benchMeshScaleReal(sizes = sizesFrom(process.env['SCALE_REAL_HOSTS']) ?? [10, 30, 60, 100], log = console.log): Promise<Record<string, number>[]> {
  const load = (await execa('cat', ['/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
  log(`load average before the run: ${load} (the numbers below are distorted by any other load)`);
  const bare = execa(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  await new Promise((r) => setTimeout(r, 1000));
  const bareRss = rssMb(bare.pid!);
  bare.kill();
  await bare.catch(() => undefined);
  return withNeighbourTablesRaised(async () => {
    const rows: Record<string, number>[] = [];
    for (const n of sizes) {
      // A size that fails (a launch refused, say) is reported as such; the other sizes still run.
      const row = await runSize(n, log).catch((e: Error) => {
        log(`${n} hosts failed: ${e.message}`);
        return { hosts: n, failed: 1 } as Record<string, number>;
      });
      if (row['failed']) {
        rows.push(row);
        continue;
      }
      const base = rows.find((r) => !r['failed']) ?? row;
      row['bareNodeRssMb'] = +bareRss.toFixed(1);
      row['rssVsBareNode'] = ratio(row['rssMedianMb']!, bareRss);
      row['gossipPerMinPerHostVs10Hosts'] = ratio(row['gossipBytesPerDaemonPerMinMedian']! / n, Math.max(1, base['gossipBytesPerDaemonPerMinMedian']!) / base['hosts']!);
      row['gossipPerMinVs10Hosts'] = ratio(row['gossipBytesPerDaemonPerMinMedian']!, Math.max(1, base['gossipBytesPerDaemonPerMinMedian']!));
      rows.push(row);
      log(JSON.stringify(row));
    }
    return rows;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv.slice(2).map(Number).filter(Boolean);
  benchMeshScaleReal(sizes.length ? sizes : undefined).then((r) => console.table(r));
}
