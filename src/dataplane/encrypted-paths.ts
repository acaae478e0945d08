/**
 * Which peers our VXLAN reaches through WireGuard and which in plain (trusted),
 * kept in step with the peers' published endpoint records: the WireGuard device
 * and its peers, the steering routes and the guard table (wireguard.ts does
 * the kernel side). The FDB lists only peers decided here, so no frame is ever
 * sent to a peer whose encrypted path is not set up.
 */
import type { Logger } from '../lib/logger.js';
import type { PeerName } from '../lib/peer-name.js';
import type { EndpointRecord } from './endpoints.js';
import {
  ensureGuard,
  ensureWireguardDevice,
  isTrustedPair,
  loadOrCreateKey,
  syncPeers,
  syncRouting,
  WIREGUARD_OVERHEAD,
  type WireguardImpl,
  type WireguardPeer,
  type WireguardSettings,
} from './wireguard.js';

export type PeerPath = 'encrypted' | 'trusted';

export class EncryptedPaths {
  private readonly key: { privateKey: string; publicKey: string };
  private readonly paths = new Map<PeerName, PeerPath>();
  private impl?: WireguardImpl;
  private guardTrusted?: string;

  constructor(
    readonly settings: WireguardSettings,
    private readonly vxlanPort: number,
    private readonly log: Logger,
    private readonly onRepair: (what: string) => void,
  ) {
    this.key = loadOrCreateKey(settings.keyFile);
  }

  /** What our endpoint record carries so peers can reach us. */
  published(): Pick<EndpointRecord, 'wgKey' | 'wgPort' | 'trusted'> {
    return { wgKey: this.key.publicKey, wgPort: this.settings.port, trusted: this.settings.trusted };
  }

  pathOf(peer: PeerName): PeerPath | undefined {
    return this.paths.get(peer);
  }

  /** Bring the kernel in line with the reachable peers' records; returns the peers whose path changed. */
  async ensure(me: { ip?: string; mtu: number }, peers: { name: PeerName; record?: EndpointRecord }[], initial: boolean): Promise<PeerName[]> {
    const wg = this.settings;
    const { impl, made } = await ensureWireguardDevice(wg, me.mtu - WIREGUARD_OVERHEAD, initial);
    this.impl = impl;
    if (made && !initial) this.onRepair(`recreated WireGuard device ${wg.dev} (${impl})`);
    else if (initial) this.log.info('WireGuard data plane up', { dev: wg.dev, implementation: impl, port: wg.port, created: made });
    const paths = new Map<PeerName, PeerPath>();
    const encrypted: WireguardPeer[] = [];
    const trusted: string[] = [];
    for (const { name, record: r } of peers) {
      if (!r || !me.ip) continue;
      if (isTrustedPair({ underlay: me.ip, trusted: wg.trusted }, r)) {
        paths.set(name, 'trusted');
        trusted.push(r.underlay);
      } else if (r.wgKey && r.wgPort) {
        paths.set(name, 'encrypted');
        encrypted.push({ publicKey: r.wgKey, underlay: r.underlay, port: r.wgPort });
      }
    }
    const trustedKey = [...trusted].sort().join(',');
    await ensureGuard(wg.dev, this.vxlanPort, trusted, made || trustedKey !== this.guardTrusted);
    this.guardTrusted = trustedKey;
    await syncPeers(wg.dev, encrypted);
    if (me.ip) await syncRouting(wg.dev, this.vxlanPort, me.ip, encrypted.map((e) => e.underlay));
    const changed = [...paths].filter(([k, v]) => this.paths.get(k) !== v).map(([k]) => k);
    this.paths.clear();
    for (const [k, v] of paths) this.paths.set(k, v);
    return changed;
  }

  status(): string {
    const n = (m: PeerPath) => [...this.paths.values()].filter((v) => v === m).length;
    return `${this.impl ?? 'starting'} on ${this.settings.dev} UDP ${this.settings.port}: ${n('encrypted')} peers encrypted, ${n('trusted')} trusted`;
  }

  statusJson(): unknown {
    const wg = this.settings;
    return { dev: wg.dev, port: wg.port, implementation: this.impl, trusted: wg.trusted, peers: Object.fromEntries(this.paths) };
  }
}
