/**
 * IPAM on real daemons in namespaces:
 *  - launch → IPAM ready for 3 peers launched together (consensus), against
 *    launch → full mesh in the same runs (the floor consensus builds on);
 *  - allocation latency (p50/p99) and throughput over the API socket, against
 *    a no-op API call (GET /ipam/status) measured the same way;
 *  - daemon RSS holding 100k allocations, against the same daemon idle.
 */
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, daemonPid, launch, type DaemonHost } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { median, percentile, ratio, rssMb } from './measure.js';

async function untilOk(check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ready = (d: DaemonHost) => async () => (await apiRequest(d.apiSocket, 'GET', '/ipam/status', undefined, { timeoutMs: 2000 })).status === 200;
const meshed = (d: DaemonHost) => async () =>
  (await apiRequest(d.apiSocket, 'GET', '/status/peers?format=json', undefined, { timeoutMs: 2000 })).json<{ connections: unknown[] }[]>().every((p) => p.connections.length === 2);

/** Issue `n` calls with `concurrency` in flight; returns per-call latencies (ms) and the wall time. */
async function load(n: number, concurrency: number, call: (i: number) => Promise<void>): Promise<{ lat: number[]; wallMs: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await call(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { lat, wallMs: performance.now() - t0 };
}

export async function benchIpam(runs = 3): Promise<Record<string, number>> {
  const readyMs: number[] = [];
  const meshMs: number[] = [];
  for (let run = 0; run < runs; run++) {
    const lab = await Lab.create({ hosts: 3, label: 'benchipam' });
    const hosts = [1, 2, 3].map((i) => daemonHost(lab, i));
    try {
      const t0 = performance.now();
      await Promise.all(hosts.map((d, i) => launch(d, [1, 2, 3].filter((j) => j !== i + 1).map((j) => `198.51.100.${j}`))));
      const mesh = Promise.all(hosts.map((d) => untilOk(meshed(d)))).then(() => meshMs.push(performance.now() - t0));
      await Promise.all(hosts.map((d) => untilOk(ready(d))));
      readyMs.push(performance.now() - t0);
      await mesh;
    } finally {
      await cleanupDaemons(hosts);
      await lab.destroy();
    }
  }

  const lab = await Lab.create({ hosts: 1, label: 'benchalloc' });
  const d = daemonHost(lab, 1);
  try {
    await launch(d, ['--ipalloc-range', '10.32.0.0/12']);
    await untilOk(ready(d));
    await new Promise((r) => setTimeout(r, 2000));
    const pid = daemonPid(d)!;
    const idleRss = rssMb(pid);
    const noop = await load(10_000, 16, async () => {
      const r = await apiRequest(d.apiSocket, 'GET', '/ipam/status');
      if (r.status !== 200) throw new Error(r.body);
    });
    const allocCall = async (i: number) => {
      const r = await apiRequest(d.apiSocket, 'POST', '/ipam/allocate', { owner: `bench-${i}:eth0` });
      if (r.status !== 200) throw new Error(r.body);
    };
    const alloc = await load(10_000, 16, allocCall);
    await load(90_000, 32, (i) => allocCall(10_000 + i));
    await new Promise((r) => setTimeout(r, 2000));
    const fullRss = rssMb(pid);
    return {
      launchToIpamReadyMs: Math.round(median(readyMs)),
      launchToFullMeshMs: Math.round(median(meshMs)),
      ipamReadyVsMesh: ratio(median(readyMs), median(meshMs)),
      allocP50Ms: +percentile(alloc.lat, 50).toFixed(2),
      allocP99Ms: +percentile(alloc.lat, 99).toFixed(2),
      allocPerSecond: Math.round(10_000 / (alloc.wallMs / 1000)),
      noopApiP50Ms: +percentile(noop.lat, 50).toFixed(2),
      noopApiP99Ms: +percentile(noop.lat, 99).toFixed(2),
      noopApiPerSecond: Math.round(10_000 / (noop.wallMs / 1000)),
      allocVsNoopP50: ratio(percentile(alloc.lat, 50), percentile(noop.lat, 50)),
      allocVsNoopThroughput: ratio(10_000 / alloc.wallMs, 10_000 / noop.wallMs),
      idleRssMb: +idleRss.toFixed(1),
      rssWith100kAllocationsMb: +fullRss.toFixed(1),
      rss100kVsIdle: ratio(fullRss, idleRss),
    };
  } finally {
    await cleanupDaemons([d]);
    await lab.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchIpam().then((r) => console.log(JSON.stringify(r, null, 2)));
}
