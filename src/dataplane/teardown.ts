/**
 * Removing everything the data plane put in the kernel: the NAT and isolation
 * tables, every container veth, the VXLAN device and the bridge. Used by
 * `overlay reset`, both through a running daemon and when none is running
 * (then the device names come from what the daemon recorded in its store).
 */
import type { Store } from '../store/store.js';
import type { DataplaneConfig } from './config.js';
import { removeDevices } from './devices.js';
import { removeIsolation } from './isolation.js';
import { removeNat } from './nat.js';
import { removeWireguard } from './wireguard.js';

export type DeviceNames = Pick<DataplaneConfig, 'bridge' | 'vxlanDev'> & { wireguardDev?: string };

const KEY_DEVICES = 'dataplane/devices';

export function recordDeviceNames(store: Store, names: DeviceNames): Promise<void> {
  return store.put(KEY_DEVICES, { bridge: names.bridge, vxlanDev: names.vxlanDev, ...(names.wireguardDev ? { wireguardDev: names.wireguardDev } : {}) });
}

export function recordedDeviceNames(store: Store): Promise<DeviceNames | undefined> {
  return store.get<DeviceNames>(KEY_DEVICES);
}

export async function removeDataplane(names: DeviceNames): Promise<void> {
  await removeNat();
  await removeIsolation();
  await removeDevices(names);
  if (names.wireguardDev) await removeWireguard(names.wireguardDev);
}
