import { describe, expect, it } from 'vitest';
import { parseFdbEvent, parseIpEvent } from '../../../src/dataplane/kernel-events.js';

describe('kernel events as the monitors print them', () => {
  it('reads link events: name, up, mtu, master, deletion', () => {
    expect(parseIpEvent('4: v0@v1: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue master br0 state LOWERLAYERDOWN group default \\    link/ether 8a:c8:5f:10:46:d3 brd ff:ff:ff:ff:ff:ff')).toEqual({
      kind: 'link',
      deleted: false,
      ifname: 'v0',
      up: true,
      mtu: 1500,
      master: 'br0',
    });
    expect(parseIpEvent('Deleted 2: br0: <BROADCAST,MULTICAST> mtu 1400 qdisc noop state DOWN group default \\    link/ether 12:fe:47:a0:2e:79 brd ff:ff:ff:ff:ff:ff')).toEqual({
      kind: 'link',
      deleted: true,
      ifname: 'br0',
      up: false,
      mtu: 1400,
    });
  });

  it('skips the bridge’s port notices, whose "Deleted" means a port left the bridge, not that it is gone', () => {
    expect(parseIpEvent('Deleted 4: v0@v1: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 master br0 state LOWERLAYERDOWN \\    link/ether 8a:c8:5f:10:46:d3')).toBeUndefined();
    expect(parseIpEvent('4: v0@v1: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 master br0 state LOWERLAYERDOWN \\    link/ether 8a:c8:5f:10:46:d3')).toBeUndefined();
  });

  it('reads address events, with family and scope', () => {
    expect(parseIpEvent('Deleted 2: br0    inet 10.99.0.1/24 scope global br0\\       valid_lft forever preferred_lft forever')).toEqual({
      kind: 'addr',
      deleted: true,
      ifname: 'br0',
      family: 'inet',
      address: '10.99.0.1/24',
      scope: 'global',
    });
    expect(parseIpEvent('7: overlay    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever')).toMatchObject({ family: 'inet6', address: 'fe80::1/64', scope: 'link' });
  });

  it('reads FDB events of the bridge and of the VXLAN device', () => {
    expect(parseFdbEvent('00:00:00:00:00:00 dev vx dst 198.51.100.9 self permanent')).toEqual({
      kind: 'fdb',
      deleted: false,
      mac: '00:00:00:00:00:00',
      dev: 'vx',
      dst: '198.51.100.9',
      permanent: true,
    });
    expect(parseFdbEvent('Deleted 02:42:0a:20:00:05 dev ovl0123456789ab master overlay')).toEqual({
      kind: 'fdb',
      deleted: true,
      mac: '02:42:0a:20:00:05',
      dev: 'ovl0123456789ab',
      master: 'overlay',
      permanent: false,
    });
  });

  it('reads rule events (the WireGuard steering rule)', () => {
    expect(parseIpEvent('Deleted 6784:\tfrom all ipproto udp dport 6784 lookup 6784')).toEqual({ kind: 'rule', deleted: true, pref: 6784, table: '6784' });
  });

  it('ignores lines it does not understand', () => {
    expect(parseIpEvent('')).toBeUndefined();
    expect(parseIpEvent('something else entirely')).toBeUndefined();
    expect(parseFdbEvent('not a mac dev x')).toBeUndefined();
  });
});
