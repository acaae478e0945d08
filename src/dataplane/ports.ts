/**
 * Every container port on this host, in one record the daemon owns, through one
 * lifecycle: admitted (address and isolation decided, the veth may not exist yet) →
 * plugged (the kernel shows its host end up on the bridge) → retired (the record goes:
 * DEL, detach, or its veth disappeared with its namespace). Kernel events move a port
 * along; no timer does. The record is kept in the store, so a restarted daemon knows its
 * ports and their rules; it is the only place a port's MAC, address and owner are kept.
 */
import { networkOf } from '../lib/ipv4.js';
import type { Logger } from '../lib/logger.js';
import type { Store } from '../store/store.js';
import type { IsolatedPort } from './isolation.js';
import type { IsolatedPorts } from './isolated-ports.js';

export type PortState = 'admitted' | 'plugged';

export interface PortRecord extends IsolatedPort {
  /** Who holds the address: `<container id>:<ifname>` (CNI) or `attach:<netns>:<ifname>`. */
  owner?: string;
  isolate: boolean;
  /** `cni`: plugged in by the plugin; `attach`: plugged in by this daemon (`overlay attach`). */
  source: 'cni' | 'attach';
  netns?: string;
  ifname?: string;
  /** With its prefix length (attach records; CNI ports have it in the plugin's attachment). */
  address?: string;
  /** Where its tc filters are: the host end (absent; the daemon restores them) or the container end (the plugin put them there). */
  filterOn?: 'container';
}

const KEY_PORT_PREFIX = 'dataplane/port/';
/** Where `overlay attach` kept its records before ports had one record (read once and moved). */
const KEY_OLD_ATTACH_PREFIX = 'dataplane/attach/';

interface OldAttachRecord {
  netns: string;
  ifname: string;
  address: string;
  hostVeth: string;
  mac: string;
}

export class PortTable {
  private readonly ports = new Map<string, { rec: PortRecord; state: PortState }>();

  constructor(
    private readonly store: Store,
    private readonly isolation: IsolatedPorts,
    private readonly log: Logger,
  ) {}

  /** The records of the last run: all start admitted, until the kernel shows them plugged. */
  async load(): Promise<void> {
    for (const [k, v] of await this.store.entries<Partial<PortRecord> & IsolatedPort>(KEY_PORT_PREFIX)) {
      const rec: PortRecord = { ...v, isolate: v.isolate ?? true, source: v.source ?? 'cni' };
      this.ports.set(k.slice(KEY_PORT_PREFIX.length), { rec, state: 'admitted' });
    }
    const old = await this.store.entries<OldAttachRecord>(KEY_OLD_ATTACH_PREFIX);
    for (const [k, r] of old) {
      const rec: PortRecord = {
        hostVeth: r.hostVeth,
        mac: r.mac,
        ip: r.address.split('/')[0]!,
        subnet: networkOf(r.address),
        isolate: true,
        source: 'attach',
        owner: `attach:${r.netns}:${r.ifname}`,
        netns: r.netns,
        ifname: r.ifname,
        address: r.address,
      };
      this.ports.set(r.hostVeth, { rec, state: 'admitted' });
      await this.store.batch([{ type: 'put', key: KEY_PORT_PREFIX + r.hostVeth, value: rec }, { type: 'del', key: k }]);
    }
    this.isolation.load(this.list().filter((r) => r.isolate));
  }

  get size(): number {
    return this.ports.size;
  }

  get(hostVeth: string): PortRecord | undefined {
    return this.ports.get(hostVeth)?.rec;
  }

  stateOf(hostVeth: string): PortState | undefined {
    return this.ports.get(hostVeth)?.state;
  }

  list(state?: PortState): PortRecord[] {
    return [...this.ports.values()].filter((p) => state === undefined || p.state === state).map((p) => p.rec);
  }

  /** The MACs behind this host's plugged ports: what peers' FDBs point at us. */
  pluggedMacs(): string[] {
    return this.list('plugged').map((r) => r.mac);
  }

  /**
   * Admit a port (durable when this returns). An isolated port's rules follow: `rules`
   * settles when they are in. A port re-admitted under the same name replaces the old one.
   */
  async admit(rec: PortRecord): Promise<{ rules: Promise<void> }> {
    this.ports.set(rec.hostVeth, { rec, state: 'admitted' });
    await this.store.put(KEY_PORT_PREFIX + rec.hostVeth, rec);
    if (!rec.isolate) {
      this.isolation.unregister(rec.hostVeth); // a port of that name isolated before is not any more
      return { rules: Promise.resolve() };
    }
    return { rules: this.isolation.register(rec) };
  }

  /** The kernel shows the port up on the bridge. True when that is news. */
  plugged(hostVeth: string): boolean {
    const p = this.ports.get(hostVeth);
    if (!p || p.state === 'plugged') return false;
    p.state = 'plugged';
    return true;
  }

  /** The port is out of service: its record and rules go. Returns what it was. */
  async retire(hostVeth: string, why: string): Promise<PortRecord | undefined> {
    const p = this.ports.get(hostVeth);
    if (!p) return undefined;
    this.ports.delete(hostVeth);
    this.isolation.unregister(hostVeth);
    await this.store.batch([{ type: 'del', key: KEY_PORT_PREFIX + hostVeth }]);
    this.log.debug('port retired', { hostVeth, owner: p.rec.owner, why });
    return p.rec;
  }
}
