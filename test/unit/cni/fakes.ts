import { silentLogger } from '../../../src/lib/logger.js';
import {
  DaemonUnavailableError,
  InterfaceExistsError,
  NetnsNotFoundError,
  type Allocation,
  type AttachOptions,
  type AttachedPort,
  type Attacher,
  type AttachmentRecord,
  type AttachmentStore,
  type Deps,
  type IpamClient,
  type IpamStatus,
  type ReleaseQueue,
  type SandboxInterface,
} from '../../../cni/ports.js';

export class FakeIpam implements IpamClient {
  readonly allocs = new Map<string, Allocation>();
  down = false;
  ready = true;
  gateway: string | undefined = undefined;
  calls: string[] = [];
  private next = 2;

  async allocate(owner: string, req: { subnet?: string; ip?: string }): Promise<Allocation> {
    this.calls.push(`allocate ${owner}`);
    this.check();
    if (!this.ready) throw new DaemonUnavailableError('IPAM not ready: waiting for consensus');
    const existing = this.allocs.get(owner);
    if (existing) return existing;
    const subnet = req.subnet ?? '10.32.0.0/12';
    const prefix = subnet.split('/')[1];
    const ip = req.ip ?? `10.32.0.${this.next++}`;
    const a: Allocation = { address: `${ip}/${prefix}`, subnet, mtu: 1450 };
    if (this.gateway) a.gateway = this.gateway;
    this.allocs.set(owner, a);
    return a;
  }
  async release(owner: string): Promise<void> {
    this.calls.push(`release ${owner}`);
    this.check();
    this.allocs.delete(owner);
  }
  async lookup(owner: string): Promise<Allocation | undefined> {
    this.check();
    return this.allocs.get(owner);
  }
  async status(): Promise<IpamStatus> {
    this.check();
    return this.ready ? { ready: true } : { ready: false, reason: 'waiting for consensus' };
  }
  private check(): void {
    if (this.down) throw new DaemonUnavailableError('cannot connect to /run/overlay/overlay.sock: ECONNREFUSED');
  }
}

export class FakeAttacher implements Attacher {
  readonly bridge = 'overlay';
  /** netns → ifname → interface */
  readonly sandboxes = new Map<string, Map<string, SandboxInterface & { hostVeth: string }>>();
  failAttach: Error | undefined;
  detachCalls: string[] = [];
  private n = 0;

  addNetns(path: string): void {
    this.sandboxes.set(path, new Map());
  }
  async attach(netns: string, ifname: string, opts: AttachOptions): Promise<AttachedPort> {
    const ns = this.sandboxes.get(netns);
    if (!ns) throw new NetnsNotFoundError(netns);
    if (this.failAttach) throw this.failAttach;
    if (ns.has(ifname)) throw new InterfaceExistsError(netns, ifname);
    const mac = opts.mac ?? `02:00:00:00:00:${(++this.n).toString(16).padStart(2, '0')}`;
    const hostVeth = `vethov${this.n}`;
    const routes = [{ dst: networkOfAddr(opts.address) }, ...opts.routes];
    ns.set(ifname, { mac, addresses: [opts.address], routes, hostVeth });
    return { hostVeth, mac };
  }
  async detach(netns: string, ifname: string): Promise<void> {
    this.detachCalls.push(`${netns}/${ifname}`);
    this.sandboxes.get(netns)?.delete(ifname);
  }
  async inspect(netns: string, ifname: string): Promise<SandboxInterface | undefined> {
    const ns = this.sandboxes.get(netns);
    if (!ns) throw new NetnsNotFoundError(netns);
    return ns.get(ifname);
  }
}

function networkOfAddr(cidr: string): string {
  // Tests use /12 and /24 subnets only.
  const [ip, p] = cidr.split('/');
  const o = ip!.split('.').map(Number);
  if (p === '12') return `${o[0]}.${o[1]! & 0xf0}.0.0/12`;
  return `${o[0]}.${o[1]}.${o[2]}.0/${p}`;
}

export class MemStore implements AttachmentStore {
  readonly records = new Map<string, AttachmentRecord>();
  failPut = false;
  async get(c: string, i: string) {
    return this.records.get(`${c}:${i}`);
  }
  async put(r: AttachmentRecord) {
    if (this.failPut) throw new Error('disk full');
    this.records.set(`${r.containerId}:${r.ifname}`, r);
  }
  async remove(c: string, i: string) {
    this.records.delete(`${c}:${i}`);
  }
  async list() {
    return [...this.records.values()];
  }
}

export class MemQueue implements ReleaseQueue {
  readonly owners = new Set<string>();
  async enqueue(o: string) {
    this.owners.add(o);
  }
  async remove(o: string) {
    this.owners.delete(o);
  }
  async has(o: string) {
    return this.owners.has(o);
  }
  async list() {
    return [...this.owners];
  }
}

export function fakeDeps() {
  const ipam = new FakeIpam();
  const attacher = new FakeAttacher();
  const store = new MemStore();
  const releases = new MemQueue();
  const deps: Deps = { ipam, attacher, store, releases, log: silentLogger, now: () => '2026-01-01T00:00:00.000Z' };
  return { ipam, attacher, store, releases, deps };
}
