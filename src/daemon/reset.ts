/** `overlay reset` when no daemon is running: remove the on-disk state it left. */
import { existsSync } from 'node:fs';
import { rmSync } from 'node:fs';
import type { Location } from './config.js';
import { wipeState } from './daemon.js';
import { Store } from '../store/store.js';

export async function resetOffline(loc: Location): Promise<void> {
  if (existsSync(loc.dataDir)) {
    // Opening the store proves no daemon holds it.
    const store = await Store.open(loc.dataDir);
    await store.close();
    wipeState(loc.dataDir);
  }
  rmSync(loc.apiSocket, { force: true });
}
