/**
 * The data path probe's ICMPv6 socket on both runtimes: raw-socket under
 * Node, libc under Bun (src/sys/icmp-socket.ts). An echo to ::1 on the
 * loopback of a namespace made for this test comes back with a round-trip time.
 * (The probe between real peers, on the executable, is in executable.test.ts.)
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../scripts/lab/lab.js';

const ROOT = resolve(__dirname, '../..');
const script = `const { PathProber } = await import(${JSON.stringify(resolve(ROOT, 'dist/src/dataplane/probe.js'))});
const p = new PathProber('lo');
let rtt;
for (let i = 0; i < 3 && rtt === undefined; i++) rtt = await p.ping('::1', 1280);
p.close();
console.log(JSON.stringify({ rtt: rtt ?? null }));`;

describe('the ICMPv6 probe socket', () => {
  let lab: Lab;
  let ns = '';
  beforeAll(async () => {
    lab = await Lab.create({ hosts: 1, label: 'icmp' });
    ns = await lab.addNamespace('echo');
    await lab.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it.each([
    ['Node (raw-socket)', process.execPath, ['--input-type=module', '-e', script]],
    ['Bun (libc)', resolve(ROOT, 'node_modules/.bin/bun'), ['-e', script]],
  ])('%s gets an echo reply with a round-trip time', async (_, runtime, args) => {
    const r = await lab.exec(ns, runtime, args as string[], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const { rtt } = JSON.parse(r.stdout) as { rtt: number | null };
    expect(rtt).not.toBeNull();
    expect(rtt!).toBeGreaterThan(0);
  });
});
