/**
 * What the hardened password key costs, against the v1 derivation, in the
 * same run: the derivation itself (once per process), a real daemon's start-up
 * in a namespaced host with each, and a handshake between two routers on
 * loopback with each (targets: under 1 s added to start-up, nothing
 * measurable per handshake). Also what one offline guess costs an attacker.
 */
import { createHash, hkdfSync } from 'node:crypto';
import { execa } from 'execa';
import { join } from 'node:path';
import { derivePasswordKey, PASSWORD_KDF, type PasswordKey } from '../../src/mesh/password-key.js';
import type { Router } from '../../src/mesh/router.js';
import { cleanupDaemons, cliPath, daemonHost } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { freePort, loopbackRouter } from '../lab/loopback.js';
import { legacyV1PasswordKey } from './legacy-kdf.js';
import { median, ratio } from './measure.js';

const PASSWORD = 'bench password, long enough not to warn';

/** One handshake: a fresh router dials a listening one; ms until both see the connection established. */
async function handshakeMs(key: PasswordKey, listenerPort: number, listener: Router, i: number): Promise<number> {
  const port = await freePort();
  const dialer = loopbackRouter({ name: `02:00:00:00:0b:${(i % 256).toString(16).padStart(2, '0')}`, nickname: `dialer${i}`, port, passwordKey: key });
  await dialer.start();
  const t0 = performance.now();
  dialer.connect([`127.0.0.1:${listenerPort}`]);
  const up = (r: Router) => r.connections().some((c) => c.state === 'established' && c.nickname.startsWith('dialer') === (r === listener));
  while (!(up(dialer) && up(listener))) await new Promise((r) => setImmediate(r));
  const ms = performance.now() - t0;
  await dialer.stop();
  while (listener.connections().length) await new Promise((r) => setTimeout(r, 1));
  return ms;
}

async function handshakes(key: PasswordKey, n: number): Promise<number[]> {
  const port = await freePort();
  const listener = loopbackRouter({ name: '02:00:00:00:0a:00', nickname: 'listener', port, passwordKey: key });
  await listener.start();
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) out.push(await handshakeMs(key, port, listener, i));
  } finally {
    await listener.stop();
  }
  return out;
}

/** Daemon.start in a namespaced host, alternating the two derivations. */
async function daemonStarts(runs: number): Promise<{ hardened: number[]; legacy: number[] }> {
  const lab = await Lab.create({ hosts: 1, label: 'benchsec' });
  const d = daemonHost(lab, 1);
  const script = join(cliPath(), '../../../scripts/bench/security-daemon.js');
  const out = { hardened: [] as number[], legacy: [] as number[] };
  try {
    for (let i = 0; i < runs * 2; i++) {
      const mode = i % 2 === 0 ? 'legacy' : 'hardened';
      const r = await execa('nsenter', [`--net=/run/netns/${d.host.ns}`, process.execPath, script, mode], { env: { ...d.env, OVERLAY_PASSWORD: PASSWORD } });
      out[mode].push((JSON.parse(r.stdout) as { startMs: number }).startMs);
    }
  } finally {
    await cleanupDaemons([d]);
    await lab.destroy();
  }
  return out;
}

export async function benchSecurity(runs = 3): Promise<Record<string, number | string>> {
  // The derivation alone.
  const kdf: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await derivePasswordKey(PASSWORD, 'overlay');
    kdf.push(performance.now() - t);
  }
  const legacyN = 20_000;
  let t = performance.now();
  for (let i = 0; i < legacyN; i++) legacyV1PasswordKey(`${PASSWORD}${i}`);
  const legacyMs = (performance.now() - t) / legacyN;
  // What an attacker with a captured proof pays per guess: the derivation plus one HKDF (the proof check is negligible).
  t = performance.now();
  const shared = createHash('sha256').update('x').digest();
  for (let i = 0; i < legacyN; i++) hkdfSync('sha256', shared, legacyV1PasswordKey(`g${i}`), 'info', 96);
  const legacyGuessMs = (performance.now() - t) / legacyN;

  const starts = await daemonStarts(runs);
  const hardenedKey = await derivePasswordKey(PASSWORD, 'overlay');
  const legacyKey = legacyV1PasswordKey(PASSWORD);
  const hsLegacy: number[] = [];
  const hsHardened: number[] = [];
  for (let i = 0; i < 3; i++) {
    hsLegacy.push(...(await handshakes(legacyKey, 10)));
    hsHardened.push(...(await handshakes(hardenedKey, 10)));
  }
  const kdfMs = median(kdf);
  return {
    scryptParams: `N=2^${Math.log2(PASSWORD_KDF.N)} r=${PASSWORD_KDF.r} p=${PASSWORD_KDF.p} (${(128 * PASSWORD_KDF.N * PASSWORD_KDF.r) / 2 ** 20} MiB)`,
    kdfMs: Math.round(kdfMs),
    legacyKdfUs: +(legacyMs * 1000).toFixed(2),
    kdfVsLegacy: Math.round(kdfMs / legacyMs),
    daemonStartHardenedMs: Math.round(median(starts.hardened)),
    daemonStartLegacyMs: Math.round(median(starts.legacy)),
    daemonStartAddedMs: Math.round(median(starts.hardened) - median(starts.legacy)),
    daemonStartHardenedVsLegacy: ratio(median(starts.hardened), median(starts.legacy)),
    handshakeHardenedMs: +median(hsHardened).toFixed(2),
    handshakeLegacyMs: +median(hsLegacy).toFixed(2),
    handshakeHardenedVsLegacy: ratio(median(hsHardened), median(hsLegacy)),
    offlineGuessesPerSecondPerCoreHardened: +(1000 / kdfMs).toFixed(2),
    offlineGuessesPerSecondPerCoreLegacy: Math.round(1000 / legacyGuessMs),
    offlineGuessCostVsLegacy: Math.round(kdfMs / legacyGuessMs),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchSecurity().then((r) => console.log(JSON.stringify(r, null, 2)));
}
