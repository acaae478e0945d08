/**
 * Multicast and broadcast through isolation, as Weave users rely on: three
 * hosts, containers attached by the real plugin binary with isolation on, on
 * two subnets. From a container on h1, an ICMP ping to 224.0.0.1, a UDP stream
 * to 239.1.1.1 and UDP to 255.255.255.255 reach the containers of its subnet
 * on h2 and h3; the containers of the other subnet (on the sender's host and
 * on the others) receive none of it, not even at L2 (a capture inside them
 * sees nothing from the sender's subnet). With every nftables rule flushed
 * and the daemons frozen, the ports' filters alone keep the other subnet's
 * stacks from receiving any of it (the filters of CNI ports sit on the
 * container end, after a capture inside the container taps the frame).
 */
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, daemonHost, ipamReady, launch, withRulesFlushedAndDaemonsFrozen, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab, type SpawnedProcess } from '../../scripts/lab/lab.js';

const PLUGIN = resolve(__dirname, '../../dist/cni/overlay');
const SUBNETS = { a: '10.32.1.0/24', b: '10.32.2.0/24' } as const;
/** [name, host, tenant]: the sender a1, its subnet's a2 and a3 on the other hosts, and the other subnet everywhere. */
const CONTAINERS = [
  ['a1', 1, 'a'],
  ['a2', 2, 'a'],
  ['a3', 3, 'a'],
  ['b1', 1, 'b'],
  ['b2', 2, 'b'],
  ['b3', 3, 'b'],
] as const;

/** A UDP receiver: joins the group (unless "-") on its interface, counts datagrams per sender, prints them when told to stop. */
const RECEIVER = `const s = require('dgram').createSocket({ type: 'udp4', reuseAddr: true });
const [group, port, own] = process.argv.slice(1); const seen = {};
s.on('message', (m, r) => { seen[r.address] = (seen[r.address] || 0) + 1; });
s.bind(Number(port), () => { if (group !== '-') s.addMembership(group, own); console.log('ready'); });
process.on('SIGTERM', () => { console.log(JSON.stringify(seen)); process.exit(0); });`;
/** A UDP sender: n datagrams from its own address, 50 ms apart. */
const SENDER = `const s = require('dgram').createSocket('udp4');
const [src, dst, port, n] = process.argv.slice(1);
s.bind(0, src, () => { s.setBroadcast(true); let i = 0;
  const t = setInterval(() => { s.send('m' + i, Number(port), dst); if (++i >= Number(n)) { clearInterval(t); setTimeout(() => process.exit(0), 200); } }, 50); });`;

interface Ctr {
  ns: string;
  ip: string;
  host: number;
  tenant: 'a' | 'b';
}

