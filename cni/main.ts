/**
 * Entry point of the single-file plugin binary: read stdin (bounded), run,
 * print, exit. Logs go to stderr only; stdout carries exactly one result.
 */
import { createLogger, isLogLevel } from '../src/lib/logger.js';
import { MAX_STDIN_BYTES } from './defaults.js';
import { CniError, ErrorCode } from './spec/errors.js';
import { LATEST_VERSION } from './spec/versions.js';
import { runPlugin, type RunOutput } from './run.js';
import { HttpDaemonClient } from './daemon-client.js';
import { NetlinkAttacher } from './netlink-attacher.js';
import { exchange } from './daemon-socket.js';
import { randomBytes } from '../src/sys/libc.js';
import { FileAttachmentStore, FileReleaseQueue } from '../src/lib/plugin-state.js';
import { readStdin, writeStdout } from './process-io.js';
import { cmdPlug } from './commands/plug.js';
import { PLUG_COMMAND } from '../src/dataplane/port-plan.js';

/** `plug`: the daemon's `overlay attach` (runtimes run the plugin without arguments). */
async function plug(): Promise<number> {
  const reply = await cmdPlug(readStdin(MAX_STDIN_BYTES), new NetlinkAttacher());
  await writeStdout(JSON.stringify(reply) + '\n');
  return 'port' in reply ? 0 : 1;
}

async function main(): Promise<number> {
  if (process.argv[2] === PLUG_COMMAND) return plug();
  const level = process.env.OVERLAY_CNI_LOG_LEVEL ?? 'warn';
  const log = createLogger({ level: isLogLevel(level) ? level : 'warn', fields: { component: 'cni' } });
  let out: RunOutput;
  try {
    // Without CNI_COMMAND (about / Nomad fingerprint) stdin may stay open: do not wait for it.
    const stdin = process.env.CNI_COMMAND ? readStdin(MAX_STDIN_BYTES) : '';
    out = await runPlugin(process.env, stdin, (conf) => ({
      daemon: new HttpDaemonClient(conf.daemonSocket, exchange),
      attacher: new NetlinkAttacher(),
      store: new FileAttachmentStore(conf.stateDir, log),
      releases: FileReleaseQueue.inStateDir(conf.stateDir),
      log,
      now: () => new Date().toISOString(),
      random: randomBytes,
    }));
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(ErrorCode.Io, `reading stdin failed: ${(e as Error).message}`);
    out = { stdout: JSON.stringify(err.toJSON(LATEST_VERSION)) + '\n', exitCode: 1 };
  }
  await writeStdout(out.stdout);
  return out.exitCode;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`overlay cni: fatal: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
