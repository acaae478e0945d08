import { describe, expect, it } from 'vitest';
import { deriveSessionKeys, FrameOpener, FrameSealer, newEphemeralKey, proofFor, verifyProof } from '../../../src/mesh/session-crypto.js';

function pair(pwA: string, pwB: string) {
  const a = newEphemeralKey();
  const b = newEphemeralKey();
  const ha = Buffer.from('hello-a');
  const hb = Buffer.from('hello-b');
  const ka = deriveSessionKeys(a, b.publicB64, pwA, ha, hb, true);
  const kb = deriveSessionKeys(b, a.publicB64, pwB, ha, hb, false);
  return { ka, kb };
}

describe('session crypto', () => {
  it('the same password gives matching proofs and keys in both directions', () => {
    const { ka, kb } = pair('pw', 'pw');
    expect(verifyProof(kb, true, proofFor(ka, true))).toBe(true);
    expect(verifyProof(ka, false, proofFor(kb, false))).toBe(true);
    const sealed = new FrameSealer(ka.sendKey).seal(Buffer.from('secret'));
    expect(sealed.toString()).not.toContain('secret');
    expect(new FrameOpener(kb.recvKey).open(sealed).toString()).toBe('secret');
  });

  it('a wrong password fails the proof', () => {
    const { ka, kb } = pair('pw', 'other');
    expect(verifyProof(kb, true, proofFor(ka, true))).toBe(false);
  });

  it('a proof cannot be reflected back to its sender', () => {
    const { ka } = pair('pw', 'pw');
    expect(verifyProof(ka, false, proofFor(ka, true))).toBe(false);
  });

  it('replayed, reordered and tampered frames fail to open', () => {
    const { ka, kb } = pair('pw', 'pw');
    const s = new FrameSealer(ka.sendKey);
    const f1 = s.seal(Buffer.from('one'));
    const f2 = s.seal(Buffer.from('two'));
    const o = new FrameOpener(kb.recvKey);
    expect(() => new FrameOpener(kb.recvKey).open(f2)).toThrow(/authentication/); // reordered
    expect(o.open(f1).toString()).toBe('one');
    expect(() => o.open(f1)).toThrow(/authentication/); // replayed
    const o2 = new FrameOpener(kb.recvKey);
    const bad = Buffer.from(f1);
    bad[0]! ^= 1;
    expect(() => o2.open(bad)).toThrow(/authentication/); // tampered
    expect(() => o2.open(Buffer.alloc(3))).toThrow(/too short/);
  });
});
