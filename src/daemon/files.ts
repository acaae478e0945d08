/** Where a daemon keeps its pid and log inside its data dir (shared by the daemon, the CLI and the lab). */
import { join } from 'node:path';

export function pidFile(dataDir: string): string {
  return join(dataDir, 'overlay.pid');
}

export function logFile(dataDir: string): string {
  return join(dataDir, 'overlay.log');
}
