/**
 * The data plane at rest starts no process: three hosts with a container each, the slow
 * safety pass set longer than the window, and the daemons' own process counters
 * (/metrics) read before and after 30 s of nothing happening. Then one container
 * attached on one host costs each other host exactly one process: the `bridge` batch
 * with its one new FDB entry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, statusJson, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

const WINDOW_MS = 30_000;

async function processesStarted(d: DaemonHost): Promise<number> {
  const r = await apiRequest(d.apiSocket, 'GET', '/metrics', undefined, { accept: 'text/plain' });
  return [...r.body.matchAll(/^overlay_processes_started_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

describe('data plane at rest', () => {
  let lab: Lab;
  let d: DaemonHost[];
  const macs: string[] = [];

  const vxlanFdb = async (i: number) => (await lab.exec(d[i]!.host.ns, 'bridge', ['fdb', 'show', 'dev', 'overlay-vx'])).stdout;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3, label: 'rest' });
    d = [1, 2, 3].map((i) => daemonHost(lab, i));
    for (const i of [1, 2, 3]) await launch(d[i - 1]!, ['--safety-pass-seconds', '600', ...[1, 2, 3].filter((j) => j !== i).map((j) => `198.51.100.${j}`)]);
    expect(await ipamReady(d)).toBe(true);
    for (const i of [0, 1, 2]) {
      const ns = await lab.addNamespace(`c${i + 1}`);
      const r = await overlay(d[i]!, ['attach', ns]);
      expect(r.exitCode, r.stderr).toBe(0);
      macs.push(JSON.parse((await lab.exec(ns, 'ip', ['-j', 'link', 'show', 'ethwe'])).stdout)[0].address);
    }
    // Settled: every host has every other host's container in its FDB and has verified the paths.
    const settled = await waitFor(async () => {
      for (const i of [0, 1, 2]) {
        const fdb = await vxlanFdb(i);
        if (!macs.every((m, j) => j === i || fdb.includes(m))) return false;
        const dp = await statusJson<{ probes: Record<string, { ok: boolean }> }>(d[i]!, 'dataplane');
        if (Object.values(dp.probes).filter((p) => p.ok).length !== 2) return false;
      }
      return true;
    }, 30_000, 500);
    expect(settled).toBe(true);
  }, 180_000);

  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('starts no process in 30 s at rest, on any host', async () => {
    const before = await Promise.all(d.map(processesStarted));
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const after = await Promise.all(d.map(processesStarted));
    expect(after.map((a, i) => a - before[i]!)).toEqual([0, 0, 0]);
  }, 60_000);

  it('one container attached on h1 costs each other host one process: one FDB write', async () => {
    const before = await Promise.all(d.map(processesStarted));
    const ns = await lab.addNamespace('c1b');
    expect((await overlay(d[0]!, ['attach', ns])).exitCode).toBe(0);
    const mac = JSON.parse((await lab.exec(ns, 'ip', ['-j', 'link', 'show', 'ethwe'])).stdout)[0].address as string;
    expect(await waitFor(async () => (await vxlanFdb(1)).includes(mac) && (await vxlanFdb(2)).includes(mac), 10_000, 200)).toBe(true);
    await new Promise((r) => setTimeout(r, 2_000)); // whatever would follow (echoes of the write) has had its chance
    const after = await Promise.all(d.map(processesStarted));
    expect([after[1]! - before[1]!, after[2]! - before[2]!]).toEqual([1, 1]);
  }, 60_000);
});
