import { describe, expect, it } from 'vitest';
import { formatResult, mergeResults, parseResult, type CniResult } from '../../../cni/spec/result.js';
import { SUPPORTED_VERSIONS } from '../../../cni/spec/versions.js';

const ours: CniResult = {
  interfaces: [{ name: 'overlay' }, { name: 'vethov1' }, { name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/c', mtu: 1450 }],
  ips: [{ address: '10.32.0.2/12', gateway: '10.32.0.1', interface: 2 }],
  routes: [{ dst: '10.32.0.0/12' }, { dst: '0.0.0.0/0', gw: '10.32.0.1', priority: 10 }],
  dns: {},
};

describe('result conversion', () => {
  it.each(SUPPORTED_VERSIONS)('formats and reads back a %s result', (v) => {
    const wire = formatResult(ours, v);
    expect(wire.cniVersion).toBe(v);
    const ips = wire.ips as Record<string, unknown>[];
    if (v.startsWith('0.')) expect(ips[0]!.version).toBe('4');
    else expect(ips[0]).not.toHaveProperty('version');
    const ifaces = wire.interfaces as Record<string, unknown>[];
    const routes = wire.routes as Record<string, unknown>[];
    if (v === '1.1.0') {
      expect(ifaces[2]!.mtu).toBe(1450);
      expect(routes[1]!.priority).toBe(10);
    } else {
      expect(ifaces[2]).not.toHaveProperty('mtu');
      expect(routes[1]).not.toHaveProperty('priority');
    }
    const back = parseResult(JSON.parse(JSON.stringify(wire)), v);
    expect(back.ips).toEqual(ours.ips);
    expect(back.interfaces[2]!.sandbox).toBe('/run/netns/c');
  });

  it('merges after a prevResult with shifted interface indices and no duplicate routes', () => {
    const prev: CniResult = {
      interfaces: [{ name: 'lo', sandbox: '/run/netns/c' }],
      ips: [{ address: '127.0.0.1/8', interface: 0 }],
      routes: [{ dst: '10.32.0.0/12' }],
      dns: { nameservers: ['10.0.0.1'] },
    };
    const m = mergeResults(prev, ours);
    expect(m.interfaces.map((i) => i.name)).toEqual(['lo', 'overlay', 'vethov1', 'eth0']);
    expect(m.ips).toEqual([prev.ips[0], { ...ours.ips[0], interface: 3 }]);
    expect(m.routes).toHaveLength(2);
    expect(m.dns.nameservers).toEqual(['10.0.0.1']);
  });

  it('rejects a bad ip version in old results', () => {
    expect(() => parseResult({ ips: [{ version: '5', address: '1.2.3.4/24' }] }, '0.4.0')).toThrow(/version/);
  });
});
