/**
 * The data plane on real daemons in namespaces: three hosts, two "containers"
 * (namespaces attached with `overlay attach`) per host, real bridges, veths,
 * kernel VXLAN and nftables. Cross-host ping and TCP both ways, broadcast and
 * ARP, FDB following peers that stop and return, hand-deleted devices and
 * entries restored, expose/hide, the full-MTU probe, and reset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, daemonHost, ipamReady, killDaemon, launch, overlay, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

interface Container {
  ns: string;
  host: number;
  ip: string;
}

const MTU = 1450;

describe('data plane on real daemons', () => {
  let lab: Lab;
  let d: DaemonHost[];
  const c: Container[] = [];
  // A path broken behind the daemons' backs (a drop rule, a lowered MTU) changes nothing they see:
  // the probe's refresh finds it, within 1.2 x --probe-seconds plus its tries (72 s at the default 60).
  const peersOf = (i: number) => ['--probe-seconds', '5', ...[1, 2, 3].filter((j) => j !== i).map((j) => `198.51.100.${j}`)];

  const ping = async (ns: string, ip: string, extra: string[] = []) =>
    (await lab.exec(ns, 'ping', ['-c', '1', '-W', '1', ...extra, ip], { reject: false })).exitCode === 0;
  const pingSoon = (ns: string, ip: string, ms = 10_000, extra: string[] = []) => waitFor(() => ping(ns, ip, extra), ms, 200);
  const vxlanFdb = async (host: number) => (await lab.exec(d[host - 1]!.host.ns, 'bridge', ['fdb', 'show', 'dev', 'overlay-vx'])).stdout;
  const hostNs = (i: number) => d[i - 1]!.host.ns;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3, label: 'dp' });
    d = [1, 2, 3].map((i) => daemonHost(lab, i));
    for (const i of [1, 2, 3]) await launch(d[i - 1]!, peersOf(i));
    expect(await ipamReady(d)).toBe(true);
    for (const i of [1, 2, 3]) {
      for (const k of [1, 2]) {
        const ns = await lab.addNamespace(`c${i}${k}`);
        const r = await overlay(d[i - 1]!, ['attach', ns]);
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.stdout.trim()).toMatch(/^10\.(3[2-9]|4[0-7])\.\d+\.\d+\/12$/);
        c.push({ ns, host: i, ip: r.stdout.trim().split('/')[0]! });
      }
    }
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('creates the bridge and a nolearning VXLAN device on UDP 6784 with MTU = underlay - 50', async () => {
    const vx = JSON.parse((await lab.exec(hostNs(1), 'ip', ['-j', '-d', 'link', 'show', 'overlay-vx'])).stdout)[0];
    expect(vx.mtu).toBe(MTU);
    expect(vx.master).toBe('overlay');
    expect(vx.linkinfo.info_data).toMatchObject({ id: 6784, port: 6784, learning: false });
    const br = JSON.parse((await lab.exec(hostNs(1), 'ip', ['-j', '-d', 'link', 'show', 'overlay'])).stdout)[0];
    expect(br.linkinfo.info_kind).toBe('bridge');
    const inC = JSON.parse((await lab.exec(c[0]!.ns, 'ip', ['-j', 'link', 'show', 'ethwe'])).stdout)[0];
    expect(inC.mtu).toBe(MTU);
  });

  it('containers on different hosts ping each other, in both directions', async () => {
    for (const [a, b] of [
      [0, 2],
      [2, 0],
      [1, 5],
      [5, 1],
      [3, 4],
      [0, 1],
    ] as const) {
      expect(await pingSoon(c[a]!.ns, c[b]!.ip), `${c[a]!.ns} -> ${c[b]!.ip}`).toBe(true);
    }
  });

  it('carries TCP across hosts both ways', async () => {
    for (const [server, client] of [
      [c[0]!, c[4]!],
      [c[4]!, c[0]!],
    ]) {
      const sp = lab.spawn(server.ns, process.execPath, ['-e', "require('net').createServer((s) => s.end('hello from ' + process.argv[1])).listen(7000)", server.ns]);
      try {
        const fetch = async () =>
          (await lab.exec(client.ns, process.execPath, ['-e', `const s=require('net').connect(7000,'${server.ip}');let b='';s.on('data',d=>b+=d);s.on('end',()=>{console.log(b)});s.on('error',e=>{console.error(e.message);process.exit(1)})`], { reject: false })).stdout;
        expect(await waitFor(async () => (await fetch()).includes(`hello from ${server.ns}`), 10_000, 200)).toBe(true);
      } finally {
        await lab.stopProcess(sp);
      }
    }
  });

  it('unicast FDB entries point at the host each container lives on; ARP resolves across hosts', async () => {
    const macOf = async (ns: string) => JSON.parse((await lab.exec(ns, 'ip', ['-j', 'link', 'show', 'ethwe'])).stdout)[0].address as string;
    const remoteMac = await macOf(c[2]!.ns);
    expect(await waitFor(async () => (await vxlanFdb(1)).includes(`${remoteMac} dst 198.51.100.2`), 10_000)).toBe(true);
    expect(await vxlanFdb(1)).toMatch(/00:00:00:00:00:00 dst 198\.51\.100\.2/);
    expect(await vxlanFdb(1)).toMatch(/00:00:00:00:00:00 dst 198\.51\.100\.3/);
    await lab.exec(c[0]!.ns, 'ip', ['neigh', 'flush', 'all']);
    expect(await ping(c[0]!.ns, c[2]!.ip)).toBe(true);
    expect((await lab.exec(c[0]!.ns, 'ip', ['neigh', 'show', c[2]!.ip])).stdout).toContain(remoteMac);
  });

  it('broadcast reaches containers on the other hosts', async () => {
    for (const x of c) await lab.exec(x.ns, 'sysctl', ['-q', '-w', 'net.ipv4.icmp_echo_ignore_broadcasts=0']);
    const r = await lab.exec(c[0]!.ns, 'ping', ['-b', '-c', '3', '-i', '0.3', '-W', '1', '10.47.255.255'], { reject: false });
    const from = new Set([...r.stdout.matchAll(/from (10\.\d+\.\d+\.\d+)/g)].map((m) => m[1]));
    for (const x of c.slice(1)) if (x.host !== 1) expect(from, `broadcast reply from ${x.ip} (${x.ns})`).toContain(x.ip);
  });

  it('an MTU-sized ping with DF passes, and the probe reports the MTU per peer', async () => {
    expect(await pingSoon(c[0]!.ns, c[4]!.ip, 5_000, ['-M', 'do', '-s', String(MTU - 28)])).toBe(true);
    expect(await ping(c[0]!.ns, c[4]!.ip, ['-M', 'do', '-s', String(MTU - 27)])).toBe(false);
    expect(await waitFor(async () => ((await overlay(d[0]!, ['status', 'connections'])).stdout.match(/vxlan mtu=1450 ok/g) ?? []).length === 2, 20_000, 500)).toBe(true);
    const metrics = (await overlay(d[0]!, ['status', 'dataplane', '--json'])).stdout;
    expect(JSON.parse(metrics).mtu).toBe(MTU);
  });

  it('a peer that stops loses its FDB entries everywhere; they come back when it returns', async () => {
    expect(await vxlanFdb(1)).toContain('dst 198.51.100.3');
    expect((await overlay(d[2]!, ['stop'])).exitCode).toBe(0);
    expect(await waitFor(async () => !(await vxlanFdb(1)).includes('198.51.100.3') && !(await vxlanFdb(2)).includes('198.51.100.3'), 15_000, 200)).toBe(true);
    expect(await ping(c[0]!.ns, c[4]!.ip)).toBe(false);
    await launch(d[2]!, peersOf(3));
    expect(await waitFor(async () => (await vxlanFdb(1)).includes('00:00:00:00:00:00 dst 198.51.100.3'), 15_000, 200)).toBe(true);
    expect(await pingSoon(c[0]!.ns, c[4]!.ip)).toBe(true);
  });

  it('a device or FDB entry deleted by hand is restored within 10 s', async () => {
    const t0 = Date.now();
    await lab.exec(hostNs(1), 'ip', ['link', 'del', 'overlay-vx']);
    expect(await waitFor(async () => (await vxlanFdb(1)).includes('00:00:00:00:00:00 dst 198.51.100.2'), 10_000, 100)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await pingSoon(c[0]!.ns, c[2]!.ip)).toBe(true);
    await lab.exec(hostNs(1), 'bridge', ['fdb', 'del', '00:00:00:00:00:00', 'dev', 'overlay-vx', 'dst', '198.51.100.3']);
    expect(await waitFor(async () => (await vxlanFdb(1)).includes('00:00:00:00:00:00 dst 198.51.100.3'), 10_000, 100)).toBe(true);
    await lab.exec(hostNs(2), 'ip', ['link', 'del', 'overlay']);
    expect(await pingSoon(c[2]!.ns, c[0]!.ip, 15_000)).toBe(true);
    // The recreated bridge took its container ports back.
    const ports = (JSON.parse((await lab.exec(hostNs(2), 'ip', ['-j', 'link', 'show'])).stdout) as { ifname: string; master?: string }[]).filter((l) => /^ovl[0-9a-f]{12}$/.test(l.ifname));
    expect(ports.length).toBe(2);
    for (const p of ports) expect(p.master, p.ifname).toBe('overlay');
  });

  it('expose gives the host an address: host to containers (same and other hosts), containers to host; hide cuts it', async () => {
    const r = await overlay(d[0]!, ['expose']);
    expect(r.exitCode, r.stderr).toBe(0);
    const hostIp = r.stdout.trim().split('/')[0]!;
    expect(r.stdout.trim()).toMatch(/\/12$/);
    expect((await overlay(d[0]!, ['expose'])).stdout.trim()).toBe(r.stdout.trim()); // idempotent
    expect(await pingSoon(hostNs(1), c[0]!.ip)).toBe(true);
    expect(await pingSoon(hostNs(1), c[2]!.ip)).toBe(true);
    expect(await pingSoon(c[4]!.ns, hostIp)).toBe(true);
    expect(await pingSoon(c[1]!.ns, hostIp)).toBe(true);
    const nat = (await lab.exec(hostNs(1), 'nft', ['list', 'table', 'ip', 'overlay-nat'])).stdout;
    expect(nat).toMatch(/masquerade/);
    // Another host reaches the overlay through the exposed one.
    await lab.exec(hostNs(2), 'ip', ['route', 'add', '10.32.0.0/12', 'via', '198.51.100.1']);
    expect(await pingSoon(hostNs(2), c[4]!.ip)).toBe(true);
    await lab.exec(hostNs(2), 'ip', ['route', 'del', '10.32.0.0/12', 'via', '198.51.100.1']);
    // It survives a daemon restart.
    expect((await overlay(d[0]!, ['stop'])).exitCode).toBe(0);
    await launch(d[0]!, peersOf(1));
    expect(await pingSoon(hostNs(1), c[2]!.ip, 15_000)).toBe(true);
    const h = await overlay(d[0]!, ['hide']);
    expect(h.exitCode, h.stderr).toBe(0);
    expect(h.stdout).toContain(hostIp);
    expect(await ping(hostNs(1), c[2]!.ip)).toBe(false);
    expect((await lab.exec(hostNs(1), 'nft', ['list', 'table', 'ip', 'overlay-nat'], { reject: false })).exitCode).not.toBe(0);
    const lookup = await overlay(d[0]!, ['status', 'dataplane', '--json']);
    expect(JSON.parse(lookup.stdout).exposed).toEqual([]);
  });

  it('expose in a named subnet, without masquerade, and bad arguments are refused clearly', async () => {
    const r = await overlay(d[1]!, ['expose', 'net:10.32.5.0/24', '--without-masquerade']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^10\.32\.5\.\d+\/24$/);
    expect((await lab.exec(hostNs(2), 'nft', ['list', 'table', 'ip', 'overlay-nat'], { reject: false })).exitCode).not.toBe(0);
    const bad = await overlay(d[1]!, ['expose', 'net:10.99.0.0/24']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/not inside the allocation range/);
    const usage = await overlay(d[1]!, ['expose', 'banana']);
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toMatch(/expected net:<CIDR> or ip:<address\/prefix>/);
    expect((await overlay(d[1]!, ['hide', '10.32.5.0/24'])).exitCode).toBe(0);
    // Hiding again is no error (scripts rely on that, as with Weave's hide): exit 0, nothing changed.
    const again = await overlay(d[1]!, ['hide', '10.32.5.0/24']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/10\.32\.5\.0\/24 was not exposed: nothing changed/);
    const none = await overlay(d[1]!, ['hide']);
    expect(none.exitCode, none.stderr).toBe(0);
    expect(none.stdout).toMatch(/nothing changed/);
  });

  it('a daemon stopped while a data path probe is still running exits at once', async () => {
    // h2 drops h1's VXLAN packets, so h1 keeps probing h2 (timeouts, then a binary search).
    const drop = ['add table inet t', 'add chain inet t in { type filter hook input priority 0 ; }', 'add rule inet t in ip saddr 198.51.100.1 udp dport 6784 drop'];
    await lab.exec(hostNs(2), 'nft', ['-f', '-'], { input: drop.join('\n') + '\n' });
    try {
      expect(await waitFor(async () => /vxlan failed/.test((await overlay(d[0]!, ['status', 'connections'])).stdout), 20_000, 300)).toBe(true);
      await new Promise((r) => setTimeout(r, 3_500)); // the next round starts 2 s after a failure and lasts 5 s
      const t0 = Date.now();
      const r = await overlay(d[0]!, ['stop']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await lab.exec(hostNs(2), 'nft', ['delete', 'table', 'inet', 't'], { reject: false });
    }
    await launch(d[0]!, peersOf(1));
    expect(await pingSoon(c[0]!.ns, c[2]!.ip, 15_000)).toBe(true);
  });

  it('detach takes a container off and releases its address; attach refuses a missing netns', async () => {
    const x = c[5]!;
    const r = await overlay(d[2]!, ['detach', x.ns]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`released ${x.ip}`);
    expect((await lab.exec(x.ns, 'ip', ['link', 'show', 'ethwe'], { reject: false })).exitCode).not.toBe(0);
    const missing = await overlay(d[2]!, ['attach', 'no-such-netns-here']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/network namespace \/run\/netns\/no-such-netns-here does not exist/);
  });

  it('attached namespaces get a 224.0.0.0/4 route, unless attached with --no-multicast-route', async () => {
    expect((await lab.exec(c[0]!.ns, 'ip', ['route', 'show', '224.0.0.0/4'])).stdout).toMatch(/224\.0\.0\.0\/4 dev ethwe/);
    const ns = await lab.addNamespace('nomcast');
    const r = await overlay(d[0]!, ['attach', ns, '--no-multicast-route']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await lab.exec(ns, 'ip', ['route', 'show', '224.0.0.0/4'])).stdout.trim()).toBe('');
    expect((await overlay(d[0]!, ['detach', ns])).exitCode).toBe(0);
  });

  it('with a host link whose MTU was lowered, the probe reports the failure instead of losing big packets silently', async () => {
    await lab.exec(lab.switchNs, 'ip', ['link', 'set', 'p3', 'mtu', '1400']);
    try {
      expect(
        await waitFor(async () => /198\.51\.100\.3.*vxlan failed: packets of 1450 bytes are dropped/.test((await overlay(d[0]!, ['status', 'connections'])).stdout), 30_000, 500),
      ).toBe(true);
      const m = (await overlay(d[0]!, ['status', 'connections'])).stdout;
      const passes = Number(/about (\d+) pass/.exec(m)?.[1]);
      expect(passes).toBeGreaterThan(1300);
      expect(passes).toBeLessThanOrEqual(1400 - 50);
    } finally {
      await lab.exec(lab.switchNs, 'ip', ['link', 'set', 'p3', 'mtu', '1500']);
    }
  });

  it('reset removes the bridge, the VXLAN device, the NAT table and the attached containers', async () => {
    await overlay(d[0]!, ['expose']);
    expect((await overlay(d[0]!, ['reset'])).exitCode).toBe(0);
    const links = (await lab.exec(hostNs(1), 'ip', ['-o', 'link', 'show'])).stdout;
    expect(links).not.toMatch(/overlay/);
    expect(links).not.toMatch(/ovl[0-9a-f]{12}/);
    expect((await lab.exec(hostNs(1), 'nft', ['list', 'tables'])).stdout).not.toMatch(/overlay-nat/);
    expect((await lab.exec(c[0]!.ns, 'ip', ['link', 'show', 'ethwe'], { reject: false })).exitCode).not.toBe(0);
  });

  it('reset after the daemon was killed still removes what it left in the kernel, and its state', async () => {
    expect((await overlay(d[1]!, ['expose'])).exitCode).toBe(0);
    await killDaemon(d[1]!);
    const r = await overlay(d[1]!, ['reset']);
    expect(r.exitCode, r.stderr).toBe(0);
    const links = (await lab.exec(hostNs(2), 'ip', ['-o', 'link', 'show'])).stdout;
    expect(links).not.toMatch(/overlay/);
    expect(links).not.toMatch(/ovl[0-9a-f]{12}/);
    expect((await lab.exec(hostNs(2), 'nft', ['list', 'tables'])).stdout).not.toMatch(/overlay/);
    expect((await lab.exec(c[2]!.ns, 'ip', ['link', 'show', 'ethwe'], { reject: false })).exitCode).not.toBe(0);
    expect((await lab.exec(hostNs(2), 'ls', [d[1]!.dataDir])).stdout).not.toMatch(/\bdb\b/);
  });
});
