/**
 * Password authentication and frame encryption for one connection, composed
 * from standard primitives only: ephemeral X25519, HKDF-SHA256 (salted with
 * the process's scrypt-derived password key, see password-key.ts, and bound to
 * the handshake transcript), HMAC-SHA256 proofs in both
 * directions, and ChaCha20-Poly1305 frames with sequence-number nonces, so a
 * replayed, reordered or altered frame fails to open.
 */
import {
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import type { PasswordKey } from './password-key.js';
// ChaCha20-Poly1305 from @noble/ciphers, not node:crypto: Bun's node:crypto (BoringSSL) has no
// chacha20-poly1305 cipher ("Unknown cipher"), and the overlay executable is a Bun program.
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ProtocolError } from './protocol.js';

const TAG = 16;
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export interface EphemeralKey {
  privateKey: KeyObject;
  /** Raw 32-byte public key, base64. */
  publicB64: string;
}

export function newEphemeralKey(): EphemeralKey {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey, publicB64: der.subarray(der.length - 32).toString('base64') };
}

function publicKeyFromB64(b64: string): KeyObject {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 32) throw new ProtocolError('peer public key must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export interface SessionKeys {
  proofKey: Buffer;
  sendKey: Buffer;
  recvKey: Buffer;
  transcript: Buffer;
}

/**
 * Derive the keys for one connection. `initiatorHello`/`responderHello` are the
 * raw hello bodies as sent, so both sides hash the same transcript.
 */
export function deriveSessionKeys(
  own: EphemeralKey,
  peerPublicB64: string,
  passwordKey: PasswordKey,
  initiatorHello: Buffer,
  responderHello: Buffer,
  weInitiated: boolean,
): SessionKeys {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: own.privateKey, publicKey: publicKeyFromB64(peerPublicB64) });
  } catch (e) {
    throw new ProtocolError(`key exchange failed: ${(e as Error).message}`);
  }
  const transcript = createHash('sha256').update(initiatorHello).update(responderHello).digest();
  // Protocol v2: the salt is the scrypt-derived key (v1 used a plain hash of the password, cheap to guess offline).
  const okm = Buffer.from(hkdfSync('sha256', shared, passwordKey, Buffer.concat([Buffer.from('overlay mesh v2\0'), transcript]), 96));
  const i2r = okm.subarray(32, 64);
  const r2i = okm.subarray(64, 96);
  return {
    proofKey: okm.subarray(0, 32),
    sendKey: weInitiated ? i2r : r2i,
    recvKey: weInitiated ? r2i : i2r,
    transcript,
  };
}

/** Proof that we derived the same keys, i.e. know the password. Role-bound so it cannot be reflected. */
export function proofFor(keys: SessionKeys, initiator: boolean): string {
  return createHmac('sha256', keys.proofKey)
    .update(initiator ? 'initiator' : 'responder')
    .update(keys.transcript)
    .digest('base64');
}

export function verifyProof(keys: SessionKeys, peerIsInitiator: boolean, mac: string): boolean {
  const want = Buffer.from(proofFor(keys, peerIsInitiator), 'base64');
  const got = Buffer.from(mac, 'base64');
  return got.length === want.length && timingSafeEqual(got, want);
}

function nonce(seq: bigint): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(seq, 4);
  return n;
}

/** Seals outgoing frame bodies; one per direction, sequence numbers from 0. */
export class FrameSealer {
  private seq = 0n;
  constructor(private readonly key: Buffer) {}
  seal(plain: Buffer): Buffer {
    // Ciphertext, then the 16-byte tag: the layout of every earlier release.
    return Buffer.from(chacha20poly1305(this.key, nonce(this.seq++)).encrypt(plain));
  }
}

/** Opens incoming frame bodies in order; any replay, reordering or tampering throws. */
export class FrameOpener {
  private seq = 0n;
  constructor(private readonly key: Buffer) {}
  open(sealed: Buffer): Buffer {
    if (sealed.length < TAG) throw new ProtocolError('encrypted frame too short');
    try {
      const plain = Buffer.from(chacha20poly1305(this.key, nonce(this.seq)).decrypt(sealed));
      this.seq++;
      return plain;
    } catch {
      throw new ProtocolError('encrypted frame failed authentication (tampered, replayed or reordered)');
    }
  }
}
