import { describe, expect, it } from 'vitest';
import { GatewaysOnDemand } from '../../../src/dataplane/gateway.js';

function fakeExposures(fail = 0) {
  const exposed = new Set<string>();
  const calls: string[] = [];
  let failures = fail;
  return {
    exposed,
    calls,
    isExposed: (s: string) => exposed.has(s),
    expose: async (s: string) => {
      calls.push(s);
      await new Promise((r) => setTimeout(r, 5));
      if (failures-- > 0) throw new Error('range full');
      exposed.add(s);
    },
  };
}

describe('gateways on demand', () => {
  it('exposes a subnet once, however many admissions race for it, and never one already exposed', async () => {
    const e = fakeExposures();
    const g = new GatewaysOnDemand(e);
    await Promise.all([g.ensure('10.32.1.0/24'), g.ensure('10.32.1.0/24'), g.ensure('10.32.2.0/24')]);
    await g.ensure('10.32.1.0/24');
    expect(e.calls).toEqual(['10.32.1.0/24', '10.32.2.0/24']);
    e.exposed.add('10.32.3.0/24'); // exposed by hand
    await g.ensure('10.32.3.0/24');
    expect(e.calls).toHaveLength(2);
  });
  it('a failed expose fails the admissions waiting for it, and the next one tries again', async () => {
    const e = fakeExposures(1);
    const g = new GatewaysOnDemand(e);
    const both = await Promise.allSettled([g.ensure('10.32.1.0/24'), g.ensure('10.32.1.0/24')]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await g.ensure('10.32.1.0/24');
    expect(e.calls).toEqual(['10.32.1.0/24', '10.32.1.0/24']);
    expect(e.exposed.has('10.32.1.0/24')).toBe(true);
  });
});
