/**
 * `overlay expose` / `hide`: the host's addresses on the overlay (allocated by IPAM, kept
 * in the store) on the bridge, and the NAT table that masquerades for them. Repaired from
 * address events at once (an address deleted by hand comes back) and by the safety pass.
 */
import type { IpamComponent } from '../ipam/component.js';
import { formatCidr, intToIp } from '../lib/ipv4.js';
import type { Logger } from '../lib/logger.js';
import type { Store } from '../store/store.js';
import { SysError } from '../sys/exec.js';
import { ipBatch } from '../sys/ip.js';
import { setSysctl } from '../sys/sysctl.js';
import { applyNat } from './nat.js';

const KEY_EXPOSE_PREFIX = 'dataplane/expose/';

export interface Exposure {
  /** The host's address on the overlay, with the subnet prefix. */
  address: string;
  masquerade: boolean;
}

export class Exposures {
  private readonly exposed = new Map<string, Exposure>();

  constructor(
    private readonly bridge: string,
    private readonly ipam: IpamComponent,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly onRepair: (what: string) => void,
  ) {}

  async load(): Promise<void> {
    for (const [k, v] of await this.store.entries<Exposure>(KEY_EXPOSE_PREFIX)) this.exposed.set(k.slice(KEY_EXPOSE_PREFIX.length), v);
  }

  get size(): number {
    return this.exposed.size;
  }

  list(): { subnet: string; address: string; masquerade: boolean }[] {
    return [...this.exposed.entries()].map(([subnet, e]) => ({ subnet, ...e }));
  }

  addresses(): string[] {
    return [...this.exposed.values()].map((e) => e.address);
  }

  isExposed(subnet: string): boolean {
    return this.exposed.has(subnet);
  }

  /** The host's address on a subnet ("10.32.0.0/12"), when exposed there: containers' gateway. */
  gatewayFor(subnet: string): string | undefined {
    return this.exposed.get(subnet)?.address.split('/')[0];
  }

  /** Whether this address (with prefix) on the bridge is one of ours. */
  owns(address: string): boolean {
    return [...this.exposed.values()].some((e) => e.address === address);
  }

  /**
   * Bridge addresses and the NAT table as the exposures say, given what the bridge holds
   * now and whether the NAT table exists; repairs what was removed by hand.
   */
  async ensure(bridgeAddrs: string[], natPresent: boolean, initial: boolean): Promise<void> {
    const have = new Set(bridgeAddrs);
    const missing = [...this.exposed.values()].filter((e) => !have.has(e.address));
    if (missing.length) {
      await ipBatch(missing.map((e) => `addr replace ${e.address} dev ${this.bridge}`));
      if (!initial) for (const e of missing) this.onRepair(`re-added ${e.address} to ${this.bridge}`);
    }
    if (this.exposed.size && (initial || missing.length || !natPresent)) {
      if (!natPresent && !initial) this.onRepair('NAT table restored');
      await this.applyNat();
    }
  }

  async expose(subnetText: string | undefined, ipText: string | undefined, masquerade: boolean): Promise<{ address: string; subnet: string }> {
    const subnet = this.ipam.resolveSubnet(subnetText, ipText);
    const key = formatCidr(subnet);
    const prev = this.exposed.get(key);
    const a = await this.ipam.allocate(`expose:${key}`, key, ipText);
    const address = `${intToIp(a.address)}/${subnet.prefix}`;
    const exposure = { address, masquerade };
    if (prev && prev.address !== address) await ipBatch([`addr del ${prev.address} dev ${this.bridge}`]).catch(() => undefined);
    this.exposed.set(key, exposure);
    await this.store.put(KEY_EXPOSE_PREFIX + key, exposure);
    await ipBatch([`addr replace ${address} dev ${this.bridge}`]);
    await this.applyNat();
    this.log.info('exposed', { address, masquerade });
    return { address, subnet: key };
  }

  /** Undo expose for one subnet (a CIDR or an address in it), or for all when none is given. */
  async hide(cidr?: string): Promise<string[]> {
    let keys = [...this.exposed.keys()];
    if (cidr !== undefined) {
      let c: string | undefined;
      try {
        c = cidr.includes('/') ? formatCidr(this.ipam.resolveSubnet(undefined, cidr)) : undefined;
      } catch {
        c = undefined;
      }
      keys = keys.filter((k) => {
        const e = this.exposed.get(k)!;
        return k === cidr || e.address === cidr || e.address.split('/')[0] === cidr || c === k;
      });
    }
    const hidden: string[] = [];
    if (keys.length === 0) return hidden; // idempotent, as Weave's hide is: nothing to undo
    for (const k of keys) {
      const e = this.exposed.get(k)!;
      // Forget it before removing the address, so a concurrent repair never sees it "missing" and re-adds it.
      this.exposed.delete(k);
      await ipBatch([`addr del ${e.address} dev ${this.bridge}`]).catch((err: unknown) => {
        if (!(err instanceof SysError && /Cannot assign|not found/i.test(err.stderr))) throw err;
      });
      await this.store.batch([{ type: 'del', key: KEY_EXPOSE_PREFIX + k }]);
      await this.ipam.release(`expose:${k}`);
      hidden.push(e.address);
    }
    await this.applyNat();
    this.log.info('hidden', { addresses: hidden });
    return hidden;
  }

  private async applyNat(): Promise<void> {
    const masq = [...this.exposed.entries()].filter(([, e]) => e.masquerade).map(([subnet]) => ({ subnet }));
    await applyNat(this.bridge, formatCidr(this.ipam.range), masq);
    // Exposed hosts route between the overlay and the rest of the network.
    if (this.exposed.size) await setSysctl('net/ipv4/ip_forward', '1');
  }
}
