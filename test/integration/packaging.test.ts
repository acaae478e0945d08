/**
 * Operations: the installer (staged under DESTDIR), the systemd unit it
 * installs (systemd-analyze verify), the Vagrantfile (vagrant validate), and
 * the provisioning script the VMs run, exercised here on two lab hosts.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDaemons, overlayCommand, daemonHost, overlay, type DaemonHost } from '../../scripts/lab/daemons.js';
import { Lab } from '../../scripts/lab/lab.js';

const ROOT = resolve(__dirname, '../..');

describe('installer, systemd unit, Vagrantfile and provisioning', () => {
  const stage = mkdtempSync(join(tmpdir(), 'overlay-install-'));
  let lab: Lab | undefined;
  let d: DaemonHost[] = [];
  afterAll(async () => {
    await cleanupDaemons(d);
    await lab?.destroy();
    rmSync(stage, { recursive: true, force: true });
  });

  it('install.sh stages the executables, the unit, the completion and a 0600 environment file, with no npm', async () => {
    // node and npm, first on the PATH, fail loudly: the installer must not need them.
    const shims = join(stage, 'shims');
    mkdirSync(shims);
    for (const tool of ['node', 'npm', 'npx']) writeFileSync(join(shims, tool), `#!/bin/sh\necho "${tool} was called" >&2\nexit 99\n`, { mode: 0o755 });
    const r = await execa('bash', ['scripts/install.sh'], { cwd: ROOT, env: { DESTDIR: stage, PREFIX: '/usr/local', PATH: `${shims}:${process.env['PATH']}` }, reject: false, timeout: 300_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    for (const f of ['usr/local/bin/overlay', 'opt/cni/bin/overlay', 'etc/systemd/system/overlay.service', 'etc/default/overlay', 'usr/share/bash-completion/completions/overlay'])
      expect(existsSync(join(stage, f)), f).toBe(true);
    expect(existsSync(join(stage, 'usr/local/lib/overlay')), 'no node_modules tree').toBe(false);
    const v = await execa(join(stage, 'usr/local/bin/overlay'), ['version']);
    expect(v.stdout).toMatch(/^overlay \d+\.\d+\.\d+/);
    expect(statSync(join(stage, 'etc/default/overlay')).mode & 0o777).toBe(0o600);
  });

  it('the unit passes systemd-analyze verify', async () => {
    const unit = readFileSync(join(stage, 'etc/systemd/system/overlay.service'), 'utf8');
    expect(unit).toMatch(/ExecStart=\/usr\/local\/bin\/overlay launch --foreground/);
    // What the unit promises: ready only once the API answers, wireguard-go left running across
    // restarts, its directories made by systemd, and a confined daemon.
    for (const line of [/^Type=notify$/m, /^NotifyAccess=all$/m, /^KillMode=process$/m, /^StateDirectory=overlay$/m, /^RuntimeDirectory=overlay wireguard$/m, /^RuntimeDirectoryPreserve=yes$/m, /^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_ADMIN/m, /^ProtectSystem=strict$/m, /^NoNewPrivileges=yes$/m])
      expect(unit).toMatch(line);
    // verify checks that ExecStart exists: point a copy at the staged executable (it only reads the file).
    const copy = join(stage, 'overlay.service');
    writeFileSync(copy, unit.replace('/usr/local/bin/overlay', join(stage, 'usr/local/bin/overlay')));
    const r = await execa('systemd-analyze', ['verify', copy], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr, 'no warnings either').toBe('');
  });

  it('the Vagrantfile is valid', async () => {
    const r = await execa('vagrant', ['validate', '--ignore-provider'], { cwd: ROOT, reject: false, env: { VAGRANT_HOME: join(stage, 'vagrant-home') } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  });

  it('the provisioning script brings a host up: launched, IPAM ready, CNI for podman and Nomad, exposed', async () => {
    lab = await Lab.create({ hosts: 2, label: 'prov' });
    d = [1, 2].map((i) => daemonHost(lab!, i));
    const run = (i: number) =>
      execa('ip', ['netns', 'exec', d[i - 1]!.host.ns, 'bash', join(ROOT, 'scripts/provision.sh'), `198.51.100.${3 - i}`], {
        reject: false,
        timeout: 120_000,
        env: {
          ...d[i - 1]!.env,
          OVERLAY_SKIP_INSTALL: '1',
          OVERLAY_CLI: overlayCommand().join(' '),
          OVERLAY_CNI_BIN_DIR: join(d[i - 1]!.dataDir, 'bin'),
          OVERLAY_CNI_CONF_DIRS: `${join(d[i - 1]!.dataDir, 'net.d')} ${join(d[i - 1]!.dataDir, 'config')}`,
        },
      });
    const [a, b] = await Promise.all([run(1), run(2)]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(b.exitCode, b.stderr).toBe(0);
    for (const x of d) {
      for (const dir of ['net.d', 'config']) for (const t of ['tenant-a', 'tenant-b']) expect(existsSync(join(x.dataDir, dir, `10-${t}.conflist`))).toBe(true);
      const st = (await overlay(x, ['status'])).stdout;
      expect(st).toMatch(/Status: ready/);
      expect(st).toMatch(/Exposed: 10\.\d+\.\d+\.\d+\/12/);
    }
  });
});
