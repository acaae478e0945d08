import { describe, expect, it } from 'vitest';
import { bridgeMacFor, hostVethName, HOST_VETH_RE, isValidMac, peerTempName, randomMac } from '../../../src/dataplane/names.js';
import { natRules } from '../../../src/dataplane/nat.js';

describe('data plane names', () => {
  it('host veth names are deterministic, distinct per netns and interface, and fit IFNAMSIZ', () => {
    const a = hostVethName('/run/netns/c1', 'eth0');
    expect(a).toBe(hostVethName('/run/netns/c1', 'eth0'));
    expect(a).not.toBe(hostVethName('/run/netns/c1', 'eth1'));
    expect(a).not.toBe(hostVethName('/run/netns/c2', 'eth0'));
    expect(a.length).toBeLessThanOrEqual(15);
    expect(a).toMatch(HOST_VETH_RE);
    expect(peerTempName('/run/netns/c1', 'eth0')).not.toMatch(HOST_VETH_RE);
  });

  it('MACs are unicast and locally administered; the bridge MAC is fixed per peer', () => {
    for (let i = 0; i < 50; i++) {
      const m = randomMac();
      expect(isValidMac(m)).toBe(true);
      expect(parseInt(m.slice(0, 2), 16) & 0x03).toBe(0x02);
    }
    expect(bridgeMacFor('02:00:00:00:00:01')).toBe(bridgeMacFor('02:00:00:00:00:01'));
    expect(bridgeMacFor('02:00:00:00:00:01')).not.toBe(bridgeMacFor('02:00:00:00:00:02'));
    expect(isValidMac('01:00:5e:00:00:01')).toBe(false);
    expect(isValidMac('00:00:00:00:00:00')).toBe(false);
  });
});

describe('NAT rules', () => {
  it('masquerade leaving traffic and traffic routed into each exposed subnet, in one chain', () => {
    const text = natRules('overlay', '10.32.0.0/12', [{ subnet: '10.32.0.0/12' }, { subnet: '10.32.5.0/24' }]);
    expect(text).toContain('type nat hook postrouting priority srcnat; policy accept;');
    expect(text).toContain('ip saddr 10.32.5.0/24 ip daddr != 10.32.0.0/12 oifname != "overlay" masquerade');
    expect(text).toContain('ip saddr != 10.32.0.0/12 ip daddr 10.32.5.0/24 oifname "overlay" masquerade');
    expect(text.match(/masquerade/g)).toHaveLength(4);
  });
});
