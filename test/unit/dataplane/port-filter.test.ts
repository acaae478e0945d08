import { describe, expect, it } from 'vitest';
import { assemble } from '../../../src/lib/cbpf.js';
import { DROP, PASS, fromContainerSteps, installedBytecodes, portFilterCommands, portFilterPrograms, toContainerSteps } from '../../../src/dataplane/port-filter.js';
import { arpFrame, ipFrame, runCbpf } from '../lib/cbpf-run.js';

const port = { hostVeth: 'vethov0123456', mac: '02:42:0a:20:01:05', ip: '10.32.1.5', subnet: '10.32.1.0/24' };
const ctx = { bridgeMac: '02:aa:bb:cc:dd:01', range: '10.32.0.0/12' };
const NEIGHBOUR = '02:42:0a:20:01:09';
const BROADCAST = 'ff:ff:ff:ff:ff:ff';
/** The Ethernet address of an IPv4 multicast group (01:00:5e + its low 23 bits). */
const groupMac = (ip: string) => {
  const b = ip.split('.').map(Number);
  return ['01', '00', '5e', b[1]! & 0x7f, b[2]!, b[3]!].map((x) => (typeof x === 'string' ? x : x.toString(16).padStart(2, '0'))).join(':');
};
/** An IGMPv3 report: protocol 2, a 24-byte header (Router Alert option), to 224.0.0.22. */
const igmpReport = (srcMac: string, src: string) => {
  const f = ipFrame({ srcMac, dstMac: groupMac('224.0.0.22'), src, dst: '224.0.0.22' });
  f[14] = 0x46;
  f[23] = 2;
  return f;
};
const OTHER_HOST_BRIDGE = '02:aa:bb:cc:dd:02';
const fromCtr = assemble(fromContainerSteps(port, ctx));
const toCtr = assemble(toContainerSteps(port, ctx));

