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
});
