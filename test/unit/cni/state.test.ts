import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/lib/logger.js';
import { drainPendingReleases, FileAttachmentStore, FileReleaseQueue, pendingReleaseDir } from '../../../src/lib/plugin-state.js';
import type { AttachmentRecord } from '../../../cni/ports.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cni-state-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const rec = (containerId: string, ifname = 'eth0'): AttachmentRecord => ({
  containerId,
  ifname,
  netns: '/run/netns/x',
  network: 'net1',
  address: '10.32.0.2/12',
  subnet: '10.32.0.0/12',
  hostVeth: 'vethov1',
  mac: '02:00:00:00:00:01',
  createdAt: '2026-01-01T00:00:00.000Z',
});

describe('FileAttachmentStore', () => {
  it('puts, gets, lists and removes records (creating the dir on demand)', async () => {
    const store = new FileAttachmentStore(join(dir, 'state'), silentLogger);
    expect(await store.list()).toEqual([]);
    await store.put(rec('c1'));
    await store.put(rec('c1', 'net%1'));
    expect(await store.get('c1', 'eth0')).toEqual(rec('c1'));
    expect((await store.list()).map((r) => r.ifname).sort()).toEqual(['eth0', 'net%1']);
    await store.remove('c1', 'eth0');
    await store.remove('c1', 'eth0');
    expect(await store.get('c1', 'eth0')).toBeUndefined();
    // No temp files left behind by the atomic writes.
    expect((await readdir(join(dir, 'state'))).every((n) => n.endsWith('.json'))).toBe(true);
  });
  it('skips a corrupt record without deleting it', async () => {
    const store = new FileAttachmentStore(dir, silentLogger);
    await store.put(rec('c1'));
    await writeFile(join(dir, 'c2%3Aeth0.json'), '{"containerId": "c2", tru');
    expect((await store.list()).map((r) => r.containerId)).toEqual(['c1']);
    expect(await store.get('c2', 'eth0')).toBeUndefined();
    expect(await readdir(dir)).toContain('c2%3Aeth0.json');
  });
});

describe('pending releases', () => {
  it('queues idempotently and drains into the daemon, keeping failures', async () => {
    const q = FileReleaseQueue.inStateDir(dir);
    await q.enqueue('c1:eth0');
    await q.enqueue('c1:eth0');
    await q.enqueue('c2:eth0');
    expect((await q.list()).sort()).toEqual(['c1:eth0', 'c2:eth0']);
    expect(await q.has('c2:eth0')).toBe(true);
    const released: string[] = [];
    expect(pendingReleaseDir()).toBe('/var/lib/overlay/cni/pending-release');
    const result = await drainPendingReleases(pendingReleaseDir(dir), {
      release: async (owner) => {
        if (owner === 'c2:eth0') throw new Error('daemon busy');
        released.push(owner);
      },
    });
    expect(result.released).toEqual(['c1:eth0']);
    expect(result.failed).toEqual([{ owner: 'c2:eth0', error: 'daemon busy' }]);
    expect(await q.list()).toEqual(['c2:eth0']);
  });
  it('draining a missing queue dir is a no-op', async () => {
    expect(await drainPendingReleases(join(dir, 'nope'), { release: async () => {} })).toEqual({ released: [], failed: [] });
  });
});
