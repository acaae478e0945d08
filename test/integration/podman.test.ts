/**
 * podman end to end: Debian's podman with its CNI backend runs busybox
 * containers on two subnets (tenant-a, tenant-b) on two namespaced hosts,
 * through the plugin installed by `overlay setup-cni`. Within a subnet they
 * ping across hosts; across subnets they cannot; `podman inspect` shows the
 * address. podman runs under nsenter (not `ip netns exec`, which remounts
 * /sys), with runc and lowered ulimits, as this machine needs.
 */
import { execa } from 'execa';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

const SUBNETS = { a: '10.32.1.0/24', b: '10.32.2.0/24' } as const;

describe('podman with the CNI plugin', () => {
  let lab: Lab;
  let d: DaemonHost[];
  let rootfs: string;
  const started: { host: number; name: string }[] = [];

  const podman = (host: number, args: string[]) =>
    execa('nsenter', [`--net=/run/netns/${d[host - 1]!.host.ns}`, 'bash', '-c', 'ulimit -n 20000; ulimit -u 32768; exec podman "$@"', 'podman', ...args], {
      reject: false,
      timeout: 60_000,
      env: { CONTAINERS_CONF: `${d[host - 1]!.dataDir}/containers.conf` },
    });
  const name = (x: string) => `${lab.prefix}-${x}`;
  const ipOf = async (host: number, x: string, net: string) =>
    (await podman(host, ['inspect', '--format', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name(x)])).stdout.trim();
  const ping = async (host: number, x: string, ip: string) => (await podman(host, ['exec', name(x), 'ping', '-c', '1', '-W', '1', ip])).exitCode === 0;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, label: 'podman' });
    d = [1, 2].map((i) => daemonHost(lab, i));
    await launch(d[0]!, ['198.51.100.2']);
    await launch(d[1]!, ['198.51.100.1']);
    expect(await ipamReady(d)).toBe(true);
    // A busybox root filesystem (there is no registry here).
    rootfs = `/tmp/${lab.prefix}/rootfs`;
    for (const dir of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(`${rootfs}/${dir}`, { recursive: true });
    copyFileSync('/bin/busybox', `${rootfs}/bin/busybox`);
    for (const a of ['sh', 'sleep', 'ping', 'ip', 'httpd']) symlinkSync('busybox', `${rootfs}/bin/${a}`);
    mkdirSync(`${rootfs}/www`);
    writeFileSync(`${rootfs}/www/index.html`, 'hello from the overlay\n');
    for (const host of d) {
      const bin = `${host.dataDir}/cni-bin`;
      const conf = `${host.dataDir}/cni-conf`;
      for (const [tenant, subnet] of Object.entries(SUBNETS)) {
        const r = await overlay(host, ['setup-cni', '--bin-dir', bin, '--conf-dir', conf, '--name', `tenant-${tenant}`, '--subnet', subnet, ...(tenant === 'a' ? ['--portmap'] : [])]);
        expect(r.exitCode, r.stderr).toBe(0);
      }
      writeFileSync(
        `${host.dataDir}/containers.conf`,
        [
          '[containers]',
          'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
          '[network]',
          'network_backend = "cni"',
          `cni_plugin_dirs = ["${bin}", "/usr/lib/cni"]`,
          `network_config_dir = "${conf}"`,
          '[engine]',
          'runtime = "runc"',
          'cgroup_manager = "cgroupfs"',
          'events_logger = "file"',
          '',
        ].join('\n'),
      );
    }
    for (const [host, tenant] of [
      [1, 'a'],
      [2, 'a'],
      [1, 'b'],
      [2, 'b'],
    ] as const) {
      const r = await podman(host, ['run', '-d', '--name', name(`${tenant}${host}`), '--network', `tenant-${tenant}`, '--rootfs', rootfs, 'sleep', '600']);
      expect(r.exitCode, r.stderr).toBe(0);
      started.push({ host, name: name(`${tenant}${host}`) });
    }
  });
  afterAll(async () => {
    for (const s of started) await podman(s.host, ['rm', '-f', '-t', '0', s.name]);
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('podman inspect shows addresses from each network’s subnet', async () => {
    expect(await ipOf(1, 'a1', 'tenant-a')).toMatch(/^10\.32\.1\.\d+$/);
    expect(await ipOf(2, 'a2', 'tenant-a')).toMatch(/^10\.32\.1\.\d+$/);
    expect(await ipOf(2, 'b2', 'tenant-b')).toMatch(/^10\.32\.2\.\d+$/);
  });

  it('containers of one subnet ping across hosts; across subnets they cannot', async () => {
    const a2 = await ipOf(2, 'a2', 'tenant-a');
    const b1 = await ipOf(1, 'b1', 'tenant-b');
    const b2 = await ipOf(2, 'b2', 'tenant-b');
    expect(await waitFor(() => ping(1, 'a1', a2), 10_000, 200)).toBe(true);
    expect(await waitFor(() => ping(2, 'b2', b1), 10_000, 200)).toBe(true);
    expect(await ping(1, 'a1', b2)).toBe(false);
    expect(await ping(1, 'a1', b1)).toBe(false);
  });

  it('a published port works through the reference portmap chained after our plugin', async () => {
    // Nothing by hand: the network's first ADD made the host its gateway (exposed, with masquerade).
    const r = await podman(1, ['run', '-d', '--name', name('web'), '--network', 'tenant-a', '-p', '8080:80', '--rootfs', rootfs, 'httpd', '-f', '-p', '80', '-h', '/www']);
    expect(r.exitCode, r.stderr).toBe(0);
    started.push({ host: 1, name: name('web') });
    const get = async () => (await lab.exec(d[1]!.host.ns, 'curl', ['-s', '--max-time', '2', 'http://198.51.100.1:8080/'], { reject: false })).stdout;
    expect(await waitFor(async () => (await get()).includes('hello from the overlay'), 15_000, 300)).toBe(true);
  });

  it('podman rm releases the address through the plugin’s DEL', async () => {
    const ip = await ipOf(2, 'b2', 'tenant-b');
    const held = async () => (await apiRequest(d[1]!.apiSocket, 'GET', '/ipam/allocations')).json<{ address: string }[]>().some((a) => a.address === ip);
    expect(await held()).toBe(true);
    expect((await podman(2, ['rm', '-f', '-t', '0', name('b2')])).exitCode).toBe(0);
    expect(await held()).toBe(false);
  });
});
