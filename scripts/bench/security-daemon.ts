/**
 * One daemon start for the security benchmark, run inside a lab host's
 * namespace: `node security-daemon.js hardened|legacy [launch flags...]`.
 * Starts the real daemon in this process with the given password key
 * derivation, prints how long Daemon.start took as JSON, and stops it.
 */
import { resolveDaemonConfig, LAUNCH_FLAGS } from '../../src/daemon/config.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { parseArgs } from '../../src/cli/args.js';
import { silentLogger } from '../../src/lib/logger.js';
import { derivePasswordKey } from '../../src/mesh/password-key.js';
import { legacyV1PasswordKey } from './legacy-kdf.js';

async function main(): Promise<void> {
  const [mode, ...argv] = process.argv.slice(2);
  const { flags, positionals } = parseArgs(argv, LAUNCH_FLAGS, 'launch');
  const cfg = resolveDaemonConfig(flags, positionals);
  const kdf = mode === 'legacy' ? async (pw: string) => legacyV1PasswordKey(pw) : derivePasswordKey;
  const t0 = performance.now();
  const daemon = await Daemon.start(cfg, silentLogger, kdf);
  const startMs = performance.now() - t0;
  await daemon.stop('benchmark run done');
  process.stdout.write(JSON.stringify({ mode, startMs }) + '\n');
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
