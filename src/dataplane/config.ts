import type { WireguardSettings } from './wireguard.js';

/** Data plane settings, from launch flags. */
export interface DataplaneConfig {
  /** The Linux bridge containers and the VXLAN device are plugged into. */
  bridge: string;
  vxlanDev: string;
  vni: number;
  /** UDP port of the VXLAN tunnel. */
  port: number;
  /** Overlay MTU; found from the underlay interface when unset. */
  mtu?: number;
  /** How often the slow safety pass reads the whole kernel state and repairs what events missed (ms). */
  reconcileMs: number;
  /** How often a data path that nothing changed is probed again (ms): the bound on finding one that died silently. */
  probeRefreshMs: number;
  /** With a password: VXLAN between untrusted peers goes through WireGuard. */
  wireguard?: WireguardSettings;
}

export const DATAPLANE_DEFAULTS: DataplaneConfig = {
  bridge: 'overlay',
  vxlanDev: 'overlay-vx',
  vni: 6784,
  port: 6784,
  reconcileMs: 60_000,
  probeRefreshMs: 60_000,
};

/** Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8. */
export const VXLAN_OVERHEAD = 50;

export const WIREGUARD_DEFAULTS = { dev: 'overlay-wg', port: 6785 };