describe('port filter (tc cBPF), frames from the container', () => {
  const send = (f: Uint8Array) => runCbpf(fromCtr, f);
  it('passes its own traffic within its subnet and to this host', () => {
    expect(send(ipFrame({ srcMac: port.mac, dstMac: NEIGHBOUR, src: port.ip, dst: '10.32.1.9' }))).toBe(PASS);
    expect(send(ipFrame({ srcMac: port.mac, dstMac: ctx.bridgeMac, src: port.ip, dst: '1.1.1.1' }))).toBe(PASS);
    expect(send(arpFrame({ srcMac: port.mac, spa: port.ip, tpa: '10.32.1.1' }))).toBe(PASS);
    expect(send(arpFrame({ srcMac: port.mac, spa: port.ip, tpa: port.ip }))).toBe(PASS); // gratuitous
  });
  it('drops other subnets, spoofed sources and anything that is not IPv4 or ARP', () => {
    expect(send(ipFrame({ srcMac: port.mac, dstMac: NEIGHBOUR, src: port.ip, dst: '10.32.2.9' }))).toBe(DROP);
    expect(send(ipFrame({ srcMac: port.mac, dstMac: OTHER_HOST_BRIDGE, src: port.ip, dst: '10.32.2.9' }))).toBe(DROP);
    expect(send(ipFrame({ srcMac: port.mac, dstMac: NEIGHBOUR, src: '10.32.1.6', dst: '10.32.1.9' }))).toBe(DROP);
    expect(send(ipFrame({ srcMac: NEIGHBOUR, dstMac: NEIGHBOUR, src: port.ip, dst: '10.32.1.9' }))).toBe(DROP);
    expect(send(arpFrame({ srcMac: port.mac, spa: port.ip, tpa: '10.32.2.9' }))).toBe(DROP);
    expect(send(arpFrame({ srcMac: port.mac, spa: '10.32.2.99', tpa: '10.32.2.9' }))).toBe(DROP);
    expect(send(arpFrame({ srcMac: port.mac, sha: NEIGHBOUR, spa: port.ip, tpa: '10.32.1.9' }))).toBe(DROP);
    const ipv6 = ipFrame({ srcMac: port.mac, dstMac: NEIGHBOUR, src: port.ip, dst: '10.32.1.9' });
    ipv6[12] = 0x86;
    ipv6[13] = 0xdd;
    expect(send(ipv6)).toBe(DROP);
    const arpOddSizes = arpFrame({ srcMac: port.mac, spa: port.ip, tpa: '10.32.1.9' });
    arpOddSizes[19] = 16; // a 16-byte protocol address would move every field the filter reads
    expect(send(arpOddSizes)).toBe(DROP);
  });
  it('passes its own broadcast and multicast: limited, subnet-directed, groups, IGMP', () => {
    expect(send(ipFrame({ srcMac: port.mac, dstMac: BROADCAST, src: port.ip, dst: '255.255.255.255' }))).toBe(PASS);
    expect(send(ipFrame({ srcMac: port.mac, dstMac: BROADCAST, src: port.ip, dst: '10.32.1.255' }))).toBe(PASS);
    for (const g of ['224.0.0.1', '224.0.0.251', '239.1.1.1', '239.255.255.255'])
      expect(send(ipFrame({ srcMac: port.mac, dstMac: groupMac(g), src: port.ip, dst: g })), g).toBe(PASS);
    expect(send(igmpReport(port.mac, port.ip))).toBe(PASS);
  });
  it('drops broadcast and multicast with a spoofed source, and broadcast directed at another subnet', () => {
    expect(send(ipFrame({ srcMac: port.mac, dstMac: groupMac('239.1.1.1'), src: '10.32.2.9', dst: '239.1.1.1' }))).toBe(DROP);
    expect(send(ipFrame({ srcMac: port.mac, dstMac: groupMac('239.1.1.1'), src: '10.32.1.6', dst: '239.1.1.1' }))).toBe(DROP);
    expect(send(ipFrame({ srcMac: NEIGHBOUR, dstMac: groupMac('239.1.1.1'), src: port.ip, dst: '239.1.1.1' }))).toBe(DROP);
    expect(send(ipFrame({ srcMac: NEIGHBOUR, dstMac: BROADCAST, src: port.ip, dst: '255.255.255.255' }))).toBe(DROP);
    expect(send(ipFrame({ srcMac: port.mac, dstMac: BROADCAST, src: '0.0.0.0', dst: '255.255.255.255' }))).toBe(DROP);
    expect(send(igmpReport(port.mac, '10.32.2.9'))).toBe(DROP);
    expect(send(ipFrame({ srcMac: port.mac, dstMac: BROADCAST, src: port.ip, dst: '10.32.2.255' }))).toBe(DROP);
    // Just outside the multicast block on either side.
    expect(send(ipFrame({ srcMac: port.mac, dstMac: NEIGHBOUR, src: port.ip, dst: '223.255.255.255' }))).toBe(DROP);
    expect(send(ipFrame({ srcMac: port.mac, dstMac: NEIGHBOUR, src: port.ip, dst: '240.0.0.1' }))).toBe(DROP);
  });
  it('drops runts that end before the fields it checks', () => {
    const f = ipFrame({ srcMac: port.mac, dstMac: NEIGHBOUR, src: port.ip, dst: '10.32.2.9' });
    expect(send(f.slice(0, 14))).toBe(DROP);
    expect(send(arpFrame({ srcMac: port.mac, spa: port.ip, tpa: '10.32.1.9' }).slice(0, 30))).toBe(DROP);
  });
});

