import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, listNetns } from '../../scripts/lab/lab.js';

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
});
