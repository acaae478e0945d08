/**
 * One attach path: `overlay attach` is carried out by the CNI plugin's attach code (the
 * daemon runs `<plugin> plug`), so a namespace attached by `overlay attach` and one
 * attached by a CNI ADD get the same port: a host end named from the netns and interface,
 * the container's MAC in a static FDB entry, arp_notify, the overlay MTU, the multicast
 * route, nftables rules and both tc filters; and they reach each other across hosts. The
 * daemon starts no `ip`, `tc` or `bridge` process to attach (its process counter shows it),
 * and bad input still gets a clear error that leaves nothing behind.
 */
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';
import { hostVethName } from '../../src/dataplane/names.js';

const PLUGIN = resolve(__dirname, '../../dist/cni/overlay');

interface Port {
  ns: string;
  ip: string;
  mac: string;
  hostVeth: string;
}

async function metric(d: DaemonHost, name: string): Promise<number> {
  const r = await apiRequest(d.apiSocket, 'GET', '/metrics', undefined, { accept: 'text/plain' });
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(r.body)?.[1] ?? NaN);
}

async function processesByProgram(d: DaemonHost): Promise<Map<string, number>> {
  const r = await apiRequest(d.apiSocket, 'GET', '/metrics', undefined, { accept: 'text/plain' });
  return new Map([...r.body.matchAll(/^overlay_processes_started_total\{program="([^"]*)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

describe('one attach path for overlay attach and the CNI plugin', () => {
  let lab: Lab;
  let d: DaemonHost[];

  const viaAttach = async (host: DaemonHost, suffix: string): Promise<Port> => {
    const ns = await lab.addNamespace(suffix);
    const r = await overlay(host, ['attach', ns, '--ifname', 'eth0']);
    expect(r.exitCode, r.stderr).toBe(0);
    const hostVeth = hostVethName(`/run/netns/${ns}`, 'eth0');
    const mac = (await lab.exec(ns, 'cat', ['/sys/class/net/eth0/address'])).stdout.trim();
    return { ns, ip: r.stdout.trim().split('/')[0]!, mac, hostVeth };
  };
  const viaCni = async (host: DaemonHost, suffix: string): Promise<Port> => {
    const ns = await lab.addNamespace(suffix);
    const r = await execa('ip', ['netns', 'exec', host.host.ns, PLUGIN], {
      reject: false,
      env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `ctr-${suffix}`, CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
      input: JSON.stringify({ cniVersion: '1.0.0', name: 'ovtest', type: 'overlay', daemonSocket: host.apiSocket, stateDir: join(host.dataDir, 'cni') }),
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { interfaces: { name: string; mac?: string; sandbox?: string }[]; ips: { address: string }[] };
    return { ns, ip: res.ips[0]!.address.split('/')[0]!, mac: res.interfaces.find((i) => i.sandbox)!.mac!, hostVeth: res.interfaces[1]!.name };
  };

  /** What a port looks like in the kernel, with the filters' place named rather than their programs. */
  const shape = async (host: DaemonHost, p: Port) => {
    const h = host.host.ns;
    const hostEnd = JSON.parse((await lab.exec(h, 'ip', ['-j', '-d', 'link', 'show', 'dev', p.hostVeth])).stdout)[0] as { master?: string; mtu: number; operstate: string; linkinfo: { info_kind: string } };
    const ctr = JSON.parse((await lab.exec(p.ns, 'ip', ['-j', 'link', 'show', 'dev', 'eth0'])).stdout)[0] as { mtu: number; address: string };
    const fdb = (await lab.exec(h, 'bridge', ['fdb', 'show', 'dev', p.hostVeth])).stdout;
    const routes = (await lab.exec(p.ns, 'ip', ['route', 'show', 'dev', 'eth0'])).stdout;
    const rules = (await lab.exec(h, 'nft', ['list', 'table', 'bridge', 'overlay-isolation'])).stdout;
    const filtersOn = async (ns: string, dev: string) => {
      const out = (await lab.exec(ns, 'tc', ['filter', 'show', 'dev', dev, 'ingress'])).stdout + (await lab.exec(ns, 'tc', ['filter', 'show', 'dev', dev, 'egress'])).stdout;
      return [...out.matchAll(/ bpf .*handle 0x1 direct-action/g)].length;
    };
    return {
      hostVeth: p.hostVeth === hostVethName(`/run/netns/${p.ns}`, 'eth0'),
      kind: hostEnd.linkinfo.info_kind,
      master: hostEnd.master,
      up: hostEnd.operstate !== 'DOWN',
      mtu: ctr.mtu === hostEnd.mtu ? ctr.mtu : `${ctr.mtu} vs ${hostEnd.mtu}`,
      mac: ctr.address === p.mac,
      staticFdb: fdb.includes(`${p.mac} master overlay static`),
      arpNotify: (await lab.exec(p.ns, 'cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify'])).stdout.trim(),
      multicastRoute: /^224\.0\.0\.0\/4 /m.test(routes),
      nftRules: rules.includes(p.mac),
      // Both programs, on the host end (`overlay attach`) or on the container end (CNI: the host end's qdiscs stay free for shapers).
      filters: (await filtersOn(h, p.hostVeth)) + (await filtersOn(p.ns, 'eth0')),
    };
  };

  const pings = (from: Port, to: Port) => waitFor(async () => (await lab.exec(from.ns, 'ping', ['-c', '1', '-W', '1', to.ip], { reject: false })).exitCode === 0, 10_000, 200);

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, label: 'attpath' });
    d = [1, 2].map((i) => daemonHost(lab, i));
    // A fast safety pass on h1: it must find nothing to repair on a port the plugin plugged in.
    // None during the test on h2, where the processes one attach starts are counted.
    await launch(d[0]!, ['198.51.100.2', '--safety-pass-seconds', '1']);
    await launch(d[1]!, ['198.51.100.1', '--safety-pass-seconds', '3600']);
    expect(await ipamReady(d)).toBe(true);
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('attach and ADD make the same port, and each reaches the other kind across hosts', async () => {
    const attached = await viaAttach(d[0]!, 'a1');

    const added = await viaCni(d[0]!, 'c1');
    // For both, the nftables rules follow within milliseconds of the answer.
    const rulesForBoth = async () => {
      const r = (await lab.exec(d[0]!.host.ns, 'nft', ['list', 'table', 'bridge', 'overlay-isolation'])).stdout;
      return r.includes(attached.mac) && r.includes(added.mac);
    };
    expect(await waitFor(rulesForBoth, 5_000, 100)).toBe(true);
    const [a, c] = [await shape(d[0]!, attached), await shape(d[0]!, added)];
    expect(a).toEqual(c);
    expect(a).toMatchObject({ hostVeth: true, kind: 'veth', master: 'overlay', up: true, mac: true, staticFdb: true, arpNotify: '1', multicastRoute: true, nftRules: true, filters: 2 });

    // The host-end filters the plugin put on an `overlay attach` port are those the daemon restores: no repair.
    const [passes, repairs] = [await metric(d[0]!, 'overlay_dataplane_safety_passes_total'), await metric(d[0]!, 'overlay_dataplane_repairs_total')];
    expect(await waitFor(async () => (await metric(d[0]!, 'overlay_dataplane_safety_passes_total')) >= passes + 2, 10_000, 200)).toBe(true);
    expect(await metric(d[0]!, 'overlay_dataplane_repairs_total')).toBe(repairs);

    // On h2: what the daemon starts for one `overlay attach`.
    const before = await processesByProgram(d[1]!);
    const remoteAttached = await viaAttach(d[1]!, 'a2');
    const after = await processesByProgram(d[1]!);
    const started = [...after].map(([prog, n]) => [prog, n - (before.get(prog) ?? 0)] as const).filter(([, n]) => n > 0);
    // The plugin once (and nft for the port's rules); never ip, tc or bridge, which the old attach path ran.
    expect(started.filter(([prog]) => prog === PLUGIN), JSON.stringify(started)).toEqual([[PLUGIN, 1]]);
    expect(started.filter(([prog]) => ['ip', 'tc', 'bridge', 'sh', 'nsenter'].includes(prog)), JSON.stringify(started)).toEqual([]);

    const remoteAdded = await viaCni(d[1]!, 'c2');
    expect(await pings(attached, remoteAdded)).toBe(true);
    expect(await pings(added, remoteAttached)).toBe(true);
    expect(await pings(remoteAttached, added)).toBe(true);

    // Detach takes the port out (host end and container end) and frees the address.
    const det = await overlay(d[0]!, ['detach', attached.ns, '--ifname', 'eth0']);
    expect(det.exitCode, det.stderr).toBe(0);
    expect((await lab.exec(attached.ns, 'ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
    expect((await lab.exec(d[0]!.host.ns, 'ip', ['link', 'show', attached.hostVeth], { reject: false })).exitCode).not.toBe(0);
    expect((await apiRequest(d[0]!.apiSocket, 'GET', `/ipam/lookup?owner=${encodeURIComponent(`attach:/run/netns/${attached.ns}:eth0`)}`)).status).toBe(404);
  });

  it('attaching again is idempotent; a taken interface name, a missing namespace and a bad name get clear errors and leave nothing', async () => {
    const p = await viaAttach(d[0]!, 'again');
    const again = await overlay(d[0]!, ['attach', p.ns, '--ifname', 'eth0']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout.trim().split('/')[0]).toBe(p.ip);

    const allocations = async () => (await apiRequest(d[0]!.apiSocket, 'GET', '/ipam/allocations')).json<unknown[]>().length;
    const veths = async () => ((await lab.exec(d[0]!.host.ns, 'ip', ['-o', 'link', 'show'])).stdout.match(/ovl[0-9a-f]{12}/g) ?? []).length;
    const [allocs0, veths0] = [await allocations(), await veths()];

    // `lo` exists in every namespace: the plugin's preflight refuses before anything is made.
    const taken = await overlay(d[0]!, ['attach', p.ns, '--ifname', 'lo']);
    expect(taken.exitCode).not.toBe(0);
    expect(taken.stderr).toMatch(/interface lo already exists in \/run\/netns\//);
    const missing = await overlay(d[0]!, ['attach', `${lab.prefix}-nosuchns`]);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toMatch(/network namespace|does not exist|not a network namespace/);
    const badName = await overlay(d[0]!, ['attach', p.ns, '--ifname', 'bad/name']);
    expect(badName.exitCode).not.toBe(0);
    expect(badName.stderr).toMatch(/bad interface name "bad\/name"/);

    expect(await allocations()).toBe(allocs0);
    expect(await veths()).toBe(veths0);
    expect((await apiRequest(d[0]!.apiSocket, 'GET', '/ps?format=json')).json<{ id: string; ifname: string }[]>().filter((e) => e.ifname === 'lo')).toEqual([]);
  });

  it('the plugin refuses a malformed plug request with a clear error and touches nothing', async () => {
    const run = (input: string) => execa('ip', ['netns', 'exec', d[0]!.host.ns, PLUGIN, 'plug'], { reject: false, input });
    const garbage = await run('{not json');
    expect(garbage.exitCode).toBe(1);
    expect(JSON.parse(garbage.stdout)).toEqual({ error: { kind: 'bad-request', message: 'bad plug request: not JSON' } });
    const ns = await lab.addNamespace('badplan');
    const badMac = await run(JSON.stringify({ netns: `/run/netns/${ns}`, ifname: 'eth0', routes: [], plan: { address: '10.32.0.99/12', subnet: '10.32.0.0/12', mtu: 1450, bridge: 'overlay', hostVeth: 'ovl0123456789ab', mac: 'ff:ff:ff:ff:ff:ff' } }));
    expect(JSON.parse(badMac.stdout)).toMatchObject({ error: { kind: 'bad-request', message: expect.stringMatching(/"mac" must be a unicast MAC/) } });
    expect((await lab.exec(ns, 'ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
  });
});
