/**
 * The real plugin binary (dist/cni/overlay) against real daemons: ADD puts a
 * namespace on the overlay through the data plane's attach path, the two
 * containers on different hosts ping each other, DEL takes one off and
 * releases its address.
 */
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, launch, statusJson, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

const PLUGIN = resolve(__dirname, '../../dist/cni/overlay');

interface CniResult {
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; interface: number }[];
}

describe('CNI plugin binary on real daemons', () => {
  let lab: Lab;
  let d: DaemonHost[];
  const ns: string[] = [];

  const cni = (host: DaemonHost, command: string, containerId: string, netns: string, socket = host.apiSocket) =>
    execa('ip', ['netns', 'exec', host.host.ns, PLUGIN], {
      reject: false,
      env: { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
      input: JSON.stringify({ cniVersion: '1.0.0', name: 'ovtest', type: 'overlay', daemonSocket: socket, stateDir: join(host.dataDir, 'cni') }),
    });

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, label: 'cni' });
    d = [1, 2].map((i) => daemonHost(lab, i));
    await launch(d[0]!, ['198.51.100.2']);
    await launch(d[1]!, ['198.51.100.1']);
    expect(await waitFor(async () => (await Promise.all(d.map((x) => statusJson<{ status: string }>(x, 'ipam')))).every((s) => s.status === 'ready'), 20_000)).toBe(true);
    for (const i of [1, 2]) ns.push(await lab.addNamespace(`k${i}`));
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('ADD attaches through the data plane; containers on two hosts ping; DEL detaches and releases', async () => {
    const results: CniResult[] = [];
    for (const i of [0, 1]) {
      const r = await cni(d[i]!, 'ADD', `ctr${i}`, ns[i]!);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      results.push(JSON.parse(r.stdout) as CniResult);
    }
    const sandbox = results[0]!.interfaces.find((x) => x.sandbox)!;
    expect(sandbox).toMatchObject({ name: 'eth0', sandbox: `/run/netns/${ns[0]}` });
    expect(sandbox.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const ip1 = results[1]!.ips[0]!.address.split('/')[0]!;
    expect(await waitFor(async () => (await lab.exec(ns[0]!, 'ping', ['-c', '1', '-W', '1', ip1], { reject: false })).exitCode === 0, 10_000, 200)).toBe(true);

    const del = await cni(d[1]!, 'DEL', 'ctr1', ns[1]!);
    expect(del.exitCode, del.stdout + del.stderr).toBe(0);
    expect((await lab.exec(ns[1]!, 'ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
    expect((await apiRequest(d[1]!.apiSocket, 'GET', '/ipam/lookup?owner=ctr1:eth0')).status).toBe(404);
    expect((await cni(d[1]!, 'DEL', 'ctr1', ns[1]!)).exitCode).toBe(0); // idempotent
  });

  it('with the daemon unreachable, ADD fails fast with code 11 and leaves nothing; DEL queues the release', async () => {
    const t0 = Date.now();
    const add = await cni(d[0]!, 'ADD', 'ctr-down', ns[1]!, '/nonexistent/overlay.sock');
    expect(add.exitCode).not.toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ cniVersion: '1.0.0', code: 11 });
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect((await lab.exec(ns[1]!, 'ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
    const del = await cni(d[0]!, 'DEL', 'ctr-down', ns[1]!, '/nonexistent/overlay.sock');
    expect(del.exitCode, del.stdout).toBe(0);
    expect((await lab.exec(d[0]!.host.ns, 'ls', [join(d[0]!.dataDir, 'cni', 'pending-release')])).stdout).toContain('ctr-down%3Aeth0.json');
  });
});
