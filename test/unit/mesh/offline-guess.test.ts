/**
 * What an attacker who can reach the control port gets, and what it costs
 * them: a real router answers a hello with its sealed proof, so the attacker
 * can test password guesses offline. Each test of a guess must run the full
 * scrypt derivation (OWASP parameters, salted with the cluster name); the old
 * derivation (one SHA-256 of the password) and cheaper scrypt settings give
 * nothing.
 */
import { scrypt } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../../src/mesh/frame.js';
import { derivePasswordKey, PASSWORD_KDF, passwordSalt, type PasswordKey } from '../../../src/mesh/password-key.js';
import { decodeMessage } from '../../../src/mesh/protocol.js';
import type { Router } from '../../../src/mesh/router.js';
import { deriveSessionKeys, FrameOpener, newEphemeralKey, verifyProof, type EphemeralKey } from '../../../src/mesh/session-crypto.js';
import { freePort, loopbackRouter } from '../../../scripts/lab/loopback.js';
import { legacyV1PasswordKey } from '../../../scripts/bench/legacy-kdf.js';

const PASSWORD = 'correct horse battery staple';
const CLUSTER = 'prod-eu';

interface Capture {
  eph: EphemeralKey;
  mine: Buffer;
  theirs: Buffer;
  sealedProof: Buffer;
}

describe('offline guessing against a captured handshake', () => {
  let router: Router;
  let capture: Capture;

  beforeAll(async () => {
    const port = await freePort();
    router = loopbackRouter({ name: '02:00:00:00:05:00', nickname: 'victim', port, passwordKey: await derivePasswordKey(PASSWORD, CLUSTER) });
    await router.start();
    // The attacker: knows no password, sends a hello, keeps what comes back.
    const eph = newEphemeralKey();
    const mine = Buffer.from(JSON.stringify({ protocol: 'overlay', minVersion: 2, maxVersion: 2, encrypted: true, pub: eph.publicB64 }));
    const frames = await new Promise<Buffer[]>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      const dec = new FrameDecoder();
      const got: Buffer[] = [];
      sock.on('error', reject);
      sock.on('connect', () => sock.write(encodeFrame(mine)));
      sock.on('data', (d) => {
        got.push(...dec.push(d));
        if (got.length >= 2) {
          sock.destroy();
          resolve(got);
        }
      });
    });
    capture = { eph, mine, theirs: frames[0]!, sealedProof: frames[1]! };
  });
  afterAll(async () => {
    await router?.stop();
  });

  /** The attacker's test of one candidate key, through the real handshake code. */
  const keyOpensProof = (key: Buffer) => {
    const pub = (JSON.parse(capture.theirs.toString()) as { pub: string }).pub;
    const keys = deriveSessionKeys(capture.eph, pub, key as PasswordKey, capture.mine, capture.theirs, true);
    try {
      const msg = decodeMessage(new FrameOpener(keys.recvKey).open(capture.sealedProof));
      return msg.t === 'proof' && verifyProof(keys, false, msg.mac);
    } catch {
      return false;
    }
  };
  const scryptWith = (password: string, salt: Buffer, N: number) =>
    new Promise<Buffer>((res, rej) => scrypt(password, salt, 32, { N, r: PASSWORD_KDF.r, p: PASSWORD_KDF.p, maxmem: 512 * 1024 * 1024 }, (e, k) => (e ? rej(e) : res(k))));

  it('the capture really is a guessing oracle: the right password, derived as the daemon does, opens it; a wrong one does not', async () => {
    expect(capture.theirs.toString()).not.toContain('victim'); // the hello names nobody
    expect(keyOpensProof(await derivePasswordKey(PASSWORD, CLUSTER))).toBe(true);
    expect(keyOpensProof(await derivePasswordKey('correct horse battery stapler', CLUSTER))).toBe(false);
  });

  it('no shortcut: the old one-hash derivation, cheaper scrypt settings or another cluster name do not open it', async () => {
    const oldV1 = legacyV1PasswordKey(PASSWORD);
    expect(keyOpensProof(oldV1)).toBe(false);
    expect(keyOpensProof(await scryptWith(PASSWORD, passwordSalt(CLUSTER), PASSWORD_KDF.N / 2))).toBe(false);
    expect(keyOpensProof(await scryptWith(PASSWORD, passwordSalt(CLUSTER), 2 ** 10))).toBe(false);
    expect(keyOpensProof(await derivePasswordKey(PASSWORD, 'overlay'))).toBe(false); // a table for the default name is useless here
    expect(keyOpensProof(await scryptWith(PASSWORD, passwordSalt(CLUSTER), PASSWORD_KDF.N))).toBe(true);
  });

  it('so each guess costs one full scrypt: 128 MiB of memory (less is refused) and its time', async () => {
    const need = 128 * PASSWORD_KDF.N * PASSWORD_KDF.r;
    expect(need).toBe(128 * 1024 * 1024);
    const tooLittle = new Promise<Buffer>((res, rej) =>
      scrypt('guess', passwordSalt(CLUSTER), 32, { ...PASSWORD_KDF, maxmem: need - 1 }, (e, k) => (e ? rej(e) : res(k))),
    );
    await expect(tooLittle).rejects.toThrow(/memory/i);
    const t0 = performance.now();
    const guesses = ['password', 'overlay', 'hunter2'];
    for (const g of guesses) expect(keyOpensProof(await derivePasswordKey(g, CLUSTER))).toBe(false);
    const perGuessMs = (performance.now() - t0) / guesses.length;
    console.log(`one offline guess took ${perGuessMs.toFixed(0)} ms and ${need / 2 ** 20} MiB here (scrypt N=2^17 r=8 p=1)`);
    // A floor, not a speed target: a memory-hard derivation this size cannot run in under 50 ms on any current CPU (load only slows it).
    expect(perGuessMs).toBeGreaterThan(50);
  });
});
