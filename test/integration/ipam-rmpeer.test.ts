/**
 * rmpeer on real daemons, with containers attached by the real CNI plugin:
 *  - 5 hosts; h5 is cut off by a partition but keeps running. rmpeer of it on
 *    h1 is refused without --force (seen alive less than a heartbeat timeout
 *    ago), then forced. Both sides attach containers in h5's old space, so
 *    the same addresses are handed out twice; after the heal every one of
 *    them is reported as a conflict in `overlay status` on h1 and on h5, with
 *    both owner ids and the way out, and h5 keeps its containers' addresses.
 *    Deleting one container of a pair clears that conflict on both hosts.
 *  - Weave's scenario: h1 seeds the ring alone, h2 and h3 join as observers
 *    with no space, h1 dies for good. rmpeer h1 on h2 succeeds once h1 has
 *    been gone longer than a heartbeat timeout, and containers then start on
 *    h2 and h3.
 *  - A 3-host cluster loses 2 hosts for good: neither can be removed alone
 *    (no majority of the other owners answers), both can in one command.
 */
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, daemonHost, fullMesh, ipamReady, killDaemon, launch, overlay, statusJson, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';
import { ipToInt, intToIp } from '../../src/lib/ipv4.js';

const PLUGIN = resolve(__dirname, '../../dist/cni/overlay');
const HEARTBEAT_TIMEOUT_MS = 30_000;

interface CniResult {
  ips: { address: string }[];
}
interface IpamJson {
  status: string;
  conflicts: { address: string; owner: string; otherPeer: string; otherOwner: string }[];
  peers: { name: string; nickname: string; reachable: boolean }[];
}
interface Report {
  ipam: { ring: { start: string; end: string; peer: string }[]; allocations: { owner: string; address: string }[] };
}

const report = async (d: DaemonHost) => JSON.parse((await overlay(d, ['report'])).stdout) as Report;

