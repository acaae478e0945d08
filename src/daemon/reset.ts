/**
 * `overlay reset` when no daemon is running (stopped, or killed): remove the
 * devices and tables it left in the kernel, then its on-disk state. A state
 * database too damaged to open is wiped all the same (reset is the way out
 * of damage); the devices are then looked for under their default names.
 */
import { existsSync, rmSync } from 'node:fs';
import type { Location } from './config.js';
import { wipeState } from './daemon.js';
import { Store, StoreError } from '../store/store.js';
import { DATAPLANE_DEFAULTS, WIREGUARD_DEFAULTS } from '../dataplane/config.js';
import { recordedDeviceNames, removeDataplane, type DeviceNames } from '../dataplane/teardown.js';

export async function resetOffline(loc: Location): Promise<void> {
  if (existsSync(loc.dataDir)) {
    let devices: DeviceNames | undefined;
    try {
      // Opening the store also proves no daemon holds it.
      const store = await Store.open(loc.dataDir);
      devices = await recordedDeviceNames(store).finally(() => store.close());
    } catch (e) {
      if (!(e instanceof StoreError) || e.inUse) throw e;
      devices = { bridge: DATAPLANE_DEFAULTS.bridge, vxlanDev: DATAPLANE_DEFAULTS.vxlanDev, wireguardDev: WIREGUARD_DEFAULTS.dev };
    }
    if (devices) await removeDataplane(devices);
    wipeState(loc.dataDir);
  }
  rmSync(loc.apiSocket, { force: true });
}
