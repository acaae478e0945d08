/**
 * The encrypted data plane on real daemons: three namespaced hosts with a
 * password, so VXLAN between them runs through WireGuard (wireguard-go here:
 * this kernel has no WireGuard module). h2 and h3 both trust the lab subnet,
 * so that one pair talks plain VXLAN. A capture on the lab switch shows what
 * an eavesdropper on the host links would see.
 */
import { execa } from 'execa';
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, statusJson, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab, type SpawnedProcess } from '../../scripts/lab/lab.js';

const PASSWORD = { OVERLAY_PASSWORD: 'correct horse battery staple' };
/** Carried in ping payloads and in a nickname (control gossip); must never be readable on the wire when encrypted. */
const MARKER = 'SECRETMARKER';
const MARKER_HEX = Buffer.from(MARKER).toString('hex');

describe('WireGuard-encrypted data plane on real daemons', () => {
  let lab: Lab;
  let d: DaemonHost[];
  const c: { ns: string; ip: string }[] = [];
  const peersOf = (i: number) => [1, 2, 3].filter((j) => j !== i).map((j) => `198.51.100.${j}`);
  const argsOf = (i: number) => [...peersOf(i), ...(i === 1 ? ['--nickname', `h1-${MARKER}`] : ['--trusted-subnets', '198.51.100.0/24'])];
  const ping = async (ns: string, ip: string, extra: string[] = []) => (await lab.exec(ns, 'ping', ['-c', '1', '-W', '1', ...extra, ip], { reject: false })).exitCode === 0;
  // (a later -c in `extra` overrides the first)

  /** Names of the processes running in a namespace. */
  const processesIn = async (ns: string) => {
    const pids = (await execa('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean);
    return pids.map((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      } catch {
        return '';
      }
    });
  };

  /** Capture on one switch port while `during` runs; returns the raw pcap bytes. */
  async function capture(port: string, during: () => Promise<void>): Promise<Buffer> {
    const file = `/tmp/${lab.prefix}-${port}.pcap`;
    const sp: SpawnedProcess = lab.spawn(lab.switchNs, 'tcpdump', ['-i', port, '--immediate-mode', '-U', '-s', '0', '-w', file]);
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      await during();
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await lab.stopProcess(sp);
    }
    const bytes = readFileSync(file);
    rmSync(file, { force: true });
    return bytes;
  }

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3, label: 'enc' });
    d = [1, 2, 3].map((i) => daemonHost(lab, i));
    for (const i of [1, 2, 3]) await launch(d[i - 1]!, argsOf(i), PASSWORD);
    expect(await ipamReady(d)).toBe(true);
    for (const i of [1, 2, 3]) {
      const ns = await lab.addNamespace(`c${i}`);
      const r = await overlay(d[i - 1]!, ['attach', ns]);
      expect(r.exitCode, r.stderr).toBe(0);
      c.push({ ns, ip: r.stdout.trim().split('/')[0]! });
    }
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('containers reach each other across hosts, through wireguard-go between untrusted peers', async () => {
    for (const [a, b] of [
      [0, 1],
      [1, 0],
      [0, 2],
      [1, 2],
    ] as const) {
      expect(await waitFor(() => ping(c[a]!.ns, c[b]!.ip), 20_000, 200), `${a} -> ${b}`).toBe(true);
    }
    expect(await processesIn(d[0]!.host.ns)).toContain('wireguard-go');
    const wg = (await lab.exec(d[0]!.host.ns, 'wg', ['show', d[0]!.env['OVERLAY_WIREGUARD_DEV']!, 'peers'])).stdout.trim().split('\n');
    expect(wg.length).toBe(2);
  });

  it('the MTU leaves room for WireGuard, and a full-size packet with DF crosses', async () => {
    const dp = await statusJson<{ mtu: number; underlay: { mtu: number } }>(d[0]!, 'dataplane');
    expect(dp.mtu).toBe(dp.underlay.mtu - 50 - 60);
    expect(await ping(c[0]!.ns, c[1]!.ip, ['-M', 'do', '-s', String(dp.mtu - 28)])).toBe(true);
  });

  it('status says encrypted or trusted per connection, and the data plane names its WireGuard device', async () => {
    const st = (await overlay(d[1]!, ['status'])).stdout;
    expect(st).toMatch(/Encryption:\s+enabled/);
    expect(st).toMatch(/WireGuard: wireguard-go on \S+ UDP 6785: 1 peers encrypted, 1 trusted/);
    expect(await waitFor(async () => ((await overlay(d[1]!, ['status', 'connections'])).stdout.match(/mtu=\d+ ok/g) ?? []).length === 2, 20_000, 500)).toBe(true);
    const conns = (await overlay(d[1]!, ['status', 'connections'])).stdout.split('\n');
    expect(conns.find((l) => l.includes('198.51.100.1'))).toMatch(/ encrypted vxlan mtu=\d+ ok/);
    expect(conns.find((l) => l.includes('198.51.100.3'))).toMatch(/ encrypted trusted \(plain vxlan\) vxlan mtu=\d+ ok/);
  });

  it('a capture on the host link never shows the marker between encrypted peers; between trusted peers it does', async () => {
    const encrypted = await capture('p1', async () => {
      // A restart of h1: handshakes and gossip, all carrying h1's nickname with the marker.
      expect((await overlay(d[0]!, ['stop'])).exitCode).toBe(0);
      await launch(d[0]!, argsOf(1), PASSWORD);
      expect(await waitFor(() => ping(c[0]!.ns, c[1]!.ip), 20_000, 200)).toBe(true);
      expect(await ping(c[0]!.ns, c[1]!.ip, ['-c', '3', '-i', '0.2', '-p', MARKER_HEX])).toBe(true);
      expect(await ping(c[1]!.ns, c[0]!.ip, ['-c', '3', '-i', '0.2', '-p', MARKER_HEX])).toBe(true);
    });
    expect(encrypted.length).toBeGreaterThan(1_000);
    expect(encrypted.includes(Buffer.from(MARKER)), 'marker seen between encrypted peers').toBe(false);
    expect(encrypted.includes(Buffer.from('h1-')), 'nickname seen in control traffic').toBe(false);
    // The same test between the trusted pair sees it: the check can fail.
    const plain = await capture('p3', async () => {
      expect(await ping(c[1]!.ns, c[2]!.ip, ['-c', '3', '-i', '0.2', '-p', MARKER_HEX])).toBe(true);
    });
    expect(plain.includes(Buffer.from(MARKER)), 'marker not seen between trusted peers').toBe(true);
  });

  it('plain VXLAN towards an encrypted peer is never sent, even if the steering rule is deleted by hand', async () => {
    await lab.exec(d[0]!.host.ns, 'ip', ['rule', 'del', 'pref', '6784']);
    const leaked = await capture('p1', async () => {
      await ping(c[0]!.ns, c[1]!.ip, ['-p', MARKER_HEX]);
    });
    expect(leaked.includes(Buffer.from(MARKER))).toBe(false);
    // The reconcile puts the rule back.
    expect(await waitFor(() => ping(c[0]!.ns, c[1]!.ip), 15_000, 300)).toBe(true);
  });

  it('traffic flows again after a peer restarts, and after its wireguard-go is killed', async () => {
    expect((await overlay(d[1]!, ['stop'])).exitCode).toBe(0);
    await launch(d[1]!, argsOf(2), PASSWORD);
    expect(await waitFor(() => ping(c[0]!.ns, c[1]!.ip), 20_000, 300)).toBe(true);
    // The WireGuard device deleted by hand (wireguard-go exits with it) is recreated.
    await lab.exec(d[0]!.host.ns, 'ip', ['link', 'del', d[0]!.env['OVERLAY_WIREGUARD_DEV']!]);
    expect(await waitFor(() => ping(c[0]!.ns, c[1]!.ip), 20_000, 300)).toBe(true);
  });

  it('reset removes the WireGuard device, its rule, routes and guard table', async () => {
    expect((await overlay(d[0]!, ['reset'])).exitCode).toBe(0);
    const ns = d[0]!.host.ns;
    expect((await lab.exec(ns, 'ip', ['-o', 'link', 'show'])).stdout).not.toContain(d[0]!.env['OVERLAY_WIREGUARD_DEV']!);
    expect((await lab.exec(ns, 'ip', ['rule', 'show'])).stdout).not.toMatch(/lookup 6784/);
    expect((await lab.exec(ns, 'ip', ['route', 'show', 'table', '6784'], { reject: false })).stdout.trim()).toBe('');
    expect((await lab.exec(ns, 'nft', ['list', 'tables'])).stdout).not.toMatch(/overlay-wireguard/);
    expect(await waitFor(async () => !(await processesIn(ns)).includes('wireguard-go'), 5_000)).toBe(true);
  });
});

