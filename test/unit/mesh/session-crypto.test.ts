import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../../src/lib/random.js';
import { derivePasswordKey, type PasswordKey } from '../../../src/mesh/password-key.js';
import { deriveSessionKeys, FrameOpener, FrameSealer, newEphemeralKey, proofFor, verifyProof } from '../../../src/mesh/session-crypto.js';

const keys = new Map<string, PasswordKey>();
beforeAll(async () => {
  for (const pw of ['pw', 'other']) keys.set(pw, await derivePasswordKey(pw, 'overlay'));
});

function pair(pwA: string, pwB: string) {
  const a = newEphemeralKey();
  const b = newEphemeralKey();
  const ha = Buffer.from('hello-a');
  const hb = Buffer.from('hello-b');
  const ka = deriveSessionKeys(a, b.publicB64, keys.get(pwA)!, ha, hb, true);
  const kb = deriveSessionKeys(b, a.publicB64, keys.get(pwB)!, ha, hb, false);
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

  it('fuzz: random and mutated sealed frames never open and never crash the opener', () => {
    const seed = Number(process.env['SEED'] ?? 1);
    const rand = seededRandom(seed);
    const { ka, kb } = pair('pw', 'pw');
    for (let i = 0; i < 3_000; i++) {
      // Fresh ends each round, so the mutated frame is exactly the one the opener expects next.
      const good = new FrameSealer(ka.sendKey).seal(Buffer.from(`{"t":"g","c":"x","d":${i}}`));
      const opener = new FrameOpener(kb.recvKey);
      if (i % 100 === 0) expect(new FrameOpener(kb.recvKey).open(good).toString()).toContain(`"d":${i}`);
      let input: Buffer;
      if (rand() < 0.3) {
        input = Buffer.from(Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256)));
      } else {
        input = Buffer.from(good);
        const flips = 1 + Math.floor(rand() * 3);
        for (let f = 0; f < flips; f++) input[Math.floor(rand() * input.length)] ^= 1 + Math.floor(rand() * 255);
        if (rand() < 0.3) input = input.subarray(0, Math.floor(rand() * input.length));
      }
      expect(() => opener.open(input), `seed ${seed}, round ${i}`).toThrow(/authentication|too short/);
    }
  });
});

describe('frame cipher compatibility', () => {
  it("seals exactly as node:crypto's chacha20-poly1305 did (ciphertext then tag), so older peers still talk to this one", async () => {
    const { createCipheriv, randomBytes: rb } = await import('node:crypto');
    const key = rb(32);
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    for (let seq = 0n; seq < 3n; seq++) {
      const plain = rb(100 + Number(seq));
      const n = Buffer.alloc(12);
      n.writeBigUInt64BE(seq, 4);
      const c = createCipheriv('chacha20-poly1305', key, n, { authTagLength: 16 });
      const want = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
      const got = sealer.seal(plain);
      expect(got.equals(want)).toBe(true);
      expect(opener.open(want).equals(plain)).toBe(true);
    }
  });
});
