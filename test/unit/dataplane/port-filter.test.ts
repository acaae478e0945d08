import { describe, expect, it } from 'vitest';
import { assemble } from '../../../src/lib/cbpf.js';
import { DROP, PASS, fromContainerSteps, installedBytecodes, portFilterCommands, portFilterPrograms, toContainerSteps } from '../../../src/dataplane/port-filter.js';
import { arpFrame, ipFrame, runCbpf } from '../lib/cbpf-run.js';

const port = { hostVeth: 'vethov0123456', mac: '02:42:0a:20:01:05', ip: '10.32.1.5', subnet: '10.32.1.0/24' };
const ctx = { bridgeMac: '02:aa:bb:cc:dd:01', range: '10.32.0.0/12' };
const NEIGHBOUR = '02:42:0a:20:01:09';
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
  it('drops runts that end before the fields it checks', () => {
    const f = ipFrame({ srcMac: port.mac, dstMac: NEIGHBOUR, src: port.ip, dst: '10.32.2.9' });
    expect(send(f.slice(0, 14))).toBe(DROP);
    expect(send(arpFrame({ srcMac: port.mac, spa: port.ip, tpa: '10.32.1.9' }).slice(0, 30))).toBe(DROP);
  });
});

describe('port filter (tc cBPF), frames to the container', () => {
  const recv = (f: Uint8Array) => runCbpf(toCtr, f);
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
