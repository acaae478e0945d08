/**
 * The Debian package in a clean Debian root without Node.js (debootstrap,
 * cached by scripts/lab/debian-root.sh): dpkg -i, then the overlay
 * executable, the CNI plugin and `overlay launch --foreground` (in a lab
 * network namespace, telling a NOTIFY_SOCKET it is ready) all run from inside
 * it; dpkg -r leaves only the conffile and the state directory, dpkg -P
 * deletes them after saying what that means. The root is never changed: the
 * test works in a copy-on-write layer over it, in a private mount namespace.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../scripts/lab/lab.js';
import { waitFor } from '../../scripts/lab/daemons.js';

const ROOT = resolve(__dirname, '../..');

describe('the .deb in a Debian root without Node.js', () => {
  let lab: Lab;
  let holder: ResultPromise | undefined;
  let deb = '';
  let merged = '';
  let daemon: ResultPromise | undefined;
  /** Run a command as root of the Debian root (and, with `netns`, in that lab namespace). */
  const inRoot = (cmd: string[], opts: { netns?: string; env?: Record<string, string>; input?: string } = {}) =>
    execa('nsenter', ['-t', String(holder!.pid), '-m', ...(opts.netns ? [`--net=/run/netns/${opts.netns}`] : []), 'chroot', merged, ...cmd], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', ...opts.env },
      extendEnv: false,
      reject: false,
      timeout: 120_000,
      input: opts.input ?? '',
    });
  /** A path inside the Debian root, seen from this mount namespace's holder. */
  const inMount = (cmd: string[]) => execa('nsenter', ['-t', String(holder!.pid), '-m', ...cmd], { reject: false });
  const exists = async (path: string) => (await inRoot(['test', '-e', path])).exitCode === 0;

  beforeAll(async () => {
    const built = await execa('bash', ['scripts/package.sh'], { cwd: ROOT, reject: false });
    expect(built.exitCode, built.stderr).toBe(0);
    deb = join(ROOT, built.stdout.trim());
    const made = await execa('bash', ['scripts/lab/debian-root.sh'], { cwd: ROOT, reject: false, timeout: 900_000 });
    expect(made.exitCode, made.stderr).toBe(0);
    const debianRoot = made.stdout.trim();
    lab = await Lab.create({ hosts: 1, label: 'deb' });
    const work = join('/tmp', lab.prefix, 'deb');
    for (const d of ['upper', 'work', 'merged']) mkdirSync(join(work, d), { recursive: true });
    merged = join(work, 'merged');
    holder = execa('unshare', [
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -t overlay overlay -o lowerdir=${debianRoot},upperdir=${work}/upper,workdir=${work}/work ${merged} && ` +
        `mount -t proc proc ${merged}/proc && mount --rbind /dev ${merged}/dev && mount -t tmpfs tmpfs ${merged}/run && ` +
        `mount -t tmpfs tmpfs ${merged}/tmp && echo mounted && exec sleep 900`,
    ]);
    await new Promise<void>((done, fail) => {
      holder!.stdout!.on('data', (b: Buffer) => b.toString().includes('mounted') && done());
      holder!.catch((e) => fail(e));
    });
    expect((await inMount(['cp', deb, join(merged, 'tmp', basename(deb))])).exitCode).toBe(0);
  }, 900_000);
  afterAll(async () => {
    if (daemon?.pid && daemon.exitCode === null) process.kill(daemon.pid, 'SIGKILL');
    await daemon?.catch(() => undefined);
    if (holder?.pid) process.kill(holder.pid, 'SIGKILL');
    await holder?.catch(() => undefined);
    await lab?.destroy();
  });

  it('the root has no Node.js', async () => {
    expect((await inRoot(['sh', '-c', 'command -v node || command -v nodejs || ls /usr/lib/node_modules'])).exitCode).not.toBe(0);
  });

  it('dpkg -i installs it: the executable, the plugin, the unit, the conffile, /var/lib/overlay 0700', async () => {
    const r = await inRoot(['dpkg', '-i', `/tmp/${basename(deb)}`]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/set OVERLAY_PEERS .* in \/etc\/default\/overlay/);
    for (const f of ['/usr/bin/overlay', '/opt/cni/bin/overlay', '/lib/systemd/system/overlay.service', '/etc/default/overlay', '/usr/share/bash-completion/completions/overlay'])
      expect(await exists(f), f).toBe(true);
    expect((await inRoot(['stat', '-c', '%a', '/var/lib/overlay'])).stdout).toBe('700');
    expect((await inRoot(['stat', '-c', '%a', '/etc/default/overlay'])).stdout).toBe('600');
    expect((await inRoot(['dpkg-query', '-W', '-f', '${Conffiles}', 'overlay'])).stdout).toMatch(/\/etc\/default\/overlay [0-9a-f]{32}/);
  });

  it('overlay version and the plugin VERSION run from inside the root', async () => {
    const v = await inRoot(['overlay', 'version']);
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^overlay \d+\.\d+\.\d+/);
    const p = await inRoot(['/opt/cni/bin/overlay'], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}' });
    expect(p.exitCode, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout).supportedVersions).toContain('1.0.0');
  });

  it('overlay launch --foreground runs in a network namespace, tells NOTIFY_SOCKET once its API answers, and stops on SIGTERM', async () => {
    const ns = lab.host(1).ns;
    // The systemd side of Type=notify: a datagram socket inside the root (python3 outside it, which the root lacks).
    const notifySocket = join(merged, 'run', 'notify.sock');
    const receiver = inMount([
      'python3',
      '-c',
      'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound",flush=True)\ns.settimeout(60)\nprint(s.recv(4096).decode(),flush=True)',
      notifySocket,
    ]);
    await new Promise<void>((done) => receiver.stdout!.on('data', (b: Buffer) => b.toString().includes('bound') && done()));
    let readyAt = 0;
    const ready = receiver.then((r) => {
      readyAt = Date.now();
      return r.stdout;
    });
    daemon = execa('nsenter', ['-t', String(holder!.pid), '-m', `--net=/run/netns/${ns}`, 'chroot', merged, 'overlay', 'launch', '--foreground', '--nickname', 'deb'], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NOTIFY_SOCKET: '/run/notify.sock' },
      extendEnv: false,
      reject: false,
    });
    const first = await Promise.race([ready, daemon.then((r) => `the daemon exited (${r.exitCode}): ${r.stdout}\n${r.stderr}`)]);
    expect(first).toMatch(/^READY=1$/m);
    // READY=1 came after the API: it answers at once.
    const status = await inRoot(['overlay', 'status'], { netns: ns });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/deb/);
    expect(readyAt).toBeGreaterThan(0);
    expect(await waitFor(async () => /Status: ready/.test((await inRoot(['overlay', 'status'], { netns: ns })).stdout), 20_000)).toBe(true);
    process.kill(daemon.pid!, 'SIGTERM');
    const end = await daemon;
    expect(end.exitCode, end.stderr).toBe(0);
    // Its state is where the unit's StateDirectory puts it.
    expect(await exists('/var/lib/overlay/db')).toBe(true);
  });

  it('dpkg -r leaves only the conffile and the state; dpkg -P removes them, saying what that means', async () => {
    const files = (await execa('dpkg-deb', ['--contents', deb])).stdout
      .split('\n')
      .filter((l) => l.startsWith('-'))
      .map((l) => l.split(/\s+/).pop()!.replace(/^\./, ''));
    expect(files).toContain('/usr/bin/overlay');
    const r = await inRoot(['dpkg', '-r', 'overlay']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    for (const f of files) expect(await exists(f), f).toBe(f === '/etc/default/overlay');
    expect(await exists('/var/lib/overlay/db')).toBe(true);
    expect((await inRoot(['dpkg-query', '-W', '-f', '${Status}', 'overlay'])).stdout).toBe('deinstall ok config-files');
    const p = await inRoot(['dpkg', '-P', 'overlay']);
    expect(p.exitCode, p.stdout + p.stderr).toBe(0);
    expect(p.stdout).toMatch(/deleting \/var\/lib\/overlay/);
    expect(p.stdout).toMatch(/overlay rmpeer/);
    expect(await exists('/etc/default/overlay')).toBe(false);
    expect(await exists('/var/lib/overlay')).toBe(false);
    expect((await inRoot(['dpkg-query', '-W', 'overlay'])).exitCode).not.toBe(0);
  });
});
