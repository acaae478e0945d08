/**
 * Networks made by `overlay setup-cni`, used exactly as written (each plugin
 * of the conflist run the way libcni runs it), on a daemon with its own data
 * dir and socket (OVERLAY_DATA_DIR, OVERLAY_API_SOCKET, as the lab sets):
 *  - the plugin keeps its records where that daemon reads them: `overlay ps`
 *    lists the container, and a DEL made while the daemon is stopped is
 *    applied when it is launched again;
 *  - egress by default: the first ADD exposes the host on the network's subnet
 *    with masquerade, so a container reaches a namespace standing for the
 *    internet behind the host (203.0.113.0/24, which knows no route to the
 *    overlay) and the host reaches the container, with nothing done by hand;
 *    the host is then exposed on two subnets and still does not route between
 *    them; `--no-gateway` makes a network without any of that.
 */
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { logFile } from '../../src/daemon/files.js';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { ipBatch, Lab } from '../../scripts/lab/lab.js';

const SUBNETS = { a: '10.32.1.0/24', b: '10.32.2.0/24', c: '10.32.3.0/24' } as const;
const INTERNET = '203.0.113.2';

interface Conflist {
  cniVersion: string;
  name: string;
  plugins: { type: string }[];
}

describe('networks made by setup-cni', () => {
  let lab: Lab;
  let d: DaemonHost;
  let bin: string;
  let confDir: string;
  const ip: Record<string, string> = {};
  const ns: Record<string, string> = {};

  /** What libcni does with a conflist: each plugin gets its own object plus the list's name and cniVersion (ADD in order, with prevResult; DEL in reverse). */
  const runConflist = async (command: 'ADD' | 'DEL', network: string, containerId: string, overlayConf: Record<string, unknown> = {}) => {
    const list = JSON.parse(readFileSync(join(confDir, `10-${network}.conflist`), 'utf8')) as Conflist;
    const plugins = command === 'ADD' ? list.plugins : [...list.plugins].reverse();
    let prevResult: unknown;
    let last = { exitCode: 0, stdout: '', stderr: '' };
    for (const p of plugins) {
      const r = await execa('ip', ['netns', 'exec', d.host.ns, join(bin, p.type)], {
        reject: false,
        env: { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: `/run/netns/${ns[containerId]}`, CNI_IFNAME: 'eth0', CNI_PATH: bin },
        input: JSON.stringify({ ...p, ...(p.type === 'overlay' ? overlayConf : {}), name: list.name, cniVersion: list.cniVersion, ...(prevResult ? { prevResult } : {}) }),
      });
      last = { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
      if (r.exitCode !== 0) break;
      if (command === 'ADD') prevResult = JSON.parse(r.stdout);
    }
    return last;
  };
  const add = async (network: string, containerId: string) => {
    ns[containerId] = await lab.addNamespace(containerId);
    const r = await runConflist('ADD', network, containerId);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    ip[containerId] = (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    return JSON.parse(r.stdout) as { ips: { address: string; gateway?: string }[]; routes: { dst: string; gw?: string }[] };
  };
  const ping = async (from: string, to: string) => (await lab.exec(from, 'ping', ['-c', '1', '-W', '1', to], { reject: false })).exitCode === 0;
  const pingSoon = (from: string, to: string) => waitFor(() => ping(from, to), 10_000, 200);
  const allocated = async (owner: string) => (await apiRequest(d.apiSocket, 'GET', `/ipam/lookup?owner=${encodeURIComponent(owner)}`)).status === 200;
  const ps = async () => (await overlay(d, ['ps'])).stdout;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 1, label: 'setupcni' });
    d = daemonHost(lab, 1);
    await launch(d, []);
    expect(await ipamReady([d])).toBe(true);
    bin = join(d.dataDir, 'bin');
    confDir = join(d.dataDir, 'net.d');
    // Exactly what a user runs; the data dir and socket come from OVERLAY_DATA_DIR and OVERLAY_API_SOCKET.
    for (const [tenant, extra] of [['a', []], ['b', []], ['c', ['--no-gateway']]] as const) {
      const r = await overlay(d, ['setup-cni', '--bin-dir', bin, '--conf-dir', confDir, '--name', `tenant-${tenant}`, '--subnet', SUBNETS[tenant], ...extra]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    // The internet, behind the host: its own namespace on 203.0.113.0/24, with no route to the overlay.
    const inet = await lab.addNamespace('inet');
    await ipBatch(d.host.ns, [`link add up0 type veth peer name eth0 netns ${inet}`, 'addr add 203.0.113.1/24 dev up0', 'link set up0 up']);
    await ipBatch(inet, ['addr add 203.0.113.2/24 dev eth0', 'link set eth0 up']);
    ns['inet'] = inet;
  });
  afterAll(async () => {
    if (d) await cleanupDaemons([d]);
    await lab?.destroy();
  });

  it('the first ADD makes the host the gateway: the container reaches the internet behind the host, and the host reaches it', async () => {
    const r = await add('tenant-a', 'a1');
    expect(ip['a1']).toMatch(/^10\.32\.1\./);
    const gw = r.ips[0]!.gateway!;
    expect(gw).toMatch(/^10\.32\.1\./);
    expect(r.routes).toContainEqual({ dst: '0.0.0.0/0', gw });
    expect(await pingSoon(ns['a1']!, INTERNET)).toBe(true);
    expect(await ping(d.host.ns, ip['a1']!)).toBe(true);
    const nat = (await lab.exec(d.host.ns, 'nft', ['list', 'table', 'ip', 'overlay-nat'])).stdout;
    expect(nat).toContain(`ip saddr ${SUBNETS.a}`);
    // A second container of the network finds the gateway there.
    expect((await add('tenant-a', 'a2')).ips[0]!.gateway).toBe(gw);
    expect(await pingSoon(ns['a2']!, INTERNET)).toBe(true);
  });

  it('on a host now exposed on two subnets, each reaches the internet and neither reaches the other', async () => {
    const r = await add('tenant-b', 'b1');
    expect(r.ips[0]!.gateway).toMatch(/^10\.32\.2\./);
    expect(await pingSoon(ns['b1']!, INTERNET)).toBe(true);
    expect(await ping(d.host.ns, ip['b1']!)).toBe(true);
    // Each container's default route leads to the host, which is on both subnets.
    expect(await ping(ns['a1']!, ip['b1']!)).toBe(false);
    expect(await ping(ns['b1']!, ip['a1']!)).toBe(false);
    expect(await ping(ns['a1']!, ip['a2']!)).toBe(true);
  });

  it('a network made with --no-gateway gets no gateway, no exposure and no way out', async () => {
    const r = await add('tenant-c', 'c1');
    expect(r.ips[0]!.gateway).toBeUndefined();
    expect(r.routes.some((x) => x.dst === '0.0.0.0/0')).toBe(false);
    const exposed = JSON.parse((await overlay(d, ['status', 'dataplane', '--json'])).stdout).exposed as { subnet: string }[];
    expect(exposed.map((e) => e.subnet).sort()).toEqual([SUBNETS.a, SUBNETS.b]);
    expect(await ping(ns['c1']!, INTERNET)).toBe(false);
  });

  it('a gateway or multicastRoute that is not true or false is refused with a clear error', async () => {
    const admit = await apiRequest(d.apiSocket, 'POST', '/ports/admit', { owner: 'x:eth0', netns: '/run/netns/x', ifname: 'eth0', gateway: 'yes' });
    expect(admit.status).toBe(400);
    expect(admit.json<{ error: string }>().error).toBe('"gateway" must be true or false');
    const attach = await apiRequest(d.apiSocket, 'POST', '/attach', { netns: ns['c1']!, multicastRoute: 'no' });
    expect(attach.status).toBe(400);
    expect(attach.json<{ error: string }>().error).toBe('"multicastRoute" must be true or false');
    expect(await allocated('x:eth0')).toBe(false);
  });

  it('the plugin keeps its records where the daemon of that data dir reads them: ps lists them', async () => {
    const listed = await ps();
    for (const id of ['a1', 'a2', 'b1', 'c1']) expect(listed).toMatch(new RegExp(`^${id} eth0 .* ${ip[id]!.replace(/\./g, '\\.')}/24$`, 'm'));
    expect(existsSync(join(d.dataDir, 'cni'))).toBe(true);
  });

  it('a release the plugin had to queue while the daemon runs (it could not reach it) is applied without a restart', async () => {
    // The plugin of this DEL looks for the daemon at a socket nobody listens on: what a DEL sees
    // while the daemon restarts. The running daemon watches the queue, so it does not wait for a launch.
    await add('tenant-a', 'q1');
    const del = await runConflist('DEL', 'tenant-a', 'q1', { daemonSocket: join(d.dataDir, 'nobody.sock') });
    expect(del.exitCode, del.stdout + del.stderr).toBe(0);
    expect(await waitFor(async () => !(await allocated('q1:eth0')), 15_000, 200)).toBe(true);
    expect(await waitFor(() => readdirSync(join(d.dataDir, 'cni', 'pending-release')).length === 0, 15_000, 200)).toBe(true);
    expect(await allocated('a1:eth0')).toBe(true);
    // Applied because the daemon was told of the file, not by a poll it falls back to.
    const log = readFileSync(logFile(d.dataDir), 'utf8');
    expect(log).toMatch(/applied releases queued by the CNI plugin.*q1:eth0/);
    expect(log).not.toContain('polling it');
  });

  it('a DEL made while the daemon is stopped is applied at its next launch', async () => {
    expect((await overlay(d, ['stop'])).exitCode).toBe(0);
    const del = await runConflist('DEL', 'tenant-a', 'a2');
    expect(del.exitCode, del.stdout + del.stderr).toBe(0);
    expect(readdirSync(join(d.dataDir, 'cni', 'pending-release'))).toContain('a2%3Aeth0.json');
    await launch(d, []);
    expect(await ipamReady([d])).toBe(true);
    expect(await waitFor(async () => !(await allocated('a2:eth0')), 15_000, 200)).toBe(true);
    expect(await waitFor(() => readdirSync(join(d.dataDir, 'cni', 'pending-release')).length === 0, 15_000, 200)).toBe(true);
    expect(await ps()).not.toMatch(/^a2 /m);
    expect(await allocated('a1:eth0')).toBe(true);
    // And a DEL with the daemon up releases at once.
    expect((await runConflist('DEL', 'tenant-a', 'a1')).exitCode).toBe(0);
    expect(await allocated('a1:eth0')).toBe(false);
  });
});
