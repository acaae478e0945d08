import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, listNetns, newLabPrefix } from '../../scripts/lab/lab.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** Gone, or a zombie waiting for init to reap it. */
function gone(pid: number): boolean {
  try {
    return /State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

describe('namespace lab', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3, label: 'labtest' });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('hosts reach each other over the lab switch', async () => {
    const r = await lab.exec(lab.host(1).ns, 'ping', ['-c1', '-W2', lab.host(3).ip]);
    expect(r.exitCode).toBe(0);
  });

  it('destroy removes every namespace and process it made', async () => {
    const l2 = await Lab.create({ hosts: 2, label: 'gone' });
    const sp = l2.spawn(l2.host(1).ns, 'sleep', ['60']);
    // A detached process we did not track (like a daemon started by `overlay launch`).
    const detached = await l2.exec(l2.host(2).ns, 'sh', ['-c', 'sleep 60 >/dev/null 2>&1 & echo $!']);
    const detachedPid = Number(detached.stdout.trim());
    await l2.destroy();
    expect(gone(detachedPid)).toBe(true);
    const left = (await listNetns()).filter((n) => n.startsWith(l2.prefix));
    expect(left).toEqual([]);
    expect(() => process.kill(sp.pid, 0)).toThrow();
  });

  it("destroy removes the lab's /tmp folder with whatever tests made in it, unless something is mounted there", async () => {
    const l3 = await Lab.create({ hosts: 1, label: 'folder' });
    const dir = join('/tmp', l3.prefix);
    mkdirSync(join(dir, 'h1', 'deep'), { recursive: true });
    writeFileSync(join(dir, 'h1', 'deep', 'overlay.log'), 'x');
    mkdirSync(join(dir, 'mnt'));
    // A mount under the folder, visible only in a private mount namespace: from there the folder must be kept.
    const seen = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      `mount -t tmpfs tmpfs ${dir}/mnt && node --input-type=module -e 'import { removeLabFolder } from "${ROOT}/dist/scripts/lab/lab.js"; console.log(removeLabFolder("${l3.prefix}"))'`], { reject: false });
    expect(seen.stdout.trim(), seen.stderr).toBe('false');
    expect(existsSync(join(dir, 'h1', 'deep', 'overlay.log'))).toBe(true);
    await l3.destroy();
    expect(existsSync(dir)).toBe(false);
  });

  it("the next lab removes a dead run's leftover folder and keeps a live run's", async () => {
    const exited = execa('true');
    await exited;
    const dead = newLabPrefix('stale').replace(/^ovlab\d+x/, `ovlab${exited.pid}x`);
    const live = newLabPrefix('live');
    for (const p of [dead, live]) mkdirSync(join('/tmp', p, 'rootfs', 'etc'), { recursive: true });
    try {
      const l4 = await Lab.create({ hosts: 1, label: 'sweep' });
      await l4.destroy();
      expect(existsSync(join('/tmp', dead))).toBe(false);
      expect(existsSync(join('/tmp', live))).toBe(true);
    } finally {
      for (const p of [dead, live]) rmSync(join('/tmp', p), { recursive: true, force: true });
    }
  });
});
