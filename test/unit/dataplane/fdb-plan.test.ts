import { describe, expect, it } from 'vitest';
import { desiredFdb, planFdb, remoteEntries, ZERO_MAC } from '../../../src/dataplane/fdb-plan.js';

const A = '198.51.100.1';
const B = '198.51.100.2';

describe('VXLAN FDB plan', () => {
  it('wants one all-zeros entry per peer and one entry per announced MAC', () => {
    expect(desiredFdb([{ underlay: B, macs: ['02:00:00:00:00:0b'] }, { underlay: A, macs: ['02:00:00:00:00:0a'] }])).toEqual([
      { mac: ZERO_MAC, dst: A },
      { mac: '02:00:00:00:00:0a', dst: A },
      { mac: ZERO_MAC, dst: B },
      { mac: '02:00:00:00:00:0b', dst: B },
    ]);
  });

  it('a MAC announced by two peers gets one entry', () => {
    const want = desiredFdb([{ underlay: A, macs: ['02:00:00:00:00:01'] }, { underlay: B, macs: ['02:00:00:00:00:01'] }]);
    expect(want.filter((e) => e.mac === '02:00:00:00:00:01')).toHaveLength(1);
  });

  it('only the device’s own remote entries count, not what the bridge learnt', () => {
    expect(
      remoteEntries([
        { mac: '02:00:00:00:00:01', ifname: 'overlay-vx', dst: A, flags: ['self'], state: 'permanent' },
        { mac: '02:00:00:00:00:02', ifname: 'overlay-vx', master: 'overlay', flags: [] },
        { mac: '33:33:00:00:00:01', ifname: 'overlay-vx', flags: ['self'], state: 'permanent' },
      ]),
    ).toEqual([{ mac: '02:00:00:00:00:01', dst: A }]);
  });

  it('plans deletions of stale entries, appends for flooding and replaces for unicast', () => {
    const current = [
      { mac: ZERO_MAC, dst: A },
      { mac: ZERO_MAC, dst: '198.51.100.9' },
      { mac: '02:00:00:00:00:01', dst: '198.51.100.9' },
    ];
    const want = [
      { mac: ZERO_MAC, dst: A },
      { mac: ZERO_MAC, dst: B },
      { mac: '02:00:00:00:00:01', dst: B },
    ];
    expect(planFdb('overlay-vx', current, want)).toEqual([
      'fdb del 00:00:00:00:00:00 dev overlay-vx dst 198.51.100.9',
      'fdb del 02:00:00:00:00:01 dev overlay-vx dst 198.51.100.9',
      'fdb append 00:00:00:00:00:00 dev overlay-vx dst 198.51.100.2',
      'fdb replace 02:00:00:00:00:01 dev overlay-vx dst 198.51.100.2',
    ]);
    expect(planFdb('overlay-vx', want, want)).toEqual([]);
  });

  it('an unchanged input gives an empty plan', () => {
    const remotes = [{ underlay: A, macs: ['02:00:00:00:00:0a', '02:00:00:00:00:0c'] }, { underlay: B, macs: ['02:00:00:00:00:0b'] }];
    const programmed = desiredFdb(remotes);
    expect(planFdb('overlay-vx', programmed, desiredFdb(structuredClone(remotes)))).toEqual([]);
  });

  it('one new MAC at one peer gives one FDB add, and nothing else', () => {
    const before = desiredFdb([{ underlay: A, macs: ['02:00:00:00:00:0a'] }, { underlay: B, macs: ['02:00:00:00:00:0b'] }]);
    const after = desiredFdb([{ underlay: A, macs: ['02:00:00:00:00:0a', '02:00:00:00:00:0d'] }, { underlay: B, macs: ['02:00:00:00:00:0b'] }]);
    expect(planFdb('overlay-vx', before, after)).toEqual(['fdb replace 02:00:00:00:00:0d dev overlay-vx dst 198.51.100.1']);
  });
});
