/** `overlay launch --foreground`: run the daemon in this process until stopped (systemd's mode). */
import { createLogger } from '../lib/logger.js';
import type { DaemonConfig } from './config.js';
import { Daemon } from './daemon.js';

export async function runForeground(cfg: DaemonConfig): Promise<number> {
  const log = createLogger({ level: cfg.logLevel });
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(cfg, log);
  } catch (e) {
    log.error('daemon failed to start', { error: (e as Error).message });
    return 1;
  }
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void daemon.stop(`received ${sig}`));
  await daemon.waitUntilStopped();
  return 0;
}
