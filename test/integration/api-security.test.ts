/**
 * The daemon's local API as an attacker on the same host sees it: a process
 * of user `nobody` inside a namespaced host (setpriv drops to nobody; the
 * client is a plain node script). Loopback TCP serves reads only; the unix
 * socket is root's, or root's and --api-group's; netns paths are checked;
 * --metrics-addr serves /metrics and nothing else; and random, oversized and
 * slow requests never crash or hang the daemon.
 */
import { execa } from 'execa';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, cliPath, daemonHost, daemonPid, launch, overlay, statusJson, waitFor, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';
import type { Outcome } from '../helpers/api-client.js';

const PASSWORD = 'tenant secret: correct horse battery staple';
const clientScript = join(cliPath(), '../../../test/helpers/api-client.js');

/** Mutating routes, each with a body that would succeed if it were let through. */
const MUTATIONS = (ns: string) => [
  { method: 'POST', path: '/attach', body: { netns: ns } },
  { method: 'POST', path: '/ports/admit', body: { owner: 'evil:eth0', netns: ns, ifname: 'eth0' } },
  { method: 'POST', path: '/ipam/allocate', body: { owner: 'evil' } },
  { method: 'POST', path: '/ipam/release', body: { owner: 'x' } },
  { method: 'POST', path: '/ipam/rmpeer', body: { peer: 'h2' } },
  { method: 'POST', path: '/expose', body: {} },
  { method: 'POST', path: '/hide', body: {} },
  { method: 'POST', path: '/detach', body: { netns: ns } },
  { method: 'POST', path: '/ports/release', body: { owner: 'x:eth0' } },
  { method: 'POST', path: '/connect', body: { targets: ['203.0.113.9'], replace: true } },
  { method: 'POST', path: '/forget', body: { targets: ['198.51.100.2'] } },
  { method: 'POST', path: '/stop' },
  { method: 'POST', path: '/reset' },
];


