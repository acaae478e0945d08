/**
 * Runs the BUILT single-file plugin (scripts/build-cni.sh → dist/cni/overlay),
 * copied out of the checkout and run with an empty environment, to prove it
 * needs neither the checkout nor node_modules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');
let dir: string;
let bin: string;

beforeAll(async () => {
  execFileSync('sh', [join(ROOT, 'scripts/build-cni.sh')], { cwd: ROOT, stdio: 'ignore' });
  dir = await mkdtemp(join(tmpdir(), 'cni-bin-'));
  bin = join(dir, 'overlay');
  await copyFile(join(ROOT, 'dist/cni/overlay'), bin);
  execFileSync('chmod', ['755', bin]);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function runBin(env: Record<string, string>, stdin?: string | Buffer): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolvePromise, reject) => {
    const start = Date.now();
    const child = spawn(bin, [], { env, cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr, ms: Date.now() - start }));
    child.stdin.on('error', () => {}); // the plugin may stop reading oversized input early
    if (stdin !== undefined) child.stdin.end(stdin);
    // else: leave stdin open, as a runtime that never writes would.
    if (stdin === undefined) setTimeout(() => child.stdin.end(), 20_000).unref();
  });
}

const base = (extra: Record<string, string> = {}) => ({
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  ...extra,
});

describe('built plugin binary', () => {
  it('prints the about line with an empty env and stdin left open', async () => {
    const r = await runBin({});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^CNI overlay plugin v0\.1\.0/);
  });
  it('answers VERSION', async () => {
    const r = await runBin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ cniVersion: '0.4.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
  it('garbage stdin → error JSON code 6, non-zero exit', async () => {
    const r = await runBin(base({ CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/x' }), 'garbage\x00\xff');
    expect(r.code).not.toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 6, cniVersion: '1.1.0' });
  });
  it('oversized stdin → code 6 naming the limit', async () => {
    const r = await runBin(base({ CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/x' }), Buffer.alloc(3 << 20, 0x20));
    expect(r.code).not.toBe(0);
    const err = JSON.parse(r.stdout);
    expect(err.code).toBe(6);
    expect(err.msg).toContain('exceeds');
  });
  it('STATUS with the daemon down says 51', async () => {
    const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'net1', type: 'overlay', daemonSocket: join(dir, 'nobody.sock'), stateDir: join(dir, 'state') });
    const status = await runBin({ CNI_COMMAND: 'STATUS' }, conf);
    expect(JSON.parse(status.stdout)).toMatchObject({ code: 51 });
  });
});
