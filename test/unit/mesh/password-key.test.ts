import { describe, expect, it } from 'vitest';
import { derivePasswordKey, generatePassword, MIN_PASSWORD_CHARS, shortPasswordWarning } from '../../../src/mesh/password-key.js';

describe('password key, strength warning and generated passwords', () => {
  it('the same password and cluster give the same key; another cluster name another key', async () => {
    const small = { N: 2 ** 10, r: 8, p: 1, keyLen: 32 }; // the parameters are tested with the real ones in offline-guess.test.ts
    const a = await derivePasswordKey('pw', 'one', small);
    expect((await derivePasswordKey('pw', 'one', small)).equals(a)).toBe(true);
    expect((await derivePasswordKey('pw', 'two', small)).equals(a)).toBe(false);
    expect(a.length).toBe(32);
    // Unicode in either normal form is the same password.
    expect((await derivePasswordKey('caf\u00e9', 'one', small)).equals(await derivePasswordKey('cafe\u0301', 'one', small))).toBe(true);
  });

  it('warns about short passwords only', () => {
    expect(shortPasswordWarning('hunter2')).toMatch(/fewer than 16 characters.*gen-password/);
    expect(shortPasswordWarning('x'.repeat(MIN_PASSWORD_CHARS))).toBeUndefined();
  });

  it('gen-password gives 256 random bits, shell-safe, never the same twice', () => {
    const a = generatePassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generatePassword()).not.toBe(a);
    expect(shortPasswordWarning(a)).toBeUndefined();
  });
});
