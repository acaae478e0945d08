import { describe, expect, it } from 'vitest';
import { checkPersisted, DamagedStateError } from '../../../src/ipam/persisted.js';
import { ipToInt, parseNetwork } from '../../../src/lib/ipv4.js';

const RANGE = parseNetwork('10.32.0.0/12');
const a = (ip: string, subnet = '10.32.0.0/12') => ({ addr: ipToInt(ip), subnet });

describe('IPAM state read back from disk', () => {
  it('passes whole state through', () => {
    const raw = { range: '10.32.0.0/12', ring: undefined, paxos: undefined, allocations: [['c1:eth0', a('10.32.0.5')] as [string, unknown]] };
    expect(checkPersisted(raw, RANGE).allocations).toEqual([['c1:eth0', a('10.32.0.5')]]);
  });

  it('checks allocations against the stored range, leaving a changed range to its own refusal', () => {
    const raw = { range: '10.40.0.0/16', ring: undefined, paxos: undefined, allocations: [['c1:eth0', a('10.40.0.5', '10.40.0.0/16')] as [string, unknown]] };
    expect(checkPersisted(raw, RANGE).allocations).toHaveLength(1);
  });

  it.each([
    [{ range: 7 }, /range/],
    [{ ring: { id: 'x', range: '10.32.0.0/12', seeds: [], peers: [], e: [1] } }, /ring does not parse/],
    [{ paxos: 'garbage' }, /consensus record/],
    [{ allocations: [['c1:eth0', 'garbage']] }, /allocation of c1:eth0 does not parse/],
    [{ allocations: [['c1:eth0', a('10.99.0.5')]] }, /outside the range/],
    [{ allocations: [['c1:eth0', { addr: ipToInt('10.32.0.5'), subnet: 'lan' }]] }, /no valid subnet/],
    [{ allocations: [['c1:eth0', a('10.32.0.5')], ['c2:eth0', a('10.32.0.5')]] }, /hold the same address/],
  ])('refuses damage %#', (part, msg) => {
    const raw = { range: undefined, ring: undefined, paxos: undefined, allocations: [] as [string, unknown][], ...part };
    expect(() => checkPersisted(raw, RANGE)).toThrow(DamagedStateError);
    expect(() => checkPersisted(raw, RANGE)).toThrow(msg);
  });
});