/** CNI ADD (the container's address) or DEL through the real plugin binary. */
function cniOn() {
  return (host: DaemonHost, command: 'ADD' | 'DEL', containerId: string, netns: string, subnet?: string) =>
    execa('ip', ['netns', 'exec', host.host.ns, PLUGIN], {
      reject: false,
      env: { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
      input: JSON.stringify({ cniVersion: '1.0.0', name: 'ovrm', type: 'overlay', daemonSocket: host.apiSocket, stateDir: join(host.dataDir, 'cni'), ...(subnet ? { subnet } : {}) }),
    }).then((r) => {
      if (r.exitCode !== 0) throw new Error(`CNI ${command} ${containerId} on h${host.host.index} failed: ${r.stdout} ${r.stderr}`);
      return command === 'ADD' ? (JSON.parse(r.stdout) as CniResult).ips[0]!.address.split('/')[0]! : '';
    });
}

const sees = async (d: DaemonHost, nickname: string, reachable: boolean) => (await statusJson<IpamJson>(d, 'ipam')).peers.some((p) => p.nickname === nickname && p.reachable === reachable);

describe('rmpeer of a live peer behind a partition, on 5 real hosts with CNI containers', () => {
  let lab: Lab;
  let d: DaemonHost[] = [];
  afterAll(async () => {
    await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('is refused without --force; forced, the addresses both sides hand out are conflicts on both hosts after the heal', { timeout: 300_000 }, async () => {
    lab = await Lab.create({ hosts: 5, label: 'rmlive' });
    d = [1, 2, 3, 4, 5].map((i) => daemonHost(lab, i));
    const cni = cniOn();
    const peers = (i: number) => [1, 2, 3, 4, 5].filter((j) => j !== i).map((j) => `198.51.100.${j}`);
    await Promise.all(d.map((x, i) => launch(x, ['--ipalloc-range', '10.34.0.0/16', ...peers(i + 1)])));
    expect(await ipamReady(d, 60_000)).toBe(true);

    // A /24 inside h5's space.
    const h5Name = (await statusJson<{ name: string }>(d[4]!)).name;
    // The ring lists h5's space in pieces (it is cut at fixed chunk boundaries), and where the
    // piece boundaries fall depends on the peers' random names: take a piece that holds a whole /24.
    const aligned = (s: { start: string }) => Math.ceil(ipToInt(s.start) / 256) * 256;
    const span = (await report(d[4]!)).ipam.ring.find((s) => s.peer === h5Name && aligned(s) + 255 <= ipToInt(s.end));
    expect(span, 'h5 owns a whole /24 somewhere').toBeDefined();
    const first = aligned(span!);
    const subnet = `${intToIp(first)}/24`;

    await lab.setLink(5, false); // the partition: h5 keeps running
    expect(await waitFor(() => sees(d[0]!, 'h5', false), HEARTBEAT_TIMEOUT_MS + 30_000, 500)).toBe(true);

    const refused = await overlay(d[0]!, ['rmpeer', 'h5']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/seen alive \d+ s ago.*heartbeat timeout.*--force/);
    const forced = await overlay(d[0]!, ['rmpeer', '--force', 'h5']);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/Removed .*\(h5\): its \d+ addresses now belong to .*\(h1\)\. When last seen .* it had \d+ addresses in use\. .*only cut off by a partition.*conflict/);

    const ns: string[] = [];
    for (let k = 0; k < 6; k++) ns.push(await lab.addNamespace(`c${k}`));
    const onH1: string[] = [];
    const onH5: string[] = [];
    for (let k = 0; k < 3; k++) onH1.push(await cni(d[0]!, 'ADD', `h1c${k}`, ns[k]!, subnet));
    for (let k = 0; k < 3; k++) onH5.push(await cni(d[4]!, 'ADD', `h5c${k}`, ns[3 + k]!, subnet));
    expect([...onH1].sort()).toEqual([...onH5].sort()); // what no design can prevent while the partition lasts

    await lab.setLink(5, true);
    const conflictsOn = async (i: number) => (await statusJson<IpamJson>(d[i]!, 'ipam')).conflicts;
    expect(await waitFor(async () => (await conflictsOn(0)).length === 3 && (await conflictsOn(4)).length === 3, 90_000, 500), 'conflicts reported on both sides').toBe(true);
    for (const [i, mine, theirs] of [
      [0, 'h1c', 'h5c'],
      [4, 'h5c', 'h1c'],
    ] as const) {
      const summary = (await overlay(d[i]!, ['status'])).stdout;
      for (const a of onH1) expect(summary).toMatch(new RegExp(`Conflict: ${a.replace(/\./g, '\\.')} held here by ${mine}\\d:eth0 and on .* by ${theirs}\\d:eth0`));
      expect(summary).toMatch(/WayOut: remove one of the two containers/);
      const text = (await overlay(d[i]!, ['status', 'ipam'])).stdout;
      expect(text).toMatch(/CONFLICTS: 3 address\(es\) held both here and on another peer/);
      expect(text).toMatch(/Way out: remove one of the two containers/);
    }
    // h5 did not give way: its containers keep their addresses.
    const h5Allocs = (await report(d[4]!)).ipam.allocations;
    for (let k = 0; k < 3; k++) expect(h5Allocs.find((a) => a.owner === `h5c${k}:eth0`)?.address).toBe(onH5[k]);
    // Nobody hands out again what h5 holds.
    const more = await lab.addNamespace('c9');
    expect(onH5).not.toContain(await cni(d[1]!, 'ADD', 'h2c0', more, subnet));

    // The way out: delete one container of a pair; that conflict clears on both hosts.
    await cni(d[0]!, 'DEL', 'h1c0', ns[0]!, subnet);
    expect(await waitFor(async () => (await conflictsOn(0)).length === 2 && (await conflictsOn(4)).length === 2, 30_000, 500)).toBe(true);
  });
});

describe("Weave's scenario: the only owner dies before anyone was given space", () => {
  let lab: Lab;
  let d: DaemonHost[] = [];
  afterAll(async () => {
    await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('rmpeer of it on h2 succeeds once it has been gone a heartbeat timeout; containers then start on h2 and h3', { timeout: 240_000 }, async () => {
    lab = await Lab.create({ hosts: 3, label: 'rmlast' });
    d = [1, 2, 3].map((i) => daemonHost(lab, i));
    const cni = cniOn();
    await launch(d[0]!, ['--ipalloc-range', '10.34.0.0/16']);
    expect(await ipamReady([d[0]!])).toBe(true);
    await launch(d[1]!, ['--ipalloc-range', '10.34.0.0/16', '--ipalloc-init', 'observer', '198.51.100.1']);
    await launch(d[2]!, ['--ipalloc-range', '10.34.0.0/16', '--ipalloc-init', 'observer', '198.51.100.1']);
    expect(await ipamReady(d)).toBe(true);
    const owners = async (x: DaemonHost) => new Set((await report(x)).ipam.ring.map((s) => s.peer)).size;
    expect(await owners(d[1]!)).toBe(1); // h2 and h3 were given no space
    expect(await owners(d[2]!)).toBe(1);

    const before = [...new Set((await report(d[1]!)).ipam.ring.map((s) => s.peer))][0]!; // h1, the only owner
    // h2 and h3 were given only h1's address and find each other through its gossip. Once h1 is
    // dead they hear of each other only over their own link, and a peer reachable no other way is
    // forgotten (its address with it) a second later: killed before they connect, they never do,
    // and h3 would never hear of the takeover. The scenario is a cluster that had formed.
    expect(await waitFor(() => fullMesh(d), 30_000, 200), 'h2 and h3 connected to each other').toBe(true);
    await killDaemon(d[0]!); // for good
    expect(await waitFor(async () => (await sees(d[1]!, 'h1', false)) && (await sees(d[2]!, 'h1', false)), 60_000, 200)).toBe(true);
    const early = await overlay(d[1]!, ['rmpeer', 'h1']);
    expect(early.exitCode).not.toBe(0);
    expect(early.stderr).toMatch(/seen alive/);
    expect(early.stderr).not.toMatch(/refusing rmpeer during a partition/);
    // Once it has been gone longer than a heartbeat timeout, rmpeer goes through without --force.
    let ok = false;
    const deadline = Date.now() + HEARTBEAT_TIMEOUT_MS + 30_000;
    while (!ok && Date.now() < deadline) {
      const r = await overlay(d[1]!, ['rmpeer', 'h1']);
      if (r.exitCode === 0) {
        expect(r.stdout).toMatch(/its 65536 addresses now belong to .*\(h2\)/);
        ok = true;
      } else {
        expect(r.stderr).toMatch(/seen alive/);
        await new Promise((res) => setTimeout(res, 2_000));
      }
    }
    expect(ok, 'rmpeer of the dead only owner went through').toBe(true);
    // h3 hears of the takeover by gossip; its first ADD then asks h2 for space (a runtime would retry an ADD sent before).
    expect(await waitFor(async () => (await report(d[2]!)).ipam.ring.every((s) => s.peer !== before), 30_000, 200), 'h3 sees the takeover').toBe(true);
    const a = await cni(d[1]!, 'ADD', 'on-h2', await lab.addNamespace('k2'));
    const b = await cni(d[2]!, 'ADD', 'on-h3', await lab.addNamespace('k3'));
    expect(a).toMatch(/^10\.34\./);
    expect(b).toMatch(/^10\.34\./);
    expect(a).not.toBe(b);
  });
});

describe('a 3-host cluster that lost 2 hosts for good', () => {
  let lab: Lab;
  let d: DaemonHost[] = [];
  afterAll(async () => {
    await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('cannot remove either dead owner alone (no majority answers), removes both in one command, then allocates in their space', { timeout: 240_000 }, async () => {
    lab = await Lab.create({ hosts: 3, label: 'rmmost' });
    d = [1, 2, 3].map((i) => daemonHost(lab, i));
    const cni = cniOn();
    const peers = (i: number) => [1, 2, 3].filter((j) => j !== i).map((j) => `198.51.100.${j}`);
    await Promise.all(d.map((x, i) => launch(x, ['--ipalloc-range', '10.34.0.0/16', ...peers(i + 1)])));
    expect(await ipamReady(d, 60_000)).toBe(true);
    const owners = async () => new Set((await report(d[0]!)).ipam.ring.map((s) => s.peer)).size;
    expect(await waitFor(async () => (await owners()) === 3, 30_000, 200), 'all three own space').toBe(true);

    await killDaemon(d[1]!);
    await killDaemon(d[2]!);
    expect(await waitFor(async () => (await sees(d[0]!, 'h2', false)) && (await sees(d[0]!, 'h3', false)), 60_000, 200)).toBe(true);
    await new Promise((res) => setTimeout(res, HEARTBEAT_TIMEOUT_MS + 2_000));
    for (const gone of ['h2', 'h3']) {
      const alone = await overlay(d[0]!, ['rmpeer', gone]);
      expect(alone.exitCode).not.toBe(0);
      expect(alone.stderr).toMatch(/only 1 of 2 other space owners answered.*in one command/);
    }
    const both = await overlay(d[0]!, ['rmpeer', 'h2', 'h3']);
    expect(both.exitCode, both.stderr).toBe(0);
    expect(both.stdout).toMatch(/Removed .*\(h2\): its \d+ addresses now belong to .*\(h1\)/);
    expect(both.stdout).toMatch(/Removed .*\(h3\): its \d+ addresses now belong to .*\(h1\)/);
    expect(await owners()).toBe(1);
    // The whole range is h1's now, and containers start on it.
    const a = await cni(d[0]!, 'ADD', 'after', await lab.addNamespace('k1'));
    expect(a).toMatch(/^10\.34\./);
  });
});
