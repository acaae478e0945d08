/**
 * The password key as protocol v1 derived it: one SHA-256 of the password.
 * Kept only as the baseline the security benchmark and the offline-guess test
 * compare scrypt against; the daemon never uses it.
 */
import { createHash } from 'node:crypto';
import type { PasswordKey } from '../../src/mesh/password-key.js';

export function legacyV1PasswordKey(password: string): PasswordKey {
  return createHash('sha256').update('overlay-password\0').update(password, 'utf8').digest() as PasswordKey;
}
