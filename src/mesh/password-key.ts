/**
 * The key every handshake of this process mixes in for its password, derived
 * once at start-up with scrypt (memory-hard, OWASP's parameters), salted with
 * the cluster name. Someone who captured a handshake can test a password guess
 * only by paying one such derivation per guess; a table built for one cluster
 * name is useless for another.
 */
import { randomBytes, scrypt } from 'node:crypto';

export const DEFAULT_CLUSTER_NAME = 'overlay';

/** OWASP Password Storage Cheat Sheet: scrypt N=2^17, r=8, p=1 (128 MiB and ~0.3-1 s per derivation). */
export const PASSWORD_KDF = { N: 2 ** 17, r: 8, p: 1, keyLen: 32 } as const;
export type KdfParams = { N: number; r: number; p: number; keyLen: number };

/** The derived key; a distinct type so that a raw password can never be passed where a key is meant. */
export type PasswordKey = Buffer & { readonly __passwordKey: true };

/** scrypt needs 128 * N * r bytes; Node's default limit (32 MiB) is below that. */
function maxmemFor(p: KdfParams): number {
  return 128 * p.N * p.r * p.p + 32 * 1024 * 1024;
}

export function passwordSalt(clusterName: string): Buffer {
  return Buffer.from(`overlay-cluster\0${clusterName}`, 'utf8');
}

/** Runs on the libuv thread pool: the event loop keeps serving while it works. */
export function derivePasswordKey(password: string, clusterName: string, params: KdfParams = PASSWORD_KDF): Promise<PasswordKey> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), passwordSalt(clusterName), params.keyLen, { N: params.N, r: params.r, p: params.p, maxmem: maxmemFor(params) }, (err, key) =>
      err ? reject(err) : resolve(key as PasswordKey),
    );
  });
}

/** Below this many characters `overlay launch` warns: a short password falls to an offline search. */
export const MIN_PASSWORD_CHARS = 16;

export function shortPasswordWarning(password: string): string | undefined {
  if ([...password].length >= MIN_PASSWORD_CHARS) return undefined;
  return `the password has fewer than ${MIN_PASSWORD_CHARS} characters: anyone who reaches the control port can test guesses offline; "overlay gen-password" prints a strong one`;
}

/** A strong password: 32 random bytes (256 bits), base64url so it survives shells and files. */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}
