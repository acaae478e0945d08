/** `overlay launch --foreground`: run the daemon in this process until stopped (systemd's mode). */
import { createLogger } from '../lib/logger.js';
import type { DaemonConfig } from './config.js';
import { Daemon } from './daemon.js';
import { notifyReady } from '../sys/sd-notify.js';

/** How long a stopped daemon may take to drain its last writes before it is made to exit. */
const LINGER_MS = 2_000;

export async function runForeground(cfg: DaemonConfig): Promise<number> {
  // The log is a file in the data dir: when the disk is full, losing log lines is
  // better than the unhandled write error that would bring the daemon down.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const log = createLogger({ level: cfg.logLevel });
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(cfg, log);
  } catch (e) {
    log.error('daemon failed to start', { error: (e as Error).message });
    return 1;
  }
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void daemon.stop(`received ${sig}`));
  // The API answers now: under systemd (Type=notify) the unit becomes active only at this point.
  await notifyReady().catch((e: Error) => log.warn('cannot tell systemd the daemon is ready', { error: e.message }));
  await daemon.waitUntilStopped();
  // Everything is closed; if some handle still holds the event loop, a stopped
  // daemon must not linger (the CLI waits for its PID to go), so exit anyway.
  setTimeout(() => {
    log.warn('handles still open after stop; exiting anyway');
    process.exit(0);
  }, LINGER_MS).unref();
  return 0;
}
