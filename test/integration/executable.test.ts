/**
 * The `overlay` executable stands alone: run where the checkout's
 * node_modules cannot be seen (an empty tmpfs over it, in a private mount
 * namespace), its embedded classic-level stores and reads the peer's state,
 * and its data path probe (libc raw socket, not the raw-socket addon) gets
 * MTU-sized echo replies from the other host, with a real round-trip time.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { lintMetricFamily, parseExposition } from '../../src/api/metric-lint.js';
import { cleanupDaemons, daemonHost, executablePath, ipamReady, statusJson, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

const ROOT = resolve(__dirname, '../..');

describe('the overlay executable without node_modules', () => {
  let lab: Lab;
  let d: DaemonHost[] = [];
  let holder: ResultPromise | undefined;
  /** A namespace to attach, made before the private mount namespace so that its nsfs bind mount is seen inside. */
  let attachNs = '';
  const inMount = (d: DaemonHost, args: string[]) =>
    execa('nsenter', ['-t', String(holder!.pid), '-m', 'ip', 'netns', 'exec', d.host.ns, executablePath(), ...args], { env: d.env, reject: false, timeout: 60_000 });

  beforeAll(async () => {
    expect(existsSync(executablePath()), 'npm run build makes dist/overlay').toBe(true);
    lab = await Lab.create({ hosts: 2, label: 'exe' });
    d = [1, 2].map((i) => daemonHost(lab, i));
    attachNs = await lab.addNamespace('c1');
    holder = execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=1m tmpfs ${join(ROOT, 'node_modules')} && echo mounted && exec sleep 600`]);
    await new Promise<void>((done) => holder!.stdout!.on('data', (b: Buffer) => b.toString().includes('mounted') && done()));
    const hidden = await execa('nsenter', ['-t', String(holder.pid), '-m', 'ls', '-A', join(ROOT, 'node_modules')]);
    expect(hidden.stdout).toBe('');
  });
  afterAll(async () => {
    await cleanupDaemons(d);
    if (holder?.pid) process.kill(holder.pid, 'SIGKILL');
    await holder?.catch(() => undefined);
    await lab?.destroy();
  });

  it('attach prints what it waits for while IPAM has no consensus, then the reason it gave up', async () => {
    const r1 = await inMount(d[0]!, ['launch', '--nickname', 'h1', '--ipalloc-init', 'consensus=2', '--ipalloc-wait', '4']);
    expect(r1.exitCode, r1.stderr).toBe(0);
    const a = await inMount(d[0]!, ['attach', attachNs]);
    expect(a.exitCode).toBe(1);
    expect(a.stderr).toMatch(/^overlay: waiting for IPAM consensus: 1 of 2 peers$/m);
    expect((await inMount(d[0]!, ['reset'])).exitCode).toBe(0);
  });

  it('launches, persists its name in level, and probes the path to its peer with a real RTT', async () => {
    const names: string[] = [];
    for (const [i, peer] of [[1, '198.51.100.2'], [2, '198.51.100.1']] as const) {
      // Refreshed every 10 s rather than 60: the second measurement below needs a second probe.
      const r = await inMount(d[i - 1]!, ['launch', '--nickname', `h${i}`, '--probe-seconds', '10', peer]);
      expect(r.exitCode, r.stderr).toBe(0);
      names.push(r.stdout.trim());
    }
    expect(await ipamReady(d)).toBe(true);
    // The probe's echo went out and came back through the libc raw socket.
    const rtt = async () => {
      const m = (await apiRequest(d[0]!.apiSocket, 'GET', '/metrics')).body;
      return Number(/^overlay_vxlan_path_rtt_seconds\{[^}]*\} (\S+)$/m.exec(m)?.[1] ?? NaN);
    };
    // The first probe may include neighbour discovery across a just-programmed FDB (1 s retransmits);
    // a later one measures the path itself.
    expect(await waitFor(async () => (await rtt()) > 0, 30_000, 500)).toBe(true);
    expect(await waitFor(async () => (await rtt()) < 0.5, 60_000, 500), `last RTT ${await rtt()} s`).toBe(true);
    // Every family of a live scrape follows the naming rules; build and process metrics are there.
    const scrape = (await apiRequest(d[0]!.apiSocket, 'GET', '/metrics')).body;
    expect(parseExposition(scrape).flatMap((f) => lintMetricFamily(f))).toEqual([]);
    expect(scrape).toMatch(/^overlay_build_info\{version="[^"]+",runtime="bun [^"]+"\} 1$/m);
    expect(scrape).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(scrape).toMatch(/^# TYPE overlay_ipam_allocation_duration_seconds histogram$/m);
    expect(scrape).toMatch(/^# TYPE overlay_cni_admit_duration_seconds histogram$/m);
    // The same, as text: one row per peer with the data path's state.
    const text = await inMount(d[0]!, ['status', 'dataplane']);
    expect(text.stdout).toMatch(/Service: Data plane/);
    expect(text.stdout).toMatch(/^PEER +STATE +UNDERLAY +DATA PATH$/m);
    expect(text.stdout).toMatch(/\(h2\) +reachable +198\.51\.100\.2 +vxlan mtu=\d+ ok$/m);
    // A restart reads the same peer name back from the database.
    expect((await inMount(d[0]!, ['stop'])).exitCode).toBe(0);
    const again = await inMount(d[0]!, ['launch', '--nickname', 'h1', '198.51.100.2']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(names[0]);
    expect((await statusJson<{ name: string }>(d[0]!)).name).toBe(names[0]);
  });
});
