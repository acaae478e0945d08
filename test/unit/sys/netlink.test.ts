/**
 * The netlink codec and the rtnetlink requests the plugin sends, byte for
 * byte where the layout matters (header lengths, alignment, nesting, the
 * fields the kernel reads); the real kernel runs them in the CNI integration
 * tests.
 */
import { describe, expect, it } from 'vitest';
import { assemble, sockFilter } from '../../../src/lib/cbpf.js';
import { errnoOf, NLA_F_NESTED, NlWriter, nlRequest, parseAttrs, parseMessages, readStr, readU32, setSequence } from '../../../src/sys/netlink/message.js';
import * as rtnl from '../../../src/sys/netlink/rtnl.js';

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
/** The attributes of a request after its netlink header and a family header of `fixed` bytes. */
const attrsOf = (msg: Uint8Array, fixed: number) => parseAttrs(msg.subarray(16), fixed);

describe('netlink messages', () => {
  it('writes the header with the total length and pads attributes to 4 bytes', () => {
    const msg = nlRequest(16, 0x5, (w) => w.u32(7).attrStr(3, 'eth0').attrU8(4, 1));
    expect(msg.length % 4).toBe(0);
    expect(view(msg).getUint32(0, true)).toBe(msg.length);
    expect(view(msg).getUint16(4, true)).toBe(16);
    expect(view(msg).getUint16(6, true)).toBe(0x5);
    // "eth0\0" is 5 bytes: attribute length 9, padded to 12.
    expect(view(msg).getUint16(20, true)).toBe(9);
    expect(msg.length).toBe(16 + 4 + 12 + 8);
    setSequence(msg, 42);
    expect(view(msg).getUint32(8, true)).toBe(42);
  });

  it('nests: the outer length covers the inner attributes, and the nested flag is set', () => {
    const w = new NlWriter().nest(18, (n) => n.attrStr(1, 'veth').nest(2, (d) => d.attrU32(5, 9)));
    const bytes = w.done();
    expect(view(bytes).getUint16(0, true)).toBe(bytes.length);
    expect(view(bytes).getUint16(2, true)).toBe(18 | NLA_F_NESTED);
    const outer = parseAttrs(bytes).get(18)!;
    const inner = parseAttrs(outer);
    expect(readStr(inner.get(1)!)).toBe('veth');
    expect(readU32(parseAttrs(inner.get(2)!).get(5)!)).toBe(9);
  });

  it('reads several messages from one datagram; a truncated one is an error', () => {
    const ack = (seq: number, errno: number) => {
      const m = nlRequest(2, 0, (w) => w.i32(-errno).bytes(new Uint8Array(16)));
      setSequence(m, seq);
      return m;
    };
    const both = new Uint8Array([...ack(1, 0), ...ack(2, 17)]);
    const msgs = parseMessages(both);
    expect(msgs.map((m) => [m.type, m.seq, errnoOf(m)])).toEqual([
      [2, 1, 0],
      [2, 2, 17],
    ]);
    expect(() => parseMessages(both.subarray(0, both.length - 4))).toThrow(/malformed netlink message/);
  });

  it('stops reading attributes at a bad length instead of running past the end', () => {
    const bytes = new NlWriter().attrU32(1, 5).done();
    const broken = new Uint8Array([...bytes, 0xff, 0x00, 0x02, 0x00]);
    expect([...parseAttrs(broken).keys()]).toEqual([1]);
  });
});

