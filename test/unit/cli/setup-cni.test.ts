import { execa } from 'execa';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = resolve(__dirname, '../../../dist/src/cli/main.js');

describe('overlay setup-cni', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('installs the plugin and writes one conflist per network, atomically', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ovl-setup-cni-'));
    const run = (args: string[], env: Record<string, string> = {}) =>
      execa(process.execPath, [CLI, 'setup-cni', '--bin-dir', join(dir, 'bin'), '--conf-dir', join(dir, 'conf'), '--api-socket', '/run/x.sock', ...args], { reject: false, env });
    const a = await run(['--name', 'tenant-a', '--subnet', '10.32.1.0/24', '--portmap']);
    expect(a.exitCode, a.stderr).toBe(0);
    expect((await stat(join(dir, 'bin', 'overlay'))).mode & 0o777).toBe(0o755);
    const conf = JSON.parse(await readFile(join(dir, 'conf', '10-tenant-a.conflist'), 'utf8'));
    expect(conf).toEqual({
      cniVersion: '1.0.0',
      name: 'tenant-a',
      disableCheck: true,
      plugins: [
        { type: 'overlay', subnet: '10.32.1.0/24', daemonSocket: '/run/x.sock', stateDir: '/var/lib/overlay/cni', isolation: true, gateway: true },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    expect((await run(['--name', 'tenant-b', '--subnet', '10.32.2.0/24'])).exitCode).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'conf', '10-tenant-b.conflist'), 'utf8')).plugins).toHaveLength(1);
    // The plugin finds a daemon with its own data dir: its state goes where that daemon reads it.
    expect((await run(['--name', 'tenant-c', '--data-dir', '/srv/ovl', '--no-gateway', '--no-multicast-route'])).exitCode).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'conf', '10-tenant-c.conflist'), 'utf8')).plugins[0]).toEqual({
      type: 'overlay',
      daemonSocket: '/run/x.sock',
      stateDir: '/srv/ovl/cni',
      isolation: true,
      gateway: false,
      multicastRoute: false,
    });
    expect((await run(['--name', 'tenant-d'], { OVERLAY_DATA_DIR: '/srv/env' })).exitCode).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'conf', '10-tenant-d.conflist'), 'utf8')).plugins[0].stateDir).toBe('/srv/env/cni');
    // The plugin takes absolute paths only: relative ones are made absolute here.
    expect((await run(['--name', 'tenant-e', '--data-dir', 'rel/data'])).exitCode).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'conf', '10-tenant-e.conflist'), 'utf8')).plugins[0].stateDir).toBe(join(process.cwd(), 'rel/data/cni'));
    // The installed copy runs on its own: the "about" line Nomad fingerprints.
    const about = await execa(join(dir, 'bin', 'overlay'), [], { reject: false, env: {} });
    expect(about.exitCode).toBe(0);
    expect(about.stdout + about.stderr).toMatch(/overlay.*0\.1\.0/i);
  });

  it('refuses a bad subnet or name with a usage error', async () => {
    const r = await execa(process.execPath, [CLI, 'setup-cni', '--bin-dir', join(dir, 'bin2'), '--conf-dir', join(dir, 'conf2'), '--subnet', '10.32.1.1/24'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--subnet/);
    const n = await execa(process.execPath, [CLI, 'setup-cni', '--bin-dir', join(dir, 'bin2'), '--conf-dir', join(dir, 'conf2'), '--name', 'a b'], { reject: false });
    expect(n.exitCode).toBe(2);
    expect(n.stderr).toMatch(/--name must be/);
  });
});
