/**
 * Real daemons in network namespaces: the mesh forms, heals and refuses what
 * it must, driven only through the real CLI and API.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../../src/api/client.js';
import {
  cleanupDaemons,
  daemonHost,
  daemonPid,
  fullMesh,
  killDaemon,
  launch,
  overlay,
  statusJson,
  waitFor,
  type DaemonHost,
} from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

interface PeerView {
  name: string;
  nickname: string;
  connections: unknown[];
}
interface TargetView {
  address: string;
  state: string;
  lastError?: string;
}

describe('mesh of real daemons', () => {
  let lab: Lab;
  let d: DaemonHost[];
  const names: string[] = [];

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 4, label: 'mesh' });
    d = [1, 2, 3, 4].map((i) => daemonHost(lab, i));
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('hosts launched in a chain end up fully connected', async () => {
    names.push(await launch(d[0]!, []));
    names.push(await launch(d[1]!, ['198.51.100.1']));
    names.push(await launch(d[2]!, ['198.51.100.2']));
    for (const n of names) expect(n).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(await waitFor(() => fullMesh(d.slice(0, 3)), 15_000)).toBe(true);
    const summary = await overlay(d[2]!, ['status']);
    expect(summary.stdout).toMatch(/Name: .*\(h3\)/);
    expect(summary.stdout).toMatch(/Peers: 3 \(with 6 established connections\)/);
    expect(summary.stdout).toMatch(/Encryption: disabled/);
    const conns = await overlay(d[2]!, ['status', 'connections']);
    expect(conns.stdout).toMatch(/-> 198\.51\.100\.2:6783\s+established/);
  });

  it('serves Prometheus metrics on the socket and on loopback TCP inside the host', async () => {
    const r = await apiRequest(d[0]!.apiSocket, 'GET', '/metrics', undefined, { accept: 'text/plain' });
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/^overlay_peers 3$/m);
    expect(r.body).toMatch(/^overlay_gossip_messages_sent_total [1-9]/m);
    expect(r.body).toMatch(/^overlay_connections\{state="established"\} /m);
    const tcp = await execa('ip', ['netns', 'exec', d[0]!.host.ns, 'node', '-e',
      "require('http').get('http://127.0.0.1:6784/metrics', r => { let b=''; r.on('data', c => b += c); r.on('end', () => { process.stdout.write(b) }) })"]);
    expect(tcp.stdout).toMatch(/overlay_established_connections 2/);
  });

  it('connect adds a peer at run time and forget removes the target', async () => {
    names.push(await launch(d[3]!, []));
    const c = await overlay(d[0]!, ['connect', '198.51.100.4']);
    expect(c.exitCode).toBe(0);
    expect(await waitFor(() => fullMesh(d), 15_000)).toBe(true);
    const targets = await statusJson<TargetView[]>(d[0]!, 'targets');
    expect(targets.map((t) => t.address)).toContain('198.51.100.4:6783');
    expect((await overlay(d[0]!, ['forget', '198.51.100.4'])).exitCode).toBe(0);
    // It is no longer a user target (discovery may still reach it through the others).
    const after = await statusJson<(TargetView & { origin: string })[]>(d[0]!, 'targets');
    expect(after.filter((t) => t.origin === 'user').map((t) => t.address)).not.toContain('198.51.100.4:6783');
  });

  it('a killed daemon is removed everywhere and rejoins with the same name after a restart', async () => {
    await overlay(d[3]!, ['stop']);
    expect(await waitFor(() => fullMesh(d.slice(0, 3)), 15_000)).toBe(true);
    const pid = daemonPid(d[2]!);
    await killDaemon(d[2]!);
    expect(pid).toBeDefined();
    const removed = await waitFor(async () => {
      for (const x of d.slice(0, 2)) {
        const peers = await statusJson<PeerView[]>(x, 'peers');
        if (peers.some((p) => p.name === names[2])) return false;
      }
      return true;
    }, 40_000);
    expect(removed).toBe(true);
    // Launch with no peers: it resumes its stored name and targets.
    const again = await launch(d[2]!, []);
    expect(again).toBe(names[2]);
    expect(await waitFor(() => fullMesh(d.slice(0, 3)), 20_000)).toBe(true);
  });

  it('stop and launch resume the same name and targets', async () => {
    expect((await overlay(d[1]!, ['stop'])).exitCode).toBe(0);
    expect(daemonPid(d[1]!)).toBeUndefined();
    expect(await launch(d[1]!, [])).toBe(names[1]);
    const targets = await statusJson<TargetView[]>(d[1]!, 'targets');
    expect(targets.map((t) => t.address)).toContain('198.51.100.1:6783');
    expect(await waitFor(() => fullMesh(d.slice(0, 3)), 20_000)).toBe(true);
  });

  it('garbage, oversized frames and wrong versions close only that connection', async () => {
    const script = (payload: string) => `
      const s = require('net').connect(6783, '198.51.100.1');
      s.on('connect', () => { console.log('connected'); s.write(${payload}); });
      s.on('data', (b) => console.log('got', b.length));
      s.on('close', () => process.exit(0));
      s.on('error', () => process.exit(0));
      setTimeout(() => process.exit(3), 10000);`;
    const payloads = [
      "Buffer.from('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')",
      "Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])",
      "(() => { const b = Buffer.from(JSON.stringify({protocol:'overlay',minVersion:9,maxVersion:9,name:'02:00:00:00:00:99',nickname:'x',uid:'u',connId:'c',port:6783,encrypted:false})); const h = Buffer.alloc(4); h.writeUInt32BE(b.length); return Buffer.concat([h,b]); })()",
      "(() => { const b = Buffer.from('{not json'); const h = Buffer.alloc(4); h.writeUInt32BE(b.length); return Buffer.concat([h,b]); })()",
    ];
    const rejected = async () => Number(/^overlay_handshakes_rejected_total (\d+)$/m.exec((await apiRequest(d[0]!.apiSocket, 'GET', '/metrics', undefined, { accept: 'text/plain' })).body)![1]);
    const before = await rejected();
    const logBefore = (await execa('cat', [`${d[0]!.dataDir}/overlay.log`])).stdout.length;
    for (const p of payloads) {
      const r = await execa('ip', ['netns', 'exec', d[3]!.host.ns, 'node', '-e', script(p)], { reject: false });
      expect(r.exitCode, `${p}: ${r.stdout} ${r.stderr}`).toBe(0); // the daemon closed the connection on us
    }
    expect(await fullMesh(d.slice(0, 3))).toBe(true);
    expect(await rejected()).toBe(before + payloads.length);
    // One log line for the address, with the first reason; the later failures are counted into its next line, a minute on
    // (each reason is logged at debug level; the decoders' messages have their own unit tests).
    const log = await execa('cat', [`${d[0]!.dataDir}/overlay.log`]);
    const lines = log.stdout.slice(logBefore).split('\n').filter((l) => l.includes('inbound handshakes failing') && l.includes('"remote":"198.51.100.4"'));
    expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(1); // none if a failure from there was logged less than a minute ago
    if (lines.length) expect(lines[0]).toMatch(/"lastReason":"frame length \d+ exceeds maximum/);
    expect(log.stdout.split('\n').some((l) => l.includes('inbound handshakes failing') && l.includes('"remote":"198.51.100.4"'))).toBe(true);
  });

  it('a target that is ourselves is marked failed, not retried in a tight loop', async () => {
    expect((await overlay(d[0]!, ['connect', '198.51.100.1'])).exitCode).toBe(0);
    const failed = await waitFor(async () => {
      const t = await statusJson<TargetView[]>(d[0]!, 'targets');
      return t.some((x) => x.address === '198.51.100.1:6783' && x.state === 'failed' && /ourselves/.test(x.lastError ?? ''));
    }, 10_000);
    expect(failed).toBe(true);
    await overlay(d[0]!, ['forget', '198.51.100.1']);
  });

  it('a peer using the name of a live peer is refused with a clear log line', async () => {
    const impostor = await launch(d[3]!, ['--name', names[1]!, '198.51.100.1']).catch((e) => String(e));
    expect(impostor).toBe(names[1]);
    const refused = await waitFor(async () => {
      const log = await execa('cat', [`${d[0]!.dataDir}/overlay.log`]);
      return /already in use by a live peer with a different uid/.test(log.stdout);
    }, 10_000);
    expect(refused).toBe(true);
    // The real h2 keeps its place in the mesh.
    const peers = await statusJson<PeerView[]>(d[0]!, 'peers');
    expect(peers.find((p) => p.name === names[1])?.nickname).toBe('h2');
    await overlay(d[3]!, ['reset']);
  });

  it('bad CLI arguments exit 2 with a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [['launch', '--port', 'abc'], /--port must be a whole number/],
      [['launch', '--name', 'zz'], /invalid peer name/],
      [['launch', '--bogus'], /unknown option "--bogus"/],
      [['status', 'nonsense'], /unknown status view "nonsense"/],
      [['connect'], /connect needs at least one peer address/],
      [['connect', 'bad host!'], /invalid peer address/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['launch', '--http-addr', '0.0.0.0:6784'], /not a loopback address/],
    ];
    for (const [args, msg] of cases) {
      const r = await overlay(d[0]!, args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('a second launch says the daemon is already running', async () => {
    const r = await overlay(d[0]!, ['launch']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/already running/);
  });

  it('reset stops the daemon and removes its state: the next launch is a new peer', async () => {
    const before = await launch(d[3]!, []);
    expect((await overlay(d[3]!, ['reset'])).exitCode).toBe(0);
    expect(daemonPid(d[3]!)).toBeUndefined();
    expect(existsSync(`${d[3]!.dataDir}/db`)).toBe(false);
    expect((await overlay(d[3]!, ['reset'])).exitCode).toBe(0); // also when not running
    const after = await launch(d[3]!, []);
    expect(after).not.toBe(before);
    expect(await statusJson<TargetView[]>(d[3]!, 'targets')).toEqual([]);
  });

  it('commands against a stopped daemon say it is not running', async () => {
    await overlay(d[3]!, ['stop']);
    const r = await overlay(d[3]!, ['status']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/not running/);
  });
});

describe('passwords', () => {
  let lab: Lab;
  let d: DaemonHost[];
  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3, label: 'pw' });
    d = [1, 2, 3].map((i) => daemonHost(lab, i));
  });
  afterAll(async () => {
    if (d) await cleanupDaemons(d);
    await lab?.destroy();
  });

  it('peers with the same password mesh; a wrong or missing password is refused on both sides', async () => {
    await launch(d[0]!, ['--password', 'correct horse'], {});
    await launch(d[1]!, ['198.51.100.1'], { OVERLAY_PASSWORD: 'correct horse' });
    await launch(d[2]!, ['198.51.100.1', '--password', 'wrong']);
    expect(await waitFor(() => fullMesh(d.slice(0, 2)), 15_000)).toBe(true);
    const refused = await waitFor(async () => {
      const t = await statusJson<TargetView[]>(d[2]!, 'targets');
      return t.some((x) => /password/.test(x.lastError ?? ''));
    }, 15_000);
    expect(refused).toBe(true);
    const peers = await statusJson<PeerView[]>(d[0]!, 'peers');
    expect(peers.map((p) => p.nickname).sort()).toEqual(['h1', 'h2']);
    const log1 = await execa('cat', [`${d[0]!.dataDir}/overlay.log`]);
    expect(log1.stdout).toMatch(/failed password authentication/);
    const summary = await overlay(d[0]!, ['status']);
    expect(summary.stdout).toMatch(/Encryption: enabled/);
    // The password is not in the process list, the logs, the status, the report or the metrics.
    const ps = await execa('ps', ['-eo', 'args']);
    expect(ps.stdout).not.toMatch(/correct horse/);
    for (const i of [0, 1]) {
      const seen = [
        (await execa('cat', [`${d[i]!.dataDir}/overlay.log`])).stdout,
        (await overlay(d[i]!, ['status'])).stdout,
        (await overlay(d[i]!, ['status', 'peers', '--json'])).stdout,
        (await overlay(d[i]!, ['report'])).stdout,
        (await apiRequest(d[i]!.apiSocket, 'GET', '/metrics', undefined, { accept: 'text/plain' })).body,
      ].join('\n');
      expect(seen).not.toMatch(/correct horse/);
    }
    // Only root reaches the API and the data dir; the WireGuard key is the owner's alone.
    const mode = async (path: string) => (await stat(path)).mode & 0o777;
    expect(await mode(d[0]!.apiSocket)).toBe(0o600);
    expect(await mode(d[0]!.dataDir)).toBe(0o700);
    expect(await mode(`${d[0]!.dataDir}/wireguard.key`)).toBe(0o600);
  });
});
