import { silentLogger } from '../../../src/lib/logger.js';
import { hostVethName } from '../../../src/dataplane/names.js';
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
  type DaemonClient,
  type Deps,
  type IpamStatus,
  type PortPlan,
  type PortRequest,
  type ReleaseQueue,
  type SandboxInterface,
  type VethPlan,
} from '../../../cni/ports.js';

export class FakeDaemon implements DaemonClient {
  readonly allocs = new Map<string, Allocation>();
  down = false;
  ready = true;
  gateway: string | undefined = undefined;
  calls: string[] = [];
  /** What the last admit asked for. */
  lastAdmit?: PortRequest;
  /** Retired ports handed over by DEL, for the daemon to destroy. */
  readonly retired: string[] = [];
  private next = 2;

  async admit(owner: string, req: PortRequest): Promise<PortPlan> {
    this.calls.push(`admit ${owner}`);
    this.lastAdmit = req;
    this.check();
    if (!this.ready) throw new DaemonUnavailableError('IPAM not ready: waiting for consensus');
    let a = this.allocs.get(owner);
    if (!a) {
      const subnet = req.subnet ?? '10.32.0.0/12';
      const prefix = subnet.split('/')[1];
      const ip = req.ip ?? `10.32.0.${this.next++}`;
      a = { address: `${ip}/${prefix}`, subnet };
      this.allocs.set(owner, a);
    }
    return {
      ...a,
      ...(this.gateway ? { gateway: this.gateway } : {}),
      mtu: 1450,
      bridge: 'overlay',
      hostVeth: hostVethName(req.netns, req.ifname),
      mac: req.mac ?? '02:00:00:00:00:99',
      ...(req.isolate ? { filter: { fromContainer: 'BgAAAAAAAAA=', toContainer: 'BgAAAAAAAAA=' } } : {}),
    };
  }
  async release(owner: string, port?: { hostVeth: string; retired?: string }): Promise<void> {
    this.calls.push(`release ${owner}`);
    this.check();
    this.allocs.delete(owner);
    if (port?.retired) this.retired.push(port.retired);
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

/** Namespaces and veths in memory: the container ends by netns and name, the host ends by name. */
export class FakeAttacher implements Attacher {
  /** netns → ifname → interface */
  readonly sandboxes = new Map<string, Map<string, SandboxInterface & { hostVeth: string }>>();
  /** host end → where its container end is (and under which name), and whether it is up */
  readonly hostEnds = new Map<string, { netns: string; name: string; up: boolean }>();
  readonly destroyed: string[] = [];
  failAttach: Error | undefined;

  addNetns(path: string): void {
    this.sandboxes.set(path, new Map());
  }
  async preflight(netns: string, ifname: string): Promise<void> {
    const ns = this.sandboxes.get(netns);
    if (!ns) throw new NetnsNotFoundError(netns);
    if (ns.has(ifname)) throw new InterfaceExistsError(netns, ifname);
  }
  async prepare(netns: string, _ifname: string, veth: VethPlan): Promise<void> {
    if (!this.sandboxes.has(netns)) throw new NetnsNotFoundError(netns);
    this.hostEnds.set(veth.hostVeth, { netns, name: `tmp-${veth.hostVeth}`, up: false });
  }
  async attach(netns: string, ifname: string, plan: PortPlan, opts: AttachOptions): Promise<AttachedPort> {
    if (this.failAttach) throw this.failAttach;
    const end = this.hostEnds.get(plan.hostVeth);
    if (!end) throw new Error(`no veth ${plan.hostVeth}`);
    Object.assign(end, { name: ifname, up: true });
    const routes = [{ dst: networkOfAddr(plan.address) }, ...opts.routes];
    this.sandboxes.get(netns)!.set(ifname, { mac: plan.mac, addresses: [plan.address], routes, hostVeth: plan.hostVeth });
    return { hostVeth: plan.hostVeth, mac: plan.mac };
  }
  async quiesce(hostVeth: string): Promise<boolean> {
    const end = this.hostEnds.get(hostVeth);
    if (end) end.up = false;
    return end !== undefined;
  }
  async retire(_netns: string, _ifname: string, hostVeth: string, name: string): Promise<void> {
    const end = this.hostEnds.get(hostVeth);
    if (!end) return;
    this.hostEnds.delete(hostVeth);
    this.sandboxes.get(end.netns)?.delete(end.name);
    this.hostEnds.set(name, { ...end, name });
  }
  async destroy(name: string): Promise<void> {
    this.hostEnds.delete(name);
    this.destroyed.push(name);
  }
  async detach(_netns: string, _ifname: string, hostVeth?: string): Promise<void> {
    const end = hostVeth ? this.hostEnds.get(hostVeth) : undefined;
    if (!end) return;
    this.hostEnds.delete(hostVeth!);
    this.sandboxes.get(end.netns)?.delete(end.name);
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
  const daemon = new FakeDaemon();
  const attacher = new FakeAttacher();
  const store = new MemStore();
  const releases = new MemQueue();
  const deps: Deps = { daemon, attacher, store, releases, log: silentLogger, now: () => '2026-01-01T00:00:00.000Z', random: (n) => crypto.getRandomValues(new Uint8Array(n)) };
  return { daemon, attacher, store, releases, deps };
}
