/**
 * Our plugin chained with Debian's reference portmap and bandwidth plugins, run as libcni
 * runs a conflist: ADD through the chain (each plugin gets the previous result), CHECK
 * with the final result, DEL in reverse order. bandwidth shapes both ways on the host end
 * of the veth (its ingress qdisc and an ifb for the container's egress; a tbf for what
 * reaches the container), so our port filters must not hold that end's qdisc slots.
 * The limits take effect and isolation still holds.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, daemonHost, daemonPid, ipamReady, launch, overlay, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

const PLUGIN = resolve(__dirname, '../../dist/cni/overlay');
const REFERENCE = '/usr/lib/cni';
const LIMIT = 20_000_000; // bits per second, both ways
const haveReference = existsSync(join(REFERENCE, 'bandwidth')) && existsSync(join(REFERENCE, 'portmap'));

describe.skipIf(!haveReference)('chained with the reference portmap and bandwidth plugins', () => {
  let lab: Lab;
  let d: DaemonHost[];
  let shaped: string;
  let shapedIp: string;
  let result: unknown;
  let peerIp: string;

  const conflist = (host: DaemonHost) => ({
    cniVersion: '1.0.0',
    name: 'chain',
    plugins: [
      { type: 'overlay', daemonSocket: host.apiSocket, stateDir: join(host.dataDir, 'cni'), subnet: '10.33.1.0/24' },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      { type: 'bandwidth', ingressRate: LIMIT, ingressBurst: LIMIT / 8, egressRate: LIMIT, egressBurst: LIMIT / 8 },
    ],
  });

  /** One plugin of the chain, as libcni calls it. */
  const runPlugin = async (host: DaemonHost, conf: Record<string, unknown>, command: string, netns: string, prevResult?: unknown) => {
    const bin = conf['type'] === 'overlay' ? PLUGIN : join(REFERENCE, String(conf['type']));
    const list = conflist(host);
    const input = { cniVersion: list.cniVersion, name: list.name, ...conf, ...(prevResult ? { prevResult } : {}), runtimeConfig: { portMappings: [] } };
    return execa('ip', ['netns', 'exec', host.host.ns, bin], {
      reject: false,
      env: { CNI_COMMAND: command, CNI_CONTAINERID: 'chained1', CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: REFERENCE },
      input: JSON.stringify(input),
    });
  };

  const ping = async (ns: string, ip: string) => (await lab.exec(ns, 'ping', ['-c', '1', '-W', '1', ip], { reject: false })).exitCode === 0;

  /** iperf3 from `client` to `serverIp` (in `server`), in bits per second; `reverse` measures server → client. */
  const rate = async (client: string, server: string, serverIp: string, reverse: boolean) => {
    const srv = lab.spawn(server, 'iperf3', ['-s', '-1']);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = await lab.exec(client, 'iperf3', ['-c', serverIp, '-t', '4', '-J', ...(reverse ? ['-R'] : [])], { timeoutMs: 30_000 });
      return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
    } finally {
      await lab.stopProcess(srv);
    }
  };

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, label: 'chain' });
    d = [1, 2].map((i) => daemonHost(lab, i));
    await launch(d[0]!, ['198.51.100.2']);
    await launch(d[1]!, ['198.51.100.1']);
    expect(await ipamReady(d)).toBe(true);
    shaped = await lab.addNamespace('shaped');
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('ADD runs through overlay, portmap and bandwidth; CHECK passes', async () => {
    let prev: unknown;
    for (const p of conflist(d[0]!).plugins) {
      const r = await runPlugin(d[0]!, p, 'ADD', shaped, prev);
      expect(r.exitCode, `${p.type} ADD: ${r.stdout} ${r.stderr}`).toBe(0);
      prev = JSON.parse(r.stdout);
    }
    result = prev;
    shapedIp = (result as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    for (const p of conflist(d[0]!).plugins) {
      const r = await runPlugin(d[0]!, p, 'CHECK', shaped, result);
      expect(r.exitCode, `${p.type} CHECK: ${r.stdout} ${r.stderr}`).toBe(0);
    }
    // bandwidth holds the host end's ingress slot and root; our filters are on the container end.
    const hostVeth = (result as { interfaces: { name: string; sandbox?: string }[] }).interfaces.find((i) => /^ovl[0-9a-f]{12}$/.test(i.name))!.name;
    const qdiscs = (await lab.exec(d[0]!.host.ns, 'tc', ['qdisc', 'show', 'dev', hostVeth])).stdout;
    expect(qdiscs).toMatch(/qdisc ingress ffff:/);
    expect(qdiscs).toMatch(/qdisc tbf/);
    expect((await lab.exec(shaped, 'tc', ['filter', 'show', 'dev', 'eth0', 'egress'])).stdout).toContain('direct-action');
  });

  it('the limits take effect both ways, and the daemon leaves bandwidth’s qdiscs alone', async () => {
    const peer = await lab.addNamespace('peer');
    const r = await overlay(d[1]!, ['attach', peer, 'net:10.33.1.0/24']);
    expect(r.exitCode, r.stderr).toBe(0);
    peerIp = r.stdout.trim().split('/')[0]!;
    expect(await waitFor(() => ping(shaped, peerIp), 10_000, 200)).toBe(true);
    const out = await rate(shaped, peer, peerIp, false);
    const back = await rate(shaped, peer, peerIp, true);
    expect(out).toBeLessThan(LIMIT * 1.1);
    expect(back).toBeLessThan(LIMIT * 1.1);
    expect(out).toBeGreaterThan(LIMIT * 0.3); // shaped, not cut off
    const repairs = (await execa('cat', [`${d[0]!.dataDir}/overlay.log`])).stdout;
    expect(repairs).not.toMatch(/restored the port filters/);
  });

  it('isolation still holds: another subnet cannot reach the shaped container, nor can it spoof', async () => {
    const other = await lab.addNamespace('other');
    const r = await overlay(d[1]!, ['attach', other, 'net:10.33.2.0/24']);
    expect(r.exitCode, r.stderr).toBe(0);
    const otherIp = r.stdout.trim().split('/')[0]!;
    expect(await ping(other, shapedIp)).toBe(false);
    expect(await ping(shaped, otherIp)).toBe(false);
    // With every nftables rule gone and the daemon frozen (ours, by PID: nothing restores the
    // rules meanwhile), the filters on the container end alone still refuse a spoofed source.
    const pid = daemonPid(d[0]!)!;
    process.kill(pid, 'SIGSTOP');
    try {
      await lab.exec(d[0]!.host.ns, 'nft', ['flush', 'ruleset']);
      await lab.exec(shaped, 'ip', ['addr', 'add', '10.33.2.250/24', 'dev', 'eth0']);
      expect(await ping(shaped, otherIp)).toBe(false);
      await lab.exec(shaped, 'ip', ['addr', 'del', '10.33.2.250/24', 'dev', 'eth0']);
      expect(await ping(shaped, peerIp)).toBe(true); // and let its own subnet through
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('DEL runs through the chain in reverse and leaves nothing', async () => {
    for (const p of [...conflist(d[0]!).plugins].reverse()) {
      const r = await runPlugin(d[0]!, p, 'DEL', shaped, result);
      expect(r.exitCode, `${p.type} DEL: ${r.stdout} ${r.stderr}`).toBe(0);
    }
    const links = (await lab.exec(d[0]!.host.ns, 'ip', ['-o', 'link', 'show'])).stdout;
    expect(links).not.toMatch(/ovl[0-9a-f]{12}|bwp/);
  });
});
