import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../src/lib/random.js';
import { decodeHello, decodeMessage, negotiateVersion, ProtocolError, type Hello } from '../../../src/mesh/protocol.js';

const hello: Hello = {
  protocol: 'overlay',
  minVersion: 1,
  maxVersion: 3,
  name: '02:00:00:00:00:01',
  nickname: 'h1',
  uid: 'abc',
  connId: 'c1',
  port: 6783,
  encrypted: false,
};
const enc = (x: unknown) => Buffer.from(JSON.stringify(x));

describe('protocol decoding', () => {
  it('accepts a valid hello and negotiates the highest common version', () => {
    const { hello: h, identity } = decodeHello(enc(hello));
    expect(identity).toEqual({ name: hello.name, nickname: 'h1', uid: hello.uid, connId: hello.connId, port: hello.port });
    expect(negotiateVersion(h, 1, 2)).toBe(2);
    expect(negotiateVersion(h, 1, 5)).toBe(3);
  });

  it('refuses a downgrade below our minimum and disjoint ranges', () => {
    const old = decodeHello(enc({ ...hello, minVersion: 1, maxVersion: 1 })).hello;
    expect(() => negotiateVersion(old, 2, 3)).toThrow(/no common protocol version/);
  });

  it.each([
    [{ ...hello, protocol: 'weave' }, /unknown protocol/],
    [{ ...hello, name: 'not-a-mac' }, /peer name/],
    [{ ...hello, port: 70000 }, /port/],
    [{ ...hello, minVersion: 4, maxVersion: 2 }, /minVersion > maxVersion/],
    [{ ...hello, nickname: 'x'.repeat(100) }, /nickname/],
    [{ ...hello, encrypted: true }, /pub/],
    [[1, 2, 3], /not an object/],
  ])('refuses a malformed hello %#', (h, msg) => {
    expect(() => decodeHello(enc(h))).toThrow(msg);
  });

  it('an encrypted hello names no peer: identity fields are neither needed nor read', () => {
    const { hello: h, identity } = decodeHello(enc({ protocol: 'overlay', minVersion: 1, maxVersion: 1, encrypted: true, pub: 'k'.repeat(44) }));
    expect(h.encrypted).toBe(true);
    expect(identity).toBeUndefined();
    expect(() => decodeMessage(enc({ t: 'proof', mac: 'm' }))).toThrow(/field "name"/);
  });

  it('decodes each message type and refuses unknown ones', () => {
    expect(decodeMessage(enc({ t: 'hb' }))).toEqual({ t: 'hb' });
    // v3 anti-entropy messages: hashes per channel, a channel's versions.
    expect(decodeMessage(enc({ t: 'ah', h: { topology: '1.abc.def' } }))).toEqual({ t: 'ah', h: { topology: '1.abc.def' } });
    expect(decodeMessage(enc({ t: 'av', c: 'topology', v: [['a', 1, 'u']], r: true }))).toEqual({ t: 'av', c: 'topology', v: [['a', 1, 'u']], r: true });
    expect(() => decodeMessage(enc({ t: 'ah', h: [] }))).toThrow(ProtocolError);
    expect(() => decodeMessage(enc({ t: 'ah', h: { topology: 5 } }))).toThrow(ProtocolError);
    expect(() => decodeMessage(enc({ t: 'av', v: [] }))).toThrow(ProtocolError);
    expect(decodeMessage(enc({ t: 'g', c: 'topology', d: [1] }))).toEqual({ t: 'g', c: 'topology', d: [1] });
    expect(() => decodeMessage(enc({ t: 'u', c: 'x', s: 'bad', r: hello.name, ttl: 1, d: 0 }))).toThrow(ProtocolError);
    expect(() => decodeMessage(enc({ t: 'zap' }))).toThrow(/unknown message type/);
    expect(() => decodeMessage(Buffer.from('{'))).toThrow(/not valid JSON/);
  });

  it('fuzz: mutated hellos and messages only ever raise ProtocolError', () => {
    const seed = Number(process.env['SEED'] ?? 99);
    const rand = seededRandom(seed);
    const seeds = [enc(hello), enc({ t: 'g', c: 'ipam', d: { a: 1 } }), enc({ t: 'u', c: 'x', s: hello.name, r: hello.name, ttl: 3, d: null })];
    for (let i = 0; i < 5000; i++) {
      const base = Buffer.from(seeds[i % seeds.length]!);
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) base[Math.floor(rand() * base.length)] = Math.floor(rand() * 256);
      const cut = rand() < 0.3 ? base.subarray(0, Math.floor(rand() * base.length)) : base;
      for (const decode of [decodeHello, decodeMessage]) {
        try {
          decode(cut);
        } catch (e) {
          expect(e, `seed ${seed} case ${i}`).toBeInstanceOf(ProtocolError);
        }
      }
    }
  });
});