describe('port filter (tc cBPF), frames to the container', () => {
  const recv = (f: Uint8Array) => runCbpf(toCtr, f);
  const send = (f: Uint8Array) => runCbpf(fromCtr, f);
  it('passes its subnet, and what this host sends or routes from outside the overlay', () => {
    expect(recv(ipFrame({ srcMac: NEIGHBOUR, dstMac: port.mac, src: '10.32.1.9', dst: port.ip }))).toBe(PASS);
    expect(recv(arpFrame({ srcMac: NEIGHBOUR, spa: '10.32.1.9', tpa: port.ip }))).toBe(PASS);
    expect(recv(ipFrame({ srcMac: ctx.bridgeMac, dstMac: port.mac, src: '1.1.1.1', dst: port.ip }))).toBe(PASS);
  });
  it('drops other overlay subnets, even routed by this host, and routed traffic of other hosts', () => {
    expect(recv(ipFrame({ srcMac: NEIGHBOUR, dstMac: port.mac, src: '10.32.2.9', dst: port.ip }))).toBe(DROP);
    expect(recv(ipFrame({ srcMac: ctx.bridgeMac, dstMac: port.mac, src: '10.32.2.9', dst: port.ip }))).toBe(DROP);
    expect(recv(ipFrame({ srcMac: OTHER_HOST_BRIDGE, dstMac: port.mac, src: '1.1.1.1', dst: port.ip }))).toBe(DROP);
    expect(recv(arpFrame({ srcMac: NEIGHBOUR, spa: '10.32.2.9', tpa: port.ip }))).toBe(DROP);
  });
  it("passes its own subnet's broadcast and multicast, never another subnet's (the bridge floods them to every port)", () => {
    expect(recv(ipFrame({ srcMac: NEIGHBOUR, dstMac: groupMac('239.1.1.1'), src: '10.32.1.9', dst: '239.1.1.1' }))).toBe(PASS);
    expect(recv(ipFrame({ srcMac: NEIGHBOUR, dstMac: BROADCAST, src: '10.32.1.9', dst: '255.255.255.255' }))).toBe(PASS);
    expect(recv(igmpReport(NEIGHBOUR, '10.32.1.9'))).toBe(PASS);
    const other = '02:42:0a:20:02:09';
    expect(recv(ipFrame({ srcMac: other, dstMac: groupMac('239.1.1.1'), src: '10.32.2.9', dst: '239.1.1.1' }))).toBe(DROP);
    expect(recv(ipFrame({ srcMac: other, dstMac: groupMac('224.0.0.1'), src: '10.32.2.9', dst: '224.0.0.1' }))).toBe(DROP);
    expect(recv(ipFrame({ srcMac: other, dstMac: BROADCAST, src: '10.32.2.9', dst: '255.255.255.255' }))).toBe(DROP);
    expect(recv(ipFrame({ srcMac: other, dstMac: BROADCAST, src: '10.32.2.9', dst: '10.32.1.255' }))).toBe(DROP);
    expect(recv(igmpReport(other, '10.32.2.9'))).toBe(DROP);
    // Nor when it comes with this host's MAC (a host exposed on both subnets, sending or relaying).
    expect(recv(ipFrame({ srcMac: ctx.bridgeMac, dstMac: groupMac('239.1.1.1'), src: '10.32.2.1', dst: '239.1.1.1' }))).toBe(DROP);
  });
  it('a multicast frame one port may send is refused by every port of another subnet', () => {
    const other = { hostVeth: 'vethov0abcdef0', mac: '02:42:0a:20:02:05', ip: '10.32.2.5', subnet: '10.32.2.0/24' };
    const otherRecv = assemble(toContainerSteps(other, ctx));
    for (const dst of ['239.1.1.1', '224.0.0.1', '255.255.255.255', '10.32.1.255']) {
      const f = ipFrame({ srcMac: port.mac, dstMac: dst.startsWith('2') && dst !== '255.255.255.255' ? groupMac(dst) : BROADCAST, src: port.ip, dst });
      expect(send(f), dst).toBe(PASS);
      expect(runCbpf(otherRecv, f), dst).toBe(DROP);
    }
  });
});

describe('port filter commands', () => {
  it('are idempotent tc batch lines, and the installed bytecode reads back from tc filter show', () => {
    const p = portFilterPrograms(port, ctx);
    const lines = portFilterCommands(port.hostVeth, p);
    expect(lines[0]).toBe(`qdisc replace dev ${port.hostVeth} clsact`);
    expect(lines.slice(1).every((l) => l.includes('filter replace') && l.includes('handle 1 bpf da bytecode'))).toBe(true);
    const shown = `filter protocol all pref 1 bpf chain 0 \nfilter protocol all pref 1 bpf chain 0 handle 0x1 direct-action not_in_hw bytecode '${p.fromContainer}'\n`;
    expect(installedBytecodes(shown)).toEqual([p.fromContainer]);
  });
});
