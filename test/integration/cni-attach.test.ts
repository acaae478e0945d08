/**
 * The real plugin binary (dist/cni/overlay) against real daemons: ADD puts a
 * namespace on the overlay through the data plane's attach path, the two
 * containers on different hosts ping each other, DEL takes one off and
 * releases its address.
 */
import { execa } from 'execa';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { logFile } from '../../src/daemon/files.js';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';
import { hostVethName, peerTempName } from '../../src/dataplane/names.js';

const PLUGIN = resolve(__dirname, '../../dist/cni/overlay');

interface CniResult {
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; interface: number }[];
}

describe('CNI plugin binary on real daemons', () => {
  let lab: Lab;
  let d: DaemonHost[];
  const ns: string[] = [];

  const cni = (host: DaemonHost, command: string, containerId: string, netns: string, socket = host.apiSocket, conf: Record<string, unknown> = {}, cniVersion = '1.0.0') =>
    execa('ip', ['netns', 'exec', host.host.ns, PLUGIN], {
      reject: false,
      env: { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
      input: JSON.stringify({ cniVersion, name: 'ovtest', type: 'overlay', daemonSocket: socket, stateDir: join(host.dataDir, 'cni'), ...conf }),
    });
  const allocated = async (host: DaemonHost, owner: string) => (await apiRequest(host.apiSocket, 'GET', `/ipam/lookup?owner=${encodeURIComponent(owner)}`)).status === 200;
  const hostVeths = async (host: DaemonHost) => (await lab.exec(host.host.ns, 'ip', ['-o', 'link', 'show'])).stdout.match(/ovl[0-9a-f]{12}/g) ?? [];

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, label: 'cni' });
    d = [1, 2].map((i) => daemonHost(lab, i));
    await launch(d[0]!, ['198.51.100.2']);
    await launch(d[1]!, ['198.51.100.1']);
    expect(await ipamReady(d)).toBe(true);
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

  it('with the daemon unreachable, ADD fails fast with code 11 and leaves nothing; DEL queues the release, which the running daemon applies', async () => {
    const t0 = Date.now();
    const add = await cni(d[0]!, 'ADD', 'ctr-down', ns[1]!, '/nonexistent/overlay.sock');
    expect(add.exitCode).not.toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ cniVersion: '1.0.0', code: 11 });
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect((await lab.exec(ns[1]!, 'ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
    const del = await cni(d[0]!, 'DEL', 'ctr-down', ns[1]!, '/nonexistent/overlay.sock');
    expect(del.exitCode, del.stdout).toBe(0);
    // The plugin could not reach the daemon, so it queued the release on disk; the daemon is in
    // fact up and watches that queue, so it applies the release and empties the queue at once.
    const queue = join(d[0]!.dataDir, 'cni', 'pending-release');
    expect(await waitFor(() => readdirSync(queue).length === 0, 15_000, 200)).toBe(true);
    expect(readFileSync(logFile(d[0]!.dataDir), 'utf8')).toMatch(/applied releases queued by the CNI plugin.*ctr-down:eth0/);
  });

  it('CHECK passes for an attached container; a second ADD is refused and changes nothing', async () => {
    const n = await lab.addNamespace('k3');
    const add = await cni(d[0]!, 'ADD', 'ctr3', n);
    expect(add.exitCode, add.stdout).toBe(0);
    const prevResult = JSON.parse(add.stdout) as CniResult;
    const check = await cni(d[0]!, 'CHECK', 'ctr3', n, d[0]!.apiSocket, { prevResult });
    expect(check.exitCode, check.stdout).toBe(0);
    const veths = (await hostVeths(d[0]!)).length;
    const again = await cni(d[0]!, 'ADD', 'ctr3', n);
    expect(again.exitCode).not.toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ code: 100 });
    expect((await hostVeths(d[0]!)).length).toBe(veths);
    expect(await allocated(d[0]!, 'ctr3:eth0')).toBe(true);
  });

  it('ADD into a netns that already has a foreign eth0 is refused with code 100 and leaves nothing', async () => {
    const n = await lab.addNamespace('k9');
    await lab.exec(n, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const before = await hostVeths(d[0]!);
    const add = await cni(d[0]!, 'ADD', 'ctr9', n);
    expect(add.exitCode).not.toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ code: 100 });
    expect(await hostVeths(d[0]!)).toEqual(before);
    expect(await allocated(d[0]!, 'ctr9:eth0')).toBe(false);
    expect((await lab.exec(n, 'ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/ovt[0-9a-f]{12}/);
  });

  it("a removed port's isolation rules are swept soon after DEL, and a port added meanwhile keeps its own", async () => {
    const rules = async () => (await lab.exec(d[0]!.host.ns, 'nft', ['list', 'table', 'bridge', 'overlay-isolation'], { reject: false })).stdout;
    const a = await lab.addNamespace('k10');
    const b = await lab.addNamespace('k11');
    expect((await cni(d[0]!, 'ADD', 'ctr10', a)).exitCode).toBe(0);
    const vethA = hostVethName(`/run/netns/${a}`, 'eth0');
    const vethB = hostVethName(`/run/netns/${b}`, 'eth0');
    // A port's rules follow its ADD within milliseconds (its tc filters, on before the link came up, hold meanwhile).
    expect(await waitFor(async () => (await rules()).includes(vethA), 2_000, 20)).toBe(true);
    expect((await cni(d[0]!, 'DEL', 'ctr10', a)).exitCode).toBe(0);
    expect((await cni(d[0]!, 'ADD', 'ctr11', b)).exitCode).toBe(0);
    expect(await waitFor(async () => (await rules()).includes(vethB), 2_000, 20)).toBe(true);
    expect(await waitFor(async () => !(await rules()).includes(vethA), 5_000, 200)).toBe(true);
    expect(await rules()).toContain(vethB);
    expect((await cni(d[0]!, 'DEL', 'ctr11', b)).exitCode).toBe(0);
  });

  it('the port API refuses bad requests with a clear reason', async () => {
    const post = async (path: string, body: unknown) => {
      const r = await apiRequest(d[0]!.apiSocket, 'POST', path, body);
      return { status: r.status, error: (JSON.parse(r.body) as { error?: string }).error ?? '' };
    };
    const base = { owner: 'api-test:eth7', netns: `/run/netns/${ns[0]}`, ifname: 'eth7' };
    expect(await post('/ports/admit', { ...base, owner: undefined })).toMatchObject({ status: 400, error: expect.stringMatching(/"owner" is required/) });
    expect(await post('/ports/admit', { ...base, netns: undefined })).toMatchObject({ status: 400, error: expect.stringMatching(/"netns" is required/) });
    expect(await post('/ports/admit', { ...base, ifname: 'a/b' })).toMatchObject({ status: 400, error: expect.stringMatching(/bad interface name/) });
    expect(await post('/ports/admit', { ...base, mac: 'ff:ff:ff:ff:ff:ff' })).toMatchObject({ status: 400, error: expect.stringMatching(/bad MAC/) });
    expect(await post('/ports/admit', { ...base, isolate: 'yes' })).toMatchObject({ status: 400, error: expect.stringMatching(/"isolate"/) });
    expect(await post('/ports/admit', { ...base, subnet: '10.99.0.0/16' })).toMatchObject({ status: 400, error: expect.stringMatching(/not inside the allocation range/) });
    expect(await post('/ports/release', { ...base, hostVeth: 'eth0' })).toMatchObject({ status: 400, error: expect.stringMatching(/"hostVeth"/) });
    expect(await post('/ports/release', { ...base, retired: 'eth0' })).toMatchObject({ status: 400, error: expect.stringMatching(/"retired"/) });
    // Nothing was allocated by the refused requests.
    expect((await apiRequest(d[0]!.apiSocket, 'GET', '/ipam/lookup?owner=api-test%3Aeth7')).status).toBe(404);
    expect((await lab.exec(ns[0]!, 'ip', ['link', 'show', 'eth7'], { reject: false })).exitCode).not.toBe(0);
  });

  it('DEL after the namespace was deleted succeeds and releases the address', async () => {
    const n = await lab.addNamespace('k4');
    expect((await cni(d[0]!, 'ADD', 'ctr4', n)).exitCode).toBe(0);
    await execa('ip', ['netns', 'del', n]);
    const del = await cni(d[0]!, 'DEL', 'ctr4', n);
    expect(del.exitCode, del.stdout).toBe(0);
    expect(await allocated(d[0]!, 'ctr4:eth0')).toBe(false);
  });

  it('a failed ADD leaves no veth, no isolation rule and no address behind', async () => {
    const rules = async () => (await lab.exec(d[0]!.host.ns, 'nft', ['list', 'table', 'bridge', 'overlay-isolation'], { reject: false })).stdout;
    const hostPorts = async () => (await lab.exec(d[0]!.host.ns, 'ip', ['-o', 'link', 'show'])).stdout.match(/ov[lr][0-9a-f]{12}/g) ?? [];
    const before = await hostPorts();
    // Failing after the daemon allocated: the container end's temporary name is taken in the netns.
    const n = await lab.addNamespace('k5');
    await lab.exec(n, 'ip', ['link', 'add', peerTempName(`/run/netns/${n}`, 'eth0'), 'type', 'veth', 'peer', 'name', 'other5']);
    const add = await cni(d[0]!, 'ADD', 'ctr5', n);
    expect(add.exitCode, add.stdout).not.toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ code: 5, msg: expect.stringMatching(/creating veth/) });
    // Failing after the veth was made: the daemon refuses the address asked for (another container holds it).
    const n2 = await lab.addNamespace('k5b');
    const holder = await lab.addNamespace('k5c');
    const taken = (JSON.parse((await cni(d[0]!, 'ADD', 'holder5', holder)).stdout) as CniResult).ips[0]!.address;
    const add2 = await cni(d[0]!, 'ADD', 'ctr5b', n2, d[0]!.apiSocket, { runtimeConfig: { ips: [taken] } });
    expect(JSON.parse(add2.stdout)).toMatchObject({ code: 7, msg: expect.stringContaining(taken.split('/')[0]!) });
    for (const [id, netns] of [['ctr5', n], ['ctr5b', n2]] as const) {
      expect(await allocated(d[0]!, `${id}:eth0`)).toBe(false);
      // Rules of released ports match nothing (no such veth) and are swept together shortly after.
      const veth = hostVethName(`/run/netns/${netns}`, 'eth0');
      expect(await waitFor(async () => !(await rules()).includes(veth), 10_000, 200)).toBe(true);
      expect((await lab.exec(netns, 'ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/eth0/);
    }
    expect((await lab.exec(n2, 'ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/ovt/);
    expect((await hostPorts()).filter((v) => !before.includes(v))).toEqual([hostVethName(`/run/netns/${holder}`, 'eth0')]);
    expect((await cni(d[0]!, 'DEL', 'holder5', holder)).exitCode).toBe(0);
  });

  it('GC removes attachments the runtime no longer lists', async () => {
    const keep = await lab.addNamespace('k6');
    const drop = await lab.addNamespace('k7');
    expect((await cni(d[0]!, 'ADD', 'keep6', keep)).exitCode).toBe(0);
    expect((await cni(d[0]!, 'ADD', 'drop7', drop)).exitCode).toBe(0);
    const valid = [{ containerID: 'keep6', ifname: 'eth0' }, { containerID: 'ctr0', ifname: 'eth0' }, { containerID: 'ctr3', ifname: 'eth0' }];
    const gc = await cni(d[0]!, 'GC', '', keep, d[0]!.apiSocket, { 'cni.dev/valid-attachments': valid }, '1.1.0');
    expect(gc.exitCode, gc.stdout + gc.stderr).toBe(0);
    expect(await allocated(d[0]!, 'drop7:eth0')).toBe(false);
    expect(await allocated(d[0]!, 'keep6:eth0')).toBe(true);
    expect((await lab.exec(drop, 'ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
  });

  it('overlay ps lists the attached containers; overlay report holds every layer', async () => {
    const text = (await overlay(d[0]!, ['ps'])).stdout;
    expect(text).toMatch(/^ctr0 eth0 ([0-9a-f]{2}:){5}[0-9a-f]{2} 10\.\d+\.\d+\.\d+\/\d+$/m);
    const list = JSON.parse((await overlay(d[0]!, ['ps', '--json'])).stdout) as { id: string; ifname: string; mac: string; addresses: string[]; source: string }[];
    expect(list.map((e) => e.id).sort()).toEqual(['ctr0', 'ctr3', 'keep6']);
    for (const e of list) {
      expect(e).toMatchObject({ ifname: 'eth0', source: 'cni:ovtest' });
      expect(e.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      expect(e.addresses[0]).toMatch(/^10\./);
    }
    const report = JSON.parse((await overlay(d[0]!, ['report'])).stdout) as Record<string, Record<string, unknown>>;
    expect(report['status']!['name']).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(report['ipam']!['status']).toBe('ready');
    expect(Array.isArray(report['ipam']!['ring'])).toBe(true);
    expect((report['ipam']!['allocations'] as { owner: string }[]).map((a) => a.owner)).toContain('ctr0:eth0');
    expect((report['dataplane']!['containers'] as unknown[]).length).toBe(3);
    expect(String((report['dataplane']!['nftables'] as Record<string, unknown>)['bridge overlay-isolation'])).toMatch(/drop/);
  });

  it('DEL frees the interface name at once, the daemon destroys the retired port after, and a retired port left behind is swept', async () => {
    const n = await lab.addNamespace('k12');
    const links = async (netns: string) => (await lab.exec(netns, 'ip', ['-o', 'link', 'show'])).stdout;
    expect((await cni(d[0]!, 'ADD', 'ctr12', n)).exitCode).toBe(0);
    expect((await cni(d[0]!, 'DEL', 'ctr12', n)).exitCode).toBe(0);
    expect(await links(n)).not.toMatch(/eth0/);
    // The same container can come back at once, while its old port may still be on its way out.
    const again = await cni(d[0]!, 'ADD', 'ctr12', n);
    expect(again.exitCode, again.stdout).toBe(0);
    expect((await cni(d[0]!, 'DEL', 'ctr12', n)).exitCode).toBe(0);
    expect(await waitFor(async () => !/ovr/.test((await links(d[0]!.host.ns)) + (await links(n))), 5_000, 50)).toBe(true);
    // A retired port the daemon never got to (stopped first, say) goes with its next pass.
    await lab.exec(d[0]!.host.ns, 'ip', ['link', 'add', 'ovr00000000beef', 'type', 'veth', 'peer', 'name', 'ovr00000000beef', 'netns', n]);
    expect(await waitFor(async () => !/ovr/.test((await links(d[0]!.host.ns)) + (await links(n))), 15_000, 200)).toBe(true);
  });

  it('DEL while the daemon is down is queued, and the daemon applies it when it is back', async () => {
    const n = await lab.addNamespace('k8');
    expect((await cni(d[1]!, 'ADD', 'ctr8', n)).exitCode).toBe(0);
    expect((await overlay(d[1]!, ['stop'])).exitCode).toBe(0);
    const del = await cni(d[1]!, 'DEL', 'ctr8', n);
    expect(del.exitCode, del.stdout).toBe(0);
    // With no daemon to hand it to, the plugin destroyed the port itself.
    expect((await lab.exec(d[1]!.host.ns, 'ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/ov[lr][0-9a-f]{12}/);
    expect((await lab.exec(n, 'ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/eth0|ovr/);
    await launch(d[1]!, ['198.51.100.1']);
    expect(await waitFor(async () => !(await allocated(d[1]!, 'ctr8:eth0')), 15_000, 200)).toBe(true);
  });

  it('a recreated bridge takes back finished ports, not one the plugin has made but not finished', async () => {
    const h = d[0]!.host.ns;
    const done = await lab.addNamespace('k30');
    expect((await cni(d[0]!, 'ADD', 'ctr30', done)).exitCode).toBe(0);
    const finished = hostVethName(`/run/netns/${done}`, 'eth0');
    // A port admitted by the daemon whose plugin got only as far as its first step: the veth pair, down, off the bridge.
    const half = await lab.addNamespace('k31');
    const plan = (await apiRequest(d[0]!.apiSocket, 'POST', '/ports/admit', { owner: 'ctr31:eth0', netns: `/run/netns/${half}`, ifname: 'eth0' })).json<{ hostVeth: string }>();
    await lab.exec(h, 'ip', ['link', 'add', plan.hostVeth, 'type', 'veth', 'peer', 'name', peerTempName(`/run/netns/${half}`, 'eth0'), 'netns', half]);
    await lab.exec(h, 'ip', ['link', 'del', 'overlay']);
    const linkOf = async (dev: string) => JSON.parse((await lab.exec(h, 'ip', ['-j', 'link', 'show', 'dev', dev])).stdout)[0] as { master?: string; flags: string[] };
    expect(await waitFor(async () => (await linkOf(finished)).master === 'overlay', 15_000, 200)).toBe(true);
    const l = await linkOf(plan.hostVeth);
    expect(l.master).toBeUndefined();
    expect(l.flags).not.toContain('UP');
    await apiRequest(d[0]!.apiSocket, 'POST', '/ports/release', { owner: 'ctr31:eth0', hostVeth: plan.hostVeth });
    await lab.exec(h, 'ip', ['link', 'del', plan.hostVeth]);
    expect((await cni(d[0]!, 'DEL', 'ctr30', done)).exitCode).toBe(0);
  });
});