/** Run the client script in a host's namespace, as `nobody` (optionally with extra groups), or as root. */
async function client<T>(ns: string, mode: 'probe' | 'fuzz' | 'slow', args: unknown, as: { user: 'nobody' | 'root'; groups?: string } = { user: 'nobody' }): Promise<T> {
  const drop = as.user === 'nobody' ? ['setpriv', '--reuid=nobody', '--regid=nogroup', ...(as.groups ? [`--groups=${as.groups}`] : ['--clear-groups'])] : [];
  const cmd = [...drop, process.execPath, clientScript, mode, JSON.stringify(args)];
  const r = await execa('nsenter', [`--net=/run/netns/${ns}`, ...cmd], { reject: false, timeout: 300_000 });
  if (r.exitCode !== 0) throw new Error(`client ${mode} failed (${r.exitCode}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const tcp = { host: '127.0.0.1', port: 6784 };

/** A daemon host whose API socket sits in a directory every user may enter, so only the socket's own mode decides. */
function hostWithReachableSocket(lab: Lab, i: number): DaemonHost {
  const d = daemonHost(lab, i);
  const dir = join('/tmp', lab.prefix, `run-h${i}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(join('/tmp', lab.prefix), 0o755);
  const apiSocket = join(dir, 'api.sock');
  return { ...d, apiSocket, env: { ...d.env, OVERLAY_API_SOCKET: apiSocket } };
}

/** A group `nobody` is not in, to grant it through --api-group. */
async function someGroup(): Promise<{ name: string; gid: number }> {
  for (const name of ['users', 'staff', 'src', 'operator']) {
    const r = await execa('getent', ['group', name], { reject: false });
    if (r.exitCode === 0) return { name, gid: Number(r.stdout.split(':')[2]) };
  }
  throw new Error('no spare group on this host');
}

describe('the local API against an unprivileged local user', () => {
  let lab: Lab;
  let d: DaemonHost[];
  let victimNs: string;
  let group: { name: string; gid: number };

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, label: 'apisec' });
    d = [1, 2].map((i) => hostWithReachableSocket(lab, i));
    group = await someGroup();
    await launch(d[0]!, ['198.51.100.2', '--metrics-addr', '127.0.0.1:9784'], { OVERLAY_PASSWORD: PASSWORD });
    await launch(d[1]!, ['198.51.100.1', '--api-group', group.name], { OVERLAY_PASSWORD: PASSWORD });
    victimNs = await lab.addNamespace('mine');
    expect(await waitFor(async () => (await statusJson<{ status: string }>(d[0]!, 'ipam')).status === 'ready', 30_000)).toBe(true);
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('as nobody, every mutating route on 127.0.0.1:6784 gets 403 with a clear message, and the daemon keeps running with its state intact', async () => {
    type Status = { name: string; targets: { address: string }[] };
    const before = await statusJson<Status>(d[0]!);
    const allocationsBefore = (await apiRequest(d[0]!.apiSocket, 'GET', '/ipam/allocations')).json();
    const pid = daemonPid(d[0]!);
    const outcomes = await client<Outcome[]>(d[0]!.host.ns, 'probe', { target: tcp, requests: MUTATIONS(`/run/netns/${victimNs}`) });
    for (const o of outcomes) {
      expect(o.status, `${o.method} ${o.path}: ${o.body ?? o.error}`).toBe(403);
      expect(JSON.parse(o.body!).error).toMatch(new RegExp(`${o.method} ${o.path} changes the daemon, so it is served only on the API socket`));
    }
    expect(outcomes.length).toBe(MUTATIONS('').length);
    // Still the same daemon, same peers and targets, no new address, nothing attached.
    expect(daemonPid(d[0]!)).toBe(pid);
    process.kill(pid!, 0);
    const after = await statusJson<Status>(d[0]!);
    expect(after.name).toBe(before.name);
    expect(after.targets.map((t) => t.address)).toEqual(before.targets.map((t) => t.address));
    expect((await apiRequest(d[0]!.apiSocket, 'GET', '/ipam/allocations')).json()).toEqual(allocationsBefore);
    expect((await apiRequest(d[0]!.apiSocket, 'GET', '/ps?format=json')).json()).toEqual([]);
    expect((await execa('ip', ['-n', victimNs, '-o', 'link'])).stdout).not.toMatch(/ethwe/);
  });

  it('as nobody, GET /status, /metrics, /version and a secret-free /report still work over TCP', async () => {
    const [status, metrics, version, report] = await client<Outcome[]>(d[0]!.host.ns, 'probe', {
      target: tcp,
      requests: [
        { method: 'GET', path: '/status?format=json' },
        { method: 'GET', path: '/metrics' },
        { method: 'GET', path: '/version' },
        { method: 'GET', path: '/report' },
      ],
    });
    expect(status!.status).toBe(200);
    expect(JSON.parse(status!.body!).name).toMatch(/^[0-9a-f:]{17}$/);
    expect(metrics!.status).toBe(200);
    expect(metrics!.body).toMatch(/overlay_handshakes_throttled_total/);
    expect(version!.status).toBe(200);
    expect(report!.status).toBe(200);
    expect(report!.body).not.toContain('correct horse');
    expect(report!.body).not.toMatch(/privateKey|password/i);
  });

  it('the unix socket refuses nobody (mode 0600, root)', async () => {
    const [o] = await client<Outcome[]>(d[0]!.host.ns, 'probe', { target: { socketPath: d[0]!.apiSocket }, requests: [{ method: 'GET', path: '/status' }] });
    expect(o!.error).toBe('EACCES');
    const [asRoot] = await client<Outcome[]>(d[0]!.host.ns, 'probe', { target: { socketPath: d[0]!.apiSocket }, requests: [{ method: 'GET', path: '/version' }] }, { user: 'root' });
    expect(asRoot!.status).toBe(200);
  });

  it('with --api-group, the socket is 0660 with that group: a member may change the daemon, nobody else may', async () => {
    const st = await execa('stat', ['-c', '%a %g', d[1]!.apiSocket]);
    expect(st.stdout).toBe(`660 ${group.gid}`);
    const socket = { socketPath: d[1]!.apiSocket };
    const req = [{ method: 'POST', path: '/connect', body: { targets: ['198.51.100.1'] } }];
    const [member] = await client<Outcome[]>(d[1]!.host.ns, 'probe', { target: socket, requests: req }, { user: 'nobody', groups: String(group.gid) });
    expect(member!.status, member!.body).toBe(200);
    const [outsider] = await client<Outcome[]>(d[1]!.host.ns, 'probe', { target: socket, requests: req });
    expect(outsider!.error).toBe('EACCES');
  });

  it('a member of --api-group attaches a namespace: the daemon, as root, makes the veth the member may not', async () => {
    const ns = await lab.addNamespace('member');
    // The member's own attempt: without CAP_NET_ADMIN no veth can be made (which is why the daemon runs the plugin's attach).
    const own = await execa('nsenter', [`--net=/run/netns/${d[1]!.host.ns}`, 'setpriv', '--reuid=nobody', '--regid=nogroup', `--groups=${group.gid}`, 'ip', 'link', 'add', 'memberveth', 'type', 'veth', 'peer', 'name', 'memberveth1'], { reject: false });
    expect(own.exitCode).not.toBe(0);
    expect(own.stderr).toMatch(/Operation not permitted/);
    expect(await waitFor(async () => (await statusJson<{ status: string }>(d[1]!, 'ipam')).status === 'ready', 30_000)).toBe(true);
    const req = [{ method: 'POST', path: '/attach', body: { netns: `/run/netns/${ns}` } }];
    const [member] = await client<Outcome[]>(d[1]!.host.ns, 'probe', { target: { socketPath: d[1]!.apiSocket }, requests: req }, { user: 'nobody', groups: String(group.gid) });
    expect(member!.status, member!.body).toBe(200);
    const port = JSON.parse(member!.body!) as { ifname: string; address: string; hostVeth: string };
    const inside = JSON.parse((await lab.exec(ns, 'ip', ['-j', 'addr', 'show', 'dev', port.ifname])).stdout) as { operstate: string; addr_info: { local: string; prefixlen: number }[] }[];
    expect(inside[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toContain(port.address);
    expect((await lab.exec(d[1]!.host.ns, 'ip', ['link', 'show', port.hostVeth])).stdout).toMatch(/master /);
    expect((await overlay(d[1]!, ['detach', ns])).exitCode).toBe(0);
  });

  it('an unknown --api-group is refused at launch, clearly, before anything is set up', async () => {
    const spare = hostWithReachableSocket(lab, 1);
    const other = { ...spare, dataDir: join('/tmp', lab.prefix, 'h1-badgroup'), env: { ...spare.env, OVERLAY_DATA_DIR: join('/tmp', lab.prefix, 'h1-badgroup'), OVERLAY_API_SOCKET: join('/tmp', lab.prefix, 'bad.sock') } };
    const r = await overlay(other, ['launch', '--api-group', 'no-such-group-x', '--port', '6790', '--vxlan-port', '6791', '--http-addr', '127.0.0.1:6792', '--bridge', 'ovbad', '--vxlan-dev', 'ovbadvx']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--api-group no-such-group-x: no such group/);
    expect((await execa('ip', ['-n', other.host.ns, 'link', 'show', 'ovbad'], { reject: false })).exitCode).not.toBe(0);
  });

  it('/attach and /ports/admit take only a network namespace: a file, a directory, a missing path or another kind of namespace is refused', async () => {
    for (const netns of ['/etc/passwd', '/tmp', '/run/netns/does-not-exist', '/proc/self/ns/mnt', 'relative/path']) {
      for (const [path, body] of [
        ['/attach', { netns }],
        ['/ports/admit', { owner: 'c1:eth0', netns, ifname: 'eth0' }],
      ] as const) {
        const r = await apiRequest(d[0]!.apiSocket, 'POST', path, body);
        expect(r.status, `${path} ${netns}: ${r.body}`).toBe(400);
        expect(r.json<{ error: string }>().error).toMatch(/not a network namespace|not an absolute path to a network namespace|network namespace \/run\/netns\/does-not-exist does not exist/);
      }
    }
    expect((await apiRequest(d[0]!.apiSocket, 'GET', '/ipam/allocations')).json()).toEqual([]);
    // A real one, by name and through /proc/<pid>/ns/net (what runtimes hand the CNI plugin), is accepted.
    const r = await overlay(d[0]!, ['attach', victimNs]);
    expect(r.exitCode, r.stderr).toBe(0);
    const sleeper = lab.spawn(victimNs, 'sleep', ['60']);
    try {
      const admit = await apiRequest(d[0]!.apiSocket, 'POST', '/ports/admit', { owner: 'c2:eth0', netns: `/proc/${sleeper.pid}/ns/net`, ifname: 'eth1' });
      expect(admit.status, admit.body).toBe(200);
      await apiRequest(d[0]!.apiSocket, 'POST', '/ports/release', { owner: 'c2:eth0' });
    } finally {
      await lab.stopProcess(sleeper);
    }
    expect((await overlay(d[0]!, ['detach', victimNs])).exitCode).toBe(0);
  });

  it('--metrics-addr serves /metrics and nothing else', async () => {
    const outcomes = await client<Outcome[]>(d[0]!.host.ns, 'probe', {
      target: { host: '127.0.0.1', port: 9784 },
      requests: [
        { method: 'GET', path: '/metrics' },
        { method: 'GET', path: '/status' },
        { method: 'GET', path: '/report' },
        { method: 'POST', path: '/reset' },
      ],
    });
    expect(outcomes.map((o) => o.status)).toEqual([200, 404, 404, 404]);
    expect(outcomes[0]!.body).toMatch(/# TYPE overlay_peers gauge/);
    // Off unless given.
    const [none] = await client<Outcome[]>(d[1]!.host.ns, 'probe', { target: { host: '127.0.0.1', port: 9784 }, requests: [{ method: 'GET', path: '/metrics' }] });
    expect(none!.error).toBe('ECONNREFUSED');
  });
});

describe('API fuzz against the real daemon', () => {
  let lab: Lab;
  let d: DaemonHost;
  const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000);

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 1, label: 'apifuzz' });
    d = daemonHost(lab, 1);
    await launch(d, []);
  });
  afterAll(async () => {
    if (d) await cleanupDaemons([d]);
    await lab?.destroy();
  });

  it(`random methods, paths, headers and bodies, oversized and malformed requests never crash it (seed ${seed})`, async () => {
    console.log(`API fuzz seed ${seed} (rerun with SEED=${seed})`);
    const pid = daemonPid(d)!;
    const onTcp = await client<{ outcomes: Record<string, number>; serverErrors: Outcome[] }>(d.host.ns, 'fuzz', { target: tcp, seed, count: 400 });
    // On the socket as root every route is live: leave out the two that end the daemon.
    const onSocket = await client<{ outcomes: Record<string, number>; serverErrors: Outcome[] }>(d.host.ns, 'fuzz', { target: { socketPath: d.apiSocket }, seed: seed + 1, count: 300, exclude: ['POST /stop', 'POST /reset'] }, { user: 'root' });
    console.log('tcp outcomes', JSON.stringify(onTcp.outcomes));
    console.log('socket outcomes', JSON.stringify(onSocket.outcomes));
    // A 503 is an answer (IPAM not ready yet); a 500 is a handler that broke.
    expect(onTcp.serverErrors.filter((o) => o.status !== 503), `seed ${seed}`).toEqual([]);
    expect(onSocket.serverErrors.filter((o) => o.status !== 503), `seed ${seed}`).toEqual([]);
    // Every mutation on TCP was refused (403), never carried out.
    expect(Object.keys(onTcp.outcomes).some((k) => k === 'status 403')).toBe(true);
    expect(daemonPid(d)).toBe(pid);
    process.kill(pid, 0);
    const s = await statusJson<{ name: string }>(d);
    expect(s.name).toMatch(/^[0-9a-f:]{17}$/);
  });

  it('slow clients (headers never finished on TCP, bodies trickled on the socket) are cut off by the time limits, and others are served meanwhile', async () => {
    type Slow = { closedByServer: number; stillOpen: number; closedAfterMs: number[] };
    const headers = client<Slow>(d.host.ns, 'slow', { target: tcp, n: 20, holdMs: 40_000, kind: 'headers' });
    const bodies = client<Slow>(d.host.ns, 'slow', { target: { socketPath: d.apiSocket }, n: 20, holdMs: 40_000, kind: 'body' }, { user: 'root' });
    // While 40 slow clients hold connections, a normal request is answered on each listener.
    await new Promise((r) => setTimeout(r, 1_000));
    const [viaTcp] = await client<Outcome[]>(d.host.ns, 'probe', { target: tcp, requests: [{ method: 'GET', path: '/status' }] });
    expect(viaTcp!.status).toBe(200);
    expect((await apiRequest(d.apiSocket, 'GET', '/version')).status).toBe(200);
    for (const [what, r] of [['headers', await headers], ['bodies', await bodies]] as const) {
      expect(r.stillOpen, `${what}: ${JSON.stringify(r.closedAfterMs)}`).toBe(0);
      expect(r.closedByServer).toBe(20);
      // Cut off by the limits (5 s for the headers, 15 s for the whole request, checked each second), not by the client giving up at 40 s.
      expect(Math.max(...r.closedAfterMs), what).toBeLessThan(35_000);
    }
  });
});
