/**
 * Subnet isolation for real: two tenants (10.32.1.0/24 and 10.32.2.0/24) on
 * two hosts, containers attached by the real plugin binary. Same subnet talks
 * across hosts; different subnets exchange nothing, on the same host or
 * across, even when a root process in a container adds routes, takes
 * another address or changes its MAC. Flushed rules come back, and while they
 * are gone (even with the daemon frozen) the ports' tc filters still isolate.
 */
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, waitFor, withRulesFlushedAndDaemonsFrozen, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';
import { hostVethName } from '../../src/dataplane/names.js';

const PLUGIN = resolve(__dirname, '../../dist/cni/overlay');
const SUBNETS = { a: '10.32.1.0/24', b: '10.32.2.0/24' } as const;

interface Ctr {
  ns: string;
  ip: string;
}

describe('subnet isolation', () => {
  let lab: Lab;
  let d: DaemonHost[];
  const c: Record<string, Ctr> = {};

  const ping = async (ns: string, ip: string, extra: string[] = []) =>
    (await lab.exec(ns, 'ping', ['-c', '1', '-W', '1', ...extra, ip], { reject: false })).exitCode === 0;
  const inCtr = (x: Ctr, args: string[]) => lab.exec(x.ns, 'ip', args);

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, label: 'iso' });
    d = [1, 2].map((i) => daemonHost(lab, i));
    await launch(d[0]!, ['198.51.100.2']);
    await launch(d[1]!, ['198.51.100.1']);
    expect(await ipamReady(d)).toBe(true);
    for (const tenant of ['a', 'b'] as const) {
      for (const host of [1, 2]) {
        const name = `${tenant}${host}`;
        const ns = await lab.addNamespace(name);
        const h = d[host - 1]!;
        const r = await execa('ip', ['netns', 'exec', h.host.ns, PLUGIN], {
          reject: false,
          env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: name, CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
          input: JSON.stringify({ cniVersion: '1.0.0', name: `tenant-${tenant}`, type: 'overlay', subnet: SUBNETS[tenant], daemonSocket: h.apiSocket, stateDir: join(h.dataDir, 'cni') }),
        });
        expect(r.exitCode, r.stdout + r.stderr).toBe(0);
        c[name] = { ns, ip: (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]! };
      }
    }
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('containers of one subnet talk across hosts', async () => {
    expect(c['a1']!.ip).toMatch(/^10\.32\.1\./);
    expect(c['b2']!.ip).toMatch(/^10\.32\.2\./);
    expect(await waitFor(() => ping(c['a1']!.ns, c['a2']!.ip), 10_000, 200)).toBe(true);
    expect(await waitFor(() => ping(c['b2']!.ns, c['b1']!.ip), 10_000, 200)).toBe(true);
  });

  it('different subnets cannot reach each other, even with routes added inside the container', async () => {
    await inCtr(c['a1']!, ['route', 'add', SUBNETS.b, 'dev', 'eth0']);
    expect(await ping(c['a1']!.ns, c['b1']!.ip)).toBe(false); // same host
    expect(await ping(c['a1']!.ns, c['b2']!.ip)).toBe(false); // other host
    await inCtr(c['b2']!, ['route', 'add', SUBNETS.a, 'dev', 'eth0']);
    expect(await ping(c['b2']!.ns, c['a2']!.ip)).toBe(false);
    expect(await ping(c['b2']!.ns, c['a1']!.ip)).toBe(false);
  });

  it('a container that takes an address of the other subnet is blocked', async () => {
    await inCtr(c['a1']!, ['addr', 'add', '10.32.2.99/24', 'dev', 'eth0']);
    expect(await ping(c['a1']!.ns, c['b1']!.ip, ['-I', '10.32.2.99'])).toBe(false);
    expect(await ping(c['a1']!.ns, c['b2']!.ip, ['-I', '10.32.2.99'])).toBe(false);
    await inCtr(c['a1']!, ['addr', 'del', '10.32.2.99/24', 'dev', 'eth0']);
    // Spoofing another address of its own subnet is blocked too.
    await inCtr(c['a1']!, ['addr', 'add', '10.32.1.250/24', 'dev', 'eth0']);
    expect(await ping(c['a1']!.ns, c['a2']!.ip, ['-I', '10.32.1.250'])).toBe(false);
    await inCtr(c['a1']!, ['addr', 'del', '10.32.1.250/24', 'dev', 'eth0']);
    expect(await ping(c['a1']!.ns, c['a2']!.ip)).toBe(true);
  });

  it('a container that changes its MAC is blocked until it changes it back', async () => {
    const mac = JSON.parse((await inCtr(c['a2']!, ['-j', 'link', 'show', 'eth0'])).stdout)[0].address as string;
    await inCtr(c['a2']!, ['link', 'set', 'eth0', 'address', '02:66:66:66:66:66']);
    await inCtr(c['a1']!, ['neigh', 'flush', 'all']);
    expect(await ping(c['a2']!.ns, c['a1']!.ip)).toBe(false);
    await inCtr(c['a2']!, ['link', 'set', 'eth0', 'address', mac]);
    expect(await waitFor(() => ping(c['a2']!.ns, c['a1']!.ip), 5_000, 200)).toBe(true);
  });

  it('flushed isolation rules come back within 10 s (the daemon sees the removal and restores them at once)', async () => {
    const rules = async () => ((await lab.exec(d[0]!.host.ns, 'nft', ['list', 'table', 'bridge', 'overlay-isolation'], { reject: false })).stdout.match(/ drop$/gm) ?? []).length;
    const before = await rules();
    for (const flush of [['flush', 'table', 'bridge', 'overlay-isolation'], ['flush', 'ruleset']]) {
      const t0 = Date.now();
      await lab.exec(d[0]!.host.ns, 'nft', flush);
      expect(await waitFor(async () => (await rules()) === before, 10_000, 100), flush.join(' ')).toBe(true);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(await ping(c['a1']!.ns, c['b1']!.ip)).toBe(false);
    }
    const log = (await execa('cat', [`${d[0]!.dataDir}/overlay.log`])).stdout;
    expect(log).toMatch(/isolation rules were removed; restored at once/);
  });

  it('with every nftables rule gone and the daemons frozen, the port filters alone still keep subnets apart', async () => {
    // Routes both ways, so a reply could come back if anything let the request through.
    await inCtr(c['b1']!, ['route', 'replace', SUBNETS.a, 'dev', 'eth0']);
    const restored = await withRulesFlushedAndDaemonsFrozen(lab, d, async () => {
      expect(await ping(c['a1']!.ns, c['b1']!.ip)).toBe(false); // same host
      expect(await ping(c['b1']!.ns, c['a1']!.ip)).toBe(false);
      expect(await ping(c['a1']!.ns, c['b2']!.ip)).toBe(false); // other host
      expect(await ping(c['b2']!.ns, c['a1']!.ip)).toBe(false);
      await inCtr(c['a1']!, ['addr', 'add', '10.32.2.99/24', 'dev', 'eth0']);
      expect(await ping(c['a1']!.ns, c['b1']!.ip, ['-I', '10.32.2.99'])).toBe(false);
      await inCtr(c['a1']!, ['addr', 'del', '10.32.2.99/24', 'dev', 'eth0']);
      expect(await ping(c['a1']!.ns, c['a2']!.ip)).toBe(true); // the filters let a subnet talk
    });
    expect(restored, 'the isolation rules come back after the thaw').toBe(true);
  });

  it('CNI ports carry their filters on the container end, leaving the host end to traffic shapers', async () => {
    const filtered = async (ns: string, hook: string) => (await lab.exec(ns, 'tc', ['filter', 'show', 'dev', 'eth0', hook])).stdout.includes('direct-action');
    for (const x of Object.values(c)) {
      expect(await filtered(x.ns, 'egress')).toBe(true);
      expect(await filtered(x.ns, 'ingress')).toBe(true);
    }
    const veths = JSON.parse((await lab.exec(d[0]!.host.ns, 'ip', ['-j', 'link', 'show', 'master', 'overlay', 'type', 'veth'])).stdout) as { ifname: string }[];
    for (const v of veths) expect((await lab.exec(d[0]!.host.ns, 'tc', ['qdisc', 'show', 'dev', v.ifname])).stdout).not.toContain('clsact');
  });

  it('port filters on the host end (overlay attach) deleted by hand are put back', async () => {
    const h = d[0]!.host.ns;
    const ports: string[] = [];
    for (const k of [1, 2]) {
      const ns = await lab.addNamespace(`att${k}`);
      const r = await overlay(d[0]!, ['attach', ns, `net:${SUBNETS.a}`]);
      expect(r.exitCode, r.stderr).toBe(0);
      ports.push(hostVethName(`/run/netns/${ns}`, 'ethwe'));
    }
    const filtered = async (dev: string) => (await lab.exec(h, 'tc', ['filter', 'show', 'dev', dev, 'ingress'])).stdout.includes('direct-action');
    for (const v of ports) expect(await filtered(v)).toBe(true);
    await lab.exec(h, 'tc', ['qdisc', 'del', 'dev', ports[0]!, 'clsact']);
    expect(await waitFor(() => filtered(ports[0]!), 10_000, 200)).toBe(true);
    await lab.exec(h, 'tc', ['filter', 'del', 'dev', ports[1]!, 'ingress', 'pref', '1', 'handle', '1', 'bpf']);
    expect(await waitFor(() => filtered(ports[1]!), 10_000, 200)).toBe(true);
    const log = (await execa('cat', [`${d[0]!.dataDir}/overlay.log`])).stdout;
    expect(log).toContain(`restored the port filters of ${ports[0]!}`);
    expect(log).toContain(`restored the port filters of ${ports[1]!}`);
    for (const k of [1, 2]) expect((await overlay(d[0]!, ['detach', `${lab.prefix}-att${k}`])).exitCode).toBe(0);
  });

  it('an exposed host reaches the subnet it exposed, not the other', async () => {
    const r = await overlay(d[0]!, ['expose', `net:${SUBNETS.a}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await waitFor(() => ping(d[0]!.host.ns, c['a2']!.ip), 10_000, 200)).toBe(true);
    expect(await ping(d[0]!.host.ns, c['a1']!.ip)).toBe(true);
    expect(await ping(d[0]!.host.ns, c['b1']!.ip)).toBe(false);
  });

  it('a host exposed on both subnets does not route between them', async () => {
    const r = await overlay(d[0]!, ['expose', `net:${SUBNETS.b}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await waitFor(() => ping(d[0]!.host.ns, c['b1']!.ip), 10_000, 200)).toBe(true);
    const hostAddrs = (JSON.parse((await lab.exec(d[0]!.host.ns, 'ip', ['-j', 'addr', 'show', 'dev', 'overlay'])).stdout) as { addr_info: { family: string; local: string }[] }[])[0]!
      .addr_info.filter((a) => a.family === 'inet')
      .map((a) => a.local);
    const hostA = hostAddrs.find((ip) => ip.startsWith('10.32.1.'))!;
    const hostB = hostAddrs.find((ip) => ip.startsWith('10.32.2.'))!;
    // Each container routes the other subnet via the host, as if the host were their gateway.
    await inCtr(c['a1']!, ['route', 'replace', SUBNETS.b, 'via', hostA, 'dev', 'eth0']);
    await inCtr(c['b1']!, ['route', 'replace', SUBNETS.a, 'via', hostB, 'dev', 'eth0']);
    expect(await ping(c['a1']!.ns, hostA)).toBe(true); // the host itself is reachable
    expect(await ping(c['a1']!.ns, c['b1']!.ip)).toBe(false);
    expect(await ping(c['a1']!.ns, c['b2']!.ip)).toBe(false);
  });
});