describe('rtnetlink requests', () => {
  it('creates a veth with its peer named, addressed and placed in another netns, both ends down', () => {
    const msg = rtnl.newVeth({ name: 'ovl0123456789ab', mtu: 1450, peer: { name: 'ovt0123456789ab', mac: '02:42:0a:20:00:05', mtu: 1450, netnsFd: 7 } });
    expect(view(msg).getUint16(4, true)).toBe(rtnl.RTM.NEWLINK);
    expect(view(msg).getUint16(6, true) & 0x608).toBe(0x608); // CREATE | EXCL, and ECHO: the answer names the new link's index
    expect(view(msg).getUint32(16 + 8, true)).toBe(0); // no IFF_UP
    const a = attrsOf(msg, 16);
    expect(readStr(a.get(3)!)).toBe('ovl0123456789ab');
    expect(readU32(a.get(4)!)).toBe(1450);
    const info = parseAttrs(a.get(18)!);
    expect(readStr(info.get(1)!)).toBe('veth');
    const peer = parseAttrs(parseAttrs(info.get(2)!).get(1)!, 16);
    expect(readStr(peer.get(3)!)).toBe('ovt0123456789ab');
    expect([...peer.get(1)!]).toEqual([0x02, 0x42, 0x0a, 0x20, 0x00, 0x05]);
    expect(readU32(peer.get(28)!)).toBe(7);
  });

  it('sets a link up, down, renamed, onto a bridge', () => {
    const up = rtnl.setLink(5, { up: true, master: 3, mtu: 1400 });
    expect([view(up).getInt32(20, true), view(up).getUint32(24, true), view(up).getUint32(28, true)]).toEqual([5, 1, 1]);
    expect(readU32(attrsOf(up, 16).get(10)!)).toBe(3);
    expect(readU32(attrsOf(up, 16).get(4)!)).toBe(1400);
    const down = rtnl.setLink(5, { up: false });
    expect([view(down).getUint32(24, true), view(down).getUint32(28, true)]).toEqual([0, 1]);
    const rename = rtnl.setLink(5, { name: 'ovr0123456789ab' });
    expect(view(rename).getUint32(28, true)).toBe(0); // flags untouched
    expect(readStr(attrsOf(rename, 16).get(3)!)).toBe('ovr0123456789ab');
  });

  it('renames the container end with its MTU and arp_notify on', () => {
    const msg = rtnl.renameWithArpNotify(9, 'eth0', 1450);
    const a = attrsOf(msg, 16);
    expect(readStr(a.get(3)!)).toBe('eth0');
    const conf = parseAttrs(parseAttrs(parseAttrs(a.get(26)!).get(2)!).get(1)!);
    expect(readU32(conf.get(22)!)).toBe(1); // IPV4_DEVCONF_ARP_NOTIFY
  });

  it('adds an address, a route via a gateway and a static FDB entry', () => {
    const addr = rtnl.addAddress(9, '10.32.1.5', 24);
    expect([...addr.subarray(16, 20)]).toEqual([2, 24, 0, 0]);
    expect(view(addr).getUint32(20, true)).toBe(9);
    expect([...attrsOf(addr, 8).get(2)!]).toEqual([10, 32, 1, 5]);
    const route = rtnl.replaceRoute(9, '0.0.0.0', 0, '10.32.1.1');
    expect([...route.subarray(16, 24)]).toEqual([2, 0, 0, 0, 254, 3, 0, 1]);
    const ra = attrsOf(route, 12);
    expect(ra.has(1)).toBe(false); // default route: no destination
    expect([...ra.get(5)!]).toEqual([10, 32, 1, 1]);
    expect(readU32(ra.get(4)!)).toBe(9);
    const fdb = rtnl.replaceStaticFdb(4, '02:42:0a:20:00:05');
    expect(fdb[16]).toBe(7); // AF_BRIDGE
    expect(view(fdb).getUint16(24, true)).toBe(0x42); // NUD_NOARP | NUD_REACHABLE: "static"
    expect(fdb[26]).toBe(0x04); // NTF_MASTER
  });

  it('puts a classic BPF program on a clsact hook in direct-action mode', () => {
    const msg = rtnl.replaceBpfFilter(4, rtnl.CLSACT_INGRESS, sockFilter(assemble([{ ret: 0 }])));
    expect(view(msg).getUint32(16 + 8, true)).toBe(1); // handle 1
    expect(view(msg).getUint32(16 + 12, true)).toBe(0xfffffff2);
    expect(view(msg).getUint32(16 + 16, true)).toBe((1 << 16) | 0x0300); // pref 1, all protocols
    const a = attrsOf(msg, 20);
    expect(readStr(a.get(1)!)).toBe('bpf');
    const opts = parseAttrs(a.get(2)!);
    expect(view(opts.get(4)!).getUint16(0, true)).toBe(1);
    expect([...opts.get(5)!]).toEqual([0x06, 0, 0, 0, 0, 0, 0, 0]);
    expect(readU32(opts.get(8)!)).toBe(1);
  });

  it('reads a link reply: index, name, MAC and a veth peer index', () => {
    const reply = nlRequest(rtnl.RTM.NEWLINK, 0, (w) => {
      w.u8(0).u8(0).u16(1).i32(12).u32(0).u32(0);
      w.attrStr(3, 'ovl0123456789ab').attr(1, Uint8Array.from([2, 0, 0, 0, 0, 9])).attrU32(5, 3);
    });
    expect(rtnl.parseLink(parseMessages(reply)[0]!)).toEqual({ index: 12, name: 'ovl0123456789ab', mac: '02:00:00:00:00:09', peerIndex: 3 });
  });

  it('refuses malformed addresses before anything is sent', () => {
    expect(() => rtnl.addAddress(1, '10.32.1.256', 24)).toThrow(/bad IPv4/);
    expect(() => rtnl.replaceStaticFdb(1, '02:42:0a:20:00')).toThrow(/bad MAC/);
  });
});

describe('classic BPF programs for netlink', () => {
  it('are struct sock_filter arrays: code, jt, jf, k', () => {
    const bytes = sockFilter(assemble([{ loadHalf: 12 }, { ifEqual: 0x800, then: 'ok', else: 'next' }, { ret: 2 }, { label: 'ok' }, { ret: 0xffffffff }]));
    expect(bytes.length).toBe(4 * 8);
    expect([...bytes.subarray(0, 8)]).toEqual([0x28, 0, 0, 0, 12, 0, 0, 0]);
    expect([...bytes.subarray(8, 16)]).toEqual([0x15, 0, 1, 0, 0x00, 0x08, 0, 0]); // code (u16), jt 1, jf 0, k
    expect([...bytes.subarray(24, 32)]).toEqual([0x06, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  });
  it.each([0, 12, 4097 * 8])('a program of %i bytes is refused before it is sent', (n) => {
    expect(() => rtnl.replaceBpfFilter(4, rtnl.CLSACT_EGRESS, new Uint8Array(n))).toThrow(/bad classic BPF program/);
  });
});
