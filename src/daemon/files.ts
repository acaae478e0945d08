/** Where a daemon keeps its pid and log inside its data dir (shared by the daemon, the CLI and the lab). */
import { join } from 'node:path';

export function pidFile(dataDir: string): string {
  return join(dataDir, 'overlay.pid');
}

export function logFile(dataDir: string): string {
  return join(dataDir, 'overlay.log');
}

/** The CNI plugin's state dir for the daemon of this data dir: its attachments (`overlay ps`) and queued releases. */
export function cniStateDir(dataDir: string): string {
  return join(dataDir, 'cni');
}
