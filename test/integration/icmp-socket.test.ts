/**
 * The data path probe's ICMPv6 socket on both runtimes: raw-socket under
 * Node, libc under Bun (src/sys/icmp-socket.ts). An echo to ::1 on the
 * loopback of a namespace made for this test comes back with a round-trip time.
 * A flood of another host's echo requests does not fill the socket (it lets
 * only echo replies in), so the kernel drops none and the next probe gets its
 * reply at the first try. (The probe between real peers, on the executable, is
 * in executable.test.ts.)
 */
import { execa } from 'execa';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

const ROOT = resolve(__dirname, '../..');
const script = `const { PathProber } = await import(${JSON.stringify(resolve(ROOT, 'dist/src/dataplane/probe.js'))});
const p = new PathProber('lo');
let rtt;
for (let i = 0; i < 3 && rtt === undefined; i++) rtt = await p.ping('::1', 1280);
p.close();
console.log(JSON.stringify({ rtt: rtt ?? null }));`;

/** Opens the socket with a probe of h2, prints "open", waits out h2's flood, then one try of one echo. */
const floodScript = (target: string) => `const { PathProber } = await import(${JSON.stringify(resolve(ROOT, 'dist/src/dataplane/probe.js'))});
const { readFileSync } = await import('node:fs');
const p = new PathProber('eth0');
let first;
for (let i = 0; i < 5 && first === undefined; i++) first = await p.ping(${JSON.stringify(target)}, 1280);
console.log('open');
await new Promise((r) => process.stdin.once('data', r));
// The drops column of the ICMPv6 raw socket (protocol 0x3A) in this namespace.
const drops = readFileSync('/proc/net/raw6', 'utf8').split('\\n').filter((l) => /:003A /.test(l)).map((l) => Number(l.trim().split(/\\s+/).pop()));
const rtt = await p.ping(${JSON.stringify(target)}, 1280);
p.close();
console.log(JSON.stringify({ first: first ?? null, drops, rtt: rtt ?? null }));
process.exit(0);`;

async function linkLocal(lab: Lab, ns: string): Promise<string | undefined> {
  const out = (await lab.exec(ns, 'ip', ['-6', '-j', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).stdout;
  const info = (JSON.parse(out) as { addr_info: { local: string; tentative?: boolean }[] }[])[0]?.addr_info ?? [];
  return info.find((a) => !a.tentative)?.local;
}

describe('the ICMPv6 probe socket', () => {
  let lab: Lab;
  let ns = '';
  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2, label: 'icmp' });
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

  it.each([
    ['Node (raw-socket)', process.execPath, ['--input-type=module', '-e']],
    ['Bun (libc)', resolve(ROOT, 'node_modules/.bin/bun'), ['-e']],
  ])('%s: a flood of echo requests from another host drops none of our replies', async (_, runtime, args) => {
    let h1 = '';
    let h2 = '';
    expect(await waitFor(async () => !!(h1 = (await linkLocal(lab, lab.host(1).ns)) ?? '') && !!(h2 = (await linkLocal(lab, lab.host(2).ns)) ?? ''), 10_000, 200)).toBe(true);
    const prober = execa('ip', ['netns', 'exec', lab.host(1).ns, runtime, ...(args as string[]), floodScript(h2)], { reject: false, stdin: 'pipe' });
    try {
      let out = '';
      prober.stdout!.on('data', (b: Buffer) => (out += String(b)));
      expect(await waitFor(() => out.includes('open'), 15_000, 100)).toBe(true);
      // 400 full-size requests at h1: unfiltered, they would fill the socket's buffer (~200 KB) several times over.
      const flood = await lab.exec(lab.host(2).ns, 'ping', ['-6', '-f', '-q', '-c', '400', '-s', '1400', '-I', 'eth0', `${h1}%eth0`], { reject: false });
      expect(flood.exitCode, flood.stderr).toBe(0);
      prober.stdin!.end('go\n');
      const r = await prober;
      expect(r.exitCode, r.stderr).toBe(0);
      const res = JSON.parse(out.split('\n').filter(Boolean).pop()!) as { first: number | null; drops: number[]; rtt: number | null };
      expect(res.first).not.toBeNull();
      expect(res.drops).toEqual([0]);
      expect(res.rtt).not.toBeNull();
    } finally {
      prober.kill();
    }
  });
});