describe('multicast and broadcast with isolation on, across three hosts', () => {
  let lab: Lab;
  let d: DaemonHost[];
  const c: Record<string, Ctr> = {};

  const addCtr = async (name: string, host: number, tenant: 'a' | 'b', extra: Record<string, unknown> = {}) => {
    const ns = await lab.addNamespace(name);
    const h = d[host - 1]!;
    const r = await execa('ip', ['netns', 'exec', h.host.ns, PLUGIN], {
      reject: false,
      env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: name, CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
      input: JSON.stringify({ cniVersion: '1.0.0', name: `tenant-${tenant}`, type: 'overlay', subnet: SUBNETS[tenant], isolation: true, daemonSocket: h.apiSocket, stateDir: join(h.dataDir, 'cni'), ...extra }),
    });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    return { ns, host, tenant, ip: (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]! };
  };

  /** Start a process in each namespace and resolve once every one printed "ready" (or, for tcpdump, its banner). */
  const startAll = async (spawn: (x: Ctr) => SpawnedProcess, ready: RegExp, xs: Ctr[]) => {
    const procs = xs.map((x) => ({ x, sp: spawn(x) }));
    await Promise.all(
      procs.map(
        ({ sp }) =>
          new Promise<void>((res, rej) => {
            let seen = '';
            const look = (b: Buffer) => {
              seen += b.toString();
              if (ready.test(seen)) res();
            };
            sp.proc.stdout?.on('data', look);
            sp.proc.stderr?.on('data', look);
            void sp.proc.then(() => rej(new Error(`${sp.label} ended before it was ready: ${seen}`)));
          }),
      ),
    );
    return procs;
  };
  const stopAll = async (procs: { x: Ctr; sp: SpawnedProcess }[]) => {
    const out = new Map<string, string>();
    for (const { x, sp } of procs) {
      await lab.stopProcess(sp);
      const r = await sp.proc;
      out.set(x.ns, `${r.stdout}\n${r.stderr}`);
    }
    return out;
  };
  /**
   * Inside every container of the other subnet: a capture of anything whose sender is in the
   * sender's subnet. And the same in a2, which must see the packets (the capture works).
   */
  const captureOtherSubnet = () =>
    startAll((x) => lab.spawn(x.ns, 'tcpdump', ['-i', 'eth0', '-n', '-l', '-p', 'src', 'net', SUBNETS.a], { label: `tcpdump ${x.ns}` }), /listening on/, [c['a2']!, ...others()]);
  const packetsCaptured = (text: string) => text.split('\n').filter((l) => /^\d\d:\d\d:\d\d/.test(l));
  const checkCaptures = async (captures: Awaited<ReturnType<typeof captureOtherSubnet>>) => {
    const got = await stopAll(captures);
    expect(packetsCaptured(got.get(c['a2']!.ns)!).length, 'what a2 captured').toBeGreaterThan(0);
    for (const x of others()) expect(packetsCaptured(got.get(x.ns)!), `what ${x.ns} captured`).toEqual([]);
  };
  const sameSubnetRemote = () => [c['a2']!, c['a3']!];
  const others = () => [c['b1']!, c['b2']!, c['b3']!];

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3, label: 'mcast' });
    d = [1, 2, 3].map((i) => daemonHost(lab, i));
    for (const i of [1, 2, 3]) await launch(d[i - 1]!, [1, 2, 3].filter((j) => j !== i).map((j) => `198.51.100.${j}`));
    expect(await ipamReady(d)).toBe(true);
    for (const [name, host, tenant] of CONTAINERS) {
      c[name] = await addCtr(name, host, tenant);
      // Answer pings to groups and broadcast (the kernel's default is to ignore them).
      await lab.exec(c[name]!.ns, 'sysctl', ['-q', '-w', 'net.ipv4.icmp_echo_ignore_broadcasts=0']);
    }
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('containers get a 224.0.0.0/4 route, unless the network opts out (multicastRoute: false)', async () => {
    expect((await lab.exec(c['a1']!.ns, 'ip', ['route', 'show', '224.0.0.0/4'])).stdout).toMatch(/224\.0\.0\.0\/4 dev eth0/);
    const quiet = await addCtr('q1', 1, 'a', { multicastRoute: false });
    expect((await lab.exec(quiet.ns, 'ip', ['route', 'show', '224.0.0.0/4'])).stdout.trim()).toBe('');
  });

  it('an ICMP ping to 224.0.0.1 (ping -I eth0) is answered by the subnet on the other hosts, and the other subnet sees none of it', async () => {
    const captures = await captureOtherSubnet();
    let from = new Set<string>();
    // The first round may go out before the other hosts' FDB lists every peer; a later one must reach all.
    for (let round = 0; round < 5; round++) {
      const r = await lab.exec(c['a1']!.ns, 'ping', ['-I', 'eth0', '-c', '3', '-i', '0.3', '-W', '1', '224.0.0.1'], { reject: false });
      from = new Set([...r.stdout.matchAll(/from (10\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!));
      if (sameSubnetRemote().every((x) => from.has(x.ip))) break;
    }
    for (const x of sameSubnetRemote()) expect(from, `a reply from ${x.ns} (${x.ip})`).toContain(x.ip);
    for (const x of others()) expect(from).not.toContain(x.ip);
    await checkCaptures(captures);
  });

  /**
   * The sender streams to a group (or "-": limited broadcast); what did each receiver get from it?
   * `l2`: also capture inside the other subnet's containers. Without nftables a CNI port's filter
   * is on its container end (bandwidth owns the host end's qdiscs), and a capture inside the
   * container taps frames before that filter drops them, so then only what reaches the stack counts.
   */
  const stream = async (group: string, port: number, l2 = true) => {
    const captures = l2 ? await captureOtherSubnet() : undefined;
    const receivers = await startAll((x) => lab.spawn(x.ns, process.execPath, ['-e', RECEIVER, group, String(port), x.ip], { label: `receiver ${x.ns}` }), /ready/, [
      ...sameSubnetRemote(),
      ...others(),
    ]);
    const dst = group === '-' ? '255.255.255.255' : group;
    await lab.exec(c['a1']!.ns, process.execPath, ['-e', SENDER, c['a1']!.ip, dst, String(port), '20']);
    await new Promise((r) => setTimeout(r, 500));
    const got = await stopAll(receivers);
    const countFrom = (ns: string) => (JSON.parse(got.get(ns)!.split('\n').find((l) => l.startsWith('{')) ?? '{}') as Record<string, number>)[c['a1']!.ip] ?? 0;
    for (const x of sameSubnetRemote()) expect(countFrom(x.ns), `datagrams ${x.ns} received`).toBeGreaterThanOrEqual(18);
    for (const x of others()) expect(countFrom(x.ns), `datagrams ${x.ns} received`).toBe(0);
    if (captures) await checkCaptures(captures);
  };

  for (const [what, group, port] of [
    ['a UDP multicast stream to 239.1.1.1', '239.1.1.1', 5000],
    ['UDP to the limited broadcast address', '-', 5001],
  ] as const) {
    it(`${what} reaches the subnet on the other hosts, and no container of the other subnet`, () => stream(group, port));
  }

  it('with every nftables rule gone and the daemons frozen, the port filters alone keep groups inside their subnet', async () => {
    const restored = await withRulesFlushedAndDaemonsFrozen(lab, d, async () => {
      await stream('239.1.1.1', 5002, false);
      await stream('-', 5003, false);
    });
    expect(restored, 'the isolation rules come back after the thaw').toBe(true);
  });
});
