import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store, StoreError } from '../../../src/store/store.js';
import { loadOrCreateName, loadTargets, saveTargets } from '../../../src/daemon/identity.js';

describe('store', () => {
  it('round-trips values and batches, and keeps them across reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovstore'));
    let s = await Store.open(dir);
    await s.put('a/1', { x: 1 });
    await s.batch([{ type: 'put', key: 'a/2', value: [2] }, { type: 'del', key: 'a/1' }]);
    const name = await loadOrCreateName(s);
    await saveTargets(s, ['198.51.100.2:6783']);
    await s.close();
    s = await Store.open(dir);
    expect(await s.get('a/1')).toBeUndefined();
    expect(await s.entries('a/')).toEqual([['a/2', [2]]]);
    expect(await loadOrCreateName(s)).toBe(name);
    expect(await loadTargets(s)).toEqual(['198.51.100.2:6783']);
    await s.close();
  });

  it('refuses a data dir held by another daemon with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovstore'));
    const s = await Store.open(dir);
    await expect(Store.open(dir)).rejects.toThrow(/in use by another overlay daemon/);
    await s.close();
  });

  it('refuses a corrupt database with a way out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovstore'));
    mkdirSync(join(dir, 'db'));
    writeFileSync(join(dir, 'db', 'CURRENT'), 'garbage\n');
    const err = await Store.open(dir).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(String(err.message)).toMatch(/overlay reset/);
  });
});
