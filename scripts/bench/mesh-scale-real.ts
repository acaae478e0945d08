/**
 * The real half of `npm run bench scale`: N daemons in namespaces (10, 30,
 * 60, 100), launched in parallel, each naming up to 3 earlier hosts, with
 * `--ipalloc-init consensus=N`. Measured from the last `launch` returning:
 * full topology on every host, IPAM ready everywhere; after settling, RSS and
 * gossip bytes sent per daemon per minute; after a kill -9, the time until
 * every other host has removed the dead peer. Baselines in the same run: an
 * idle bare Node process's RSS, and the 10-host numbers for the ratios.
 *
 * The kernel's neighbour tables (`net.ipv4/ipv6.neigh.default.gc_thresh1/2/3`,
 * global) overflow at about 40 hosts on one switch; this lab raises them and
 * restores the old values afterwards, whatever happens.
 */
import { writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { apiRequest } from '../../src/api/client.js';
import { getSysctl, setSysctl } from '../../src/sys/sysctl.js';
import { cleanupDaemons, daemonHost, daemonPid, killDaemon, launch, statusJson, waitFor, type DaemonHost } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { median, ratio, rssMb } from './measure.js';

const NEIGH_KEYS = ['ipv4', 'ipv6'].flatMap((f) => [1, 2, 3].map((i) => `net/${f}/neigh/default/gc_thresh${i}`));
const RAISED: Record<string, string> = { gc_thresh1: '8192', gc_thresh2: '32768', gc_thresh3: '65536' };

async function withNeighbourTablesRaised<T>(fn: () => Promise<T>): Promise<T> {
  const saved = new Map<string, string>();
  for (const k of NEIGH_KEYS) {
    const v = await getSysctl(k);
    if (v !== undefined) saved.set(k, v);
  }
  const restore = () => Promise.all([...saved].map(([k, v]) => setSysctl(k, v).catch(() => undefined)));
  // On a signal, restored synchronously, before anything else: the lab's own handler
  // (scripts/lab/lab.ts) removes the namespaces and then exits the process, and an
  // asynchronous restore could lose that race.
  const onSignal = () => {
    for (const [k, v] of saved) {
      try {
        writeFileSync(`/proc/sys/${k}`, v);
      } catch {
        // keep restoring the others
      }
    }
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const k of saved.keys()) await setSysctl(k, RAISED[k.slice(k.lastIndexOf('/') + 1)]!);
    return await fn();
  } finally {
    await restore();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

interface PeerView {
  name: string;
  reachable: boolean;
}

async function gossipBytesSent(d: DaemonHost): Promise<number> {
  const r = await apiRequest(d.apiSocket, 'GET', '/metrics', undefined, { timeoutMs: 10_000 });
  const m = /^overlay_gossip_sent_bytes_total (\d+)/m.exec(r.body);
  if (!m) throw new Error(`no overlay_gossip_sent_bytes_total on ${d.host.ns}'s /metrics`);
  return Number(m[1]);
}

async function everyoneSees(hosts: DaemonHost[], n: number, without?: string): Promise<boolean> {
  for (const d of hosts) {
    const peers = await statusJson<PeerView[]>(d, 'peers');
    if (peers.length !== n || peers.some((p) => !p.reachable || p.name === without)) return false;
  }
  return true;
}

async function runSize(n: number, log: (s: string) => void): Promise<Record<string, number>> {
  const lab = await Lab.create({ hosts: n, label: `scale${n}` });
  const hosts = Array.from({ length: n }, (_, i) => daemonHost(lab, i + 1));
  try {
    const t0 = performance.now();
    const names = await Promise.all(
      hosts.map((d, i) => {
        const earlier = [i - 1, i - 2, i - 3].filter((j) => j >= 0).map((j) => `198.51.100.${j + 1}`);
        return launch(d, ['--ipalloc-init', `consensus=${n}`, ...earlier]);
      }),
    );
    const lastLaunch = performance.now();
    const ok = await waitFor(() => everyoneSees(hosts, n), 600_000, 500);
    const topologyMs = ok ? performance.now() - lastLaunch : -1;
    const ipamOk = await waitFor(async () => (await Promise.all(hosts.map((x) => statusJson<{ status: string }>(x, 'ipam')))).every((s) => s.status === 'ready'), 600_000, 500);
    const ipamMs = ipamOk ? performance.now() - lastLaunch : -1;
    log(`${n} hosts: launched in ${((lastLaunch - t0) / 1000).toFixed(1)} s, topology ${topologyMs.toFixed(0)} ms, IPAM ${ipamMs.toFixed(0)} ms after the last launch`);
    await new Promise((r) => setTimeout(r, 15_000)); // settle
    const b0 = await Promise.all(hosts.map(gossipBytesSent));
    await new Promise((r) => setTimeout(r, 60_000));
    const b1 = await Promise.all(hosts.map(gossipBytesSent));
    const perMin = b1.map((b, i) => b - b0[i]!);
    const rss = hosts.map((d) => rssMb(daemonPid(d)!));
    const victim = hosts[Math.floor(n / 2)]!;
    const k0 = performance.now();
    await killDaemon(victim);
    const rest = hosts.filter((d) => d !== victim);
    const removed = await waitFor(() => everyoneSees(rest, n - 1, names[Math.floor(n / 2)]), 180_000, 250);
    return {
      hosts: n,
      launchAllS: +((lastLaunch - t0) / 1000).toFixed(1),
      lastLaunchToTopologyMs: Math.round(topologyMs),
      lastLaunchToIpamReadyMs: Math.round(ipamMs),
      rssMedianMb: +median(rss).toFixed(1),
      rssMaxMb: +Math.max(...rss).toFixed(1),
      gossipBytesPerDaemonPerMinMedian: Math.round(median(perMin)),
      gossipBytesPerDaemonPerMinMax: Math.max(...perMin),
      killToRemovedEverywhereMs: removed ? Math.round(performance.now() - k0) : -1,
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
      const row = await runSize(n, log);
      const base = rows[0] ?? row;
      row['bareNodeRssMb'] = +bareRss.toFixed(1);
      row['rssVsBareNode'] = ratio(row['rssMedianMb']!, bareRss);
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
