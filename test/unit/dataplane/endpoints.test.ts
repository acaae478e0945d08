import { describe, expect, it } from 'vitest';
import { EndpointTable, parseEndpointRecord } from '../../../src/dataplane/endpoints.js';

const SELF = '02:00:00:00:00:01';
const OTHER = '02:00:00:00:00:02';
const rec = { underlay: '198.51.100.2', bridgeMac: '02:aa:00:00:00:02', linkLocal: 'fe80::1', mtu: 1450, macs: ['02:bb:00:00:00:01'] };

describe('endpoint gossip channel', () => {
  it('publishes our record once per change, with a rising version', () => {
    const t = new EndpointTable(SELF, () => {});
    expect(t.setOwn(rec, 100)).toBe(true);
    expect(t.encodeDelta()).toEqual([[SELF, { ...rec, version: 100 }]]);
    expect(t.setOwn({ ...rec, macs: [...rec.macs] }, 100)).toBe(false);
    expect(t.encodeDelta()).toBeUndefined();
    expect(t.setOwn({ ...rec, macs: [] }, 100)).toBe(true);
    expect(t.get(SELF)!.version).toBe(101);
  });

  it('merges newer records of others, ignores stale ones and ones claiming to be us', () => {
    let changes = 0;
    const t = new EndpointTable(SELF, () => changes++);
    expect(t.merge(OTHER, [[OTHER, { ...rec, version: 5 }]])).toHaveLength(1);
    expect(t.merge(OTHER, [[OTHER, { ...rec, version: 4, underlay: '198.51.100.9' }]])).toBeUndefined();
    expect(t.merge(OTHER, [[SELF, { ...rec, version: 99 }]])).toBeUndefined();
    expect(t.get(OTHER)!.underlay).toBe('198.51.100.2');
    expect(t.get(SELF)).toBeUndefined();
    expect(changes).toBe(1);
    expect(t.encodeFull()).toEqual([[OTHER, { ...rec, version: 5 }]]);
  });

  it('drops malformed records and payloads without throwing', () => {
    const t = new EndpointTable(SELF, () => {});
    for (const bad of [null, 'x', {}, [[OTHER]], [[OTHER, { ...rec, version: 1, underlay: 'nonsense' }]], [[OTHER, { ...rec, version: 1, macs: ['ff:ff:ff:ff:ff:ff'] }]]])
      expect(t.merge(OTHER, bad)).toBeUndefined();
    expect(parseEndpointRecord({ ...rec, version: 1, mtu: 10 })).toBeUndefined();
    expect(parseEndpointRecord({ ...rec, version: 1, linkLocal: '10.0.0.1' })).toBeUndefined();
    expect(parseEndpointRecord({ ...rec, version: 1, macs: new Array(70_000).fill('02:00:00:00:00:01') })).toBeUndefined();
    expect(parseEndpointRecord({ ...rec, version: 1 })).toBeDefined();
  });

  it('anti-entropy by digest: equal tables compare by hash, and only a missing or older record crosses', () => {
    const THIRD = '02:00:00:00:00:03';
    const a = new EndpointTable(SELF, () => {});
    const b = new EndpointTable(OTHER, () => {});
    a.setOwn(rec, 10);
    b.setOwn({ ...rec, underlay: '198.51.100.3' }, 20);
    b.merge(THIRD, [[THIRD, { ...rec, underlay: '198.51.100.4', version: 7 }]]);
    a.merge(THIRD, [[THIRD, { ...rec, underlay: '198.51.100.4', version: 6 }]]);
    expect(a.digest.hash()).not.toBe(b.digest.hash());
    // b answers a's versions with its own record and its newer copy of THIRD's, not a's.
    const toA = b.digest.compare(a.digest.versions());
    expect(toA.weLack).toBe(true);
    expect((toA.send as [string, unknown][]).map(([k]) => k).sort()).toEqual([OTHER, THIRD]);
    a.merge(OTHER, toA.send);
    const toB = a.digest.compare(b.digest.versions());
    expect(toB.send).toEqual([[SELF, a.get(SELF)]]);
    b.merge(SELF, toB.send);
    expect(a.digest.hash()).toBe(b.digest.hash());
    expect(a.digest.compare(b.digest.versions())).toEqual({ send: undefined, weLack: false });
    expect(() => a.digest.compare([['x']])).toThrow(/malformed dataplane versions/);
  });
});
