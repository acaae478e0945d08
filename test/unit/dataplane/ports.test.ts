import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { IsolatedPort } from '../../../src/dataplane/isolation.js';
import type { IsolatedPorts } from '../../../src/dataplane/isolated-ports.js';
import { PortTable, type PortRecord } from '../../../src/dataplane/ports.js';
import { createLogger } from '../../../src/lib/logger.js';
import { Store } from '../../../src/store/store.js';

/** The isolation layer as the port table sees it, without touching the kernel. */
function fakeIsolation() {
  const ports = new Map<string, IsolatedPort>();
  const iso = {
    load: (ps: IsolatedPort[]) => ps.forEach((p) => ports.set(p.hostVeth, p)),
    register: async (p: IsolatedPort) => void ports.set(p.hostVeth, p),
    unregister: (v: string) => void ports.delete(v),
  };
  return { ports, iso: iso as unknown as IsolatedPorts };
}

const rec = (n: number, over: Partial<PortRecord> = {}): PortRecord => ({
  hostVeth: `ovl00000000000${n}`,
  mac: `02:00:00:00:00:0${n}`,
  ip: `10.32.0.${n}`,
  subnet: '10.32.0.0/12',
  isolate: true,
  source: 'cni',
  owner: `c${n}:eth0`,
  ...over,
});

async function table() {
  const store = await Store.open(mkdtempSync(join(tmpdir(), 'ovports')));
  const f = fakeIsolation();
  return { store, ...f, t: new PortTable(store, f.iso, createLogger({ level: 'error' })) };
}

describe('port table: one record per port, admitted → plugged → retired', () => {
  it('a port is admitted (durably, with its rules), plugged once, and retired with its rules', async () => {
    const { store, ports, t } = await table();
    await t.admit(rec(1));
    expect(t.stateOf(rec(1).hostVeth)).toBe('admitted');
    expect(ports.has(rec(1).hostVeth)).toBe(true);
    expect(t.pluggedMacs()).toEqual([]); // not announced before the kernel shows it on the bridge
    expect(t.plugged(rec(1).hostVeth)).toBe(true);
    expect(t.plugged(rec(1).hostVeth)).toBe(false); // news only once
    expect(t.pluggedMacs()).toEqual([rec(1).mac]);
    expect(await t.retire(rec(1).hostVeth, 'test')).toMatchObject({ owner: 'c1:eth0' });
    expect(await t.retire(rec(1).hostVeth, 'again')).toBeUndefined();
    expect(ports.has(rec(1).hostVeth)).toBe(false);
    expect(await store.entries('dataplane/port/')).toEqual([]);
    await store.close();
  });

  it('a port that is not isolated has no rules, and re-admitting a name replaces it', async () => {
    const { store, ports, t } = await table();
    await t.admit(rec(2));
    await t.admit(rec(2, { isolate: false, mac: '02:00:00:00:00:0f' }));
    expect(ports.has(rec(2).hostVeth)).toBe(false);
    expect(t.get(rec(2).hostVeth)?.mac).toBe('02:00:00:00:00:0f');
    await store.close();
  });

  it('after a restart every record is back, admitted until the kernel says plugged; old attach records move in', async () => {
    const { store, t } = await table();
    await t.admit(rec(3));
    // What `overlay attach` kept before ports had one record.
    await store.put('dataplane/attach/x', { netns: '/run/netns/x', ifname: 'ethwe', address: '10.32.0.9/12', hostVeth: 'ovl0000000000ff', mac: '02:00:00:00:00:ff' });
    const f = fakeIsolation();
    const again = new PortTable(store, f.iso, createLogger({ level: 'error' }));
    await again.load();
    expect(again.list().map((r) => r.hostVeth).sort()).toEqual([rec(3).hostVeth, 'ovl0000000000ff']);
    expect(again.list('plugged')).toEqual([]);
    expect(again.get('ovl0000000000ff')).toMatchObject({ source: 'attach', owner: 'attach:/run/netns/x:ethwe', subnet: '10.32.0.0/12', ip: '10.32.0.9' });
    expect(f.ports.size).toBe(2); // both isolated
    expect(await store.entries('dataplane/attach/')).toEqual([]);
    await store.close();
  });
});