describe('the same capture without a password', () => {
  it('shows the nickname in the control traffic and the marker in container traffic: the checks above can fail', async () => {
    const lab = await Lab.create({ hosts: 2, label: 'plain' });
    const d = [1, 2].map((i) => daemonHost(lab, i));
    try {
      await launch(d[0]!, ['198.51.100.2', '--nickname', `h1-${MARKER}`]);
      await launch(d[1]!, ['198.51.100.1']);
      expect(await ipamReady(d)).toBe(true);
      const c1 = await lab.addNamespace('c1');
      const c2 = await lab.addNamespace('c2');
      await overlay(d[0]!, ['attach', c1]);
      const ip2 = (await overlay(d[1]!, ['attach', c2])).stdout.trim().split('/')[0]!;
      const file = `/tmp/${lab.prefix}.pcap`;
      const sp = lab.spawn(lab.switchNs, 'tcpdump', ['-i', 'p1', '--immediate-mode', '-U', '-s', '0', '-w', file]);
      try {
        await new Promise((r) => setTimeout(r, 1_000));
        expect((await overlay(d[0]!, ['stop'])).exitCode).toBe(0);
        await launch(d[0]!, ['198.51.100.2', '--nickname', `h1-${MARKER}`]);
        expect(await waitFor(async () => (await lab.exec(c1, 'ping', ['-c', '1', '-W', '1', '-p', MARKER_HEX, ip2], { reject: false })).exitCode === 0, 20_000, 200)).toBe(true);
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        await lab.stopProcess(sp);
      }
      const bytes = readFileSync(file);
      rmSync(file, { force: true });
      expect(bytes.includes(Buffer.from(`"nickname":"h1-${MARKER}"`))).toBe(true);
      expect(bytes.includes(Buffer.from('MARKERSECRET'))).toBe(true); // the repeated ping pattern, not the nickname
    } finally {
      await cleanupDaemons(d);
      await lab.destroy();
    }
  });
});
