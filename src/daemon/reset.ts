/**
 * `overlay reset` when no daemon is running (stopped, or killed): remove the
 * devices and tables it left in the kernel, then its on-disk state.
 */
import { existsSync, rmSync } from 'node:fs';
import type { Location } from './config.js';
import { wipeState } from './daemon.js';
import { Store } from '../store/store.js';
import { recordedDeviceNames, removeDataplane } from '../dataplane/teardown.js';

export async function resetOffline(loc: Location): Promise<void> {
  if (existsSync(loc.dataDir)) {
    // Opening the store proves no daemon holds it.
    const store = await Store.open(loc.dataDir);
    const devices = await recordedDeviceNames(store).finally(() => store.close());
    if (devices) await removeDataplane(devices);
    wipeState(loc.dataDir);
  }
  rmSync(loc.apiSocket, { force: true });
}
