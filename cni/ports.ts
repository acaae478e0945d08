/**
 * The seams between the command logic and the outside world. Commands take
 * these as arguments, so unit tests pass fakes and main.ts passes the real
 * daemon client, the netlink attacher and the on-disk stores.
 */
import type { Logger } from '../src/lib/logger.js';
import type { RandomBytes } from '../src/dataplane/names.js';
import type { AttachmentStore, ReleaseQueue } from '../src/lib/plugin-state.js';

export interface Allocation {
  /** The container's address with the subnet prefix, e.g. 10.32.0.5/12. */
  address: string;
  /** The subnet it came from, e.g. 10.32.0.0/12. */
  subnet: string;
  /** A gateway on the host (an "exposed" bridge address), when the daemon has one. */
  gateway?: string;
  /** The overlay MTU; used when the config sets none. */
  mtu?: number;
}

export interface IpamStatus {
  /** False while IPAM waits for consensus or the ring is unreachable. */
  ready: boolean;
  reason?: string;
}

/** What ADD asks the daemon for (POST /ports/admit): the daemon's own format. */
import type { PortAdmission } from '../src/dataplane/port-service.js';
export type PortRequest = PortAdmission;

/**
 * The daemon as the plugin sees it. An owner is `${containerId}:${ifname}`.
 * Implementations throw DaemonUnavailableError when the daemon cannot be reached
 * or times out, so commands can answer "try again later".
 */
export interface DaemonClient {
  /** Idempotent per owner: a retry returns the same address (and a fresh MAC unless one is asked for). */
  admit(owner: string, req: PortRequest): Promise<PortPlan>;
  /**
   * Idempotent: releasing an unknown owner succeeds. With the host veth, its isolation rules
   * go too; with a retired port's name, the daemon destroys that port after answering.
   */
  release(owner: string, port?: { hostVeth: string; retired?: string }): Promise<void>;
  lookup(owner: string): Promise<Allocation | undefined>;
  status(): Promise<IpamStatus>;
}

export class DaemonUnavailableError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'DaemonUnavailableError';
  }
}

/** The daemon understood the request and refused it (subnet outside the range, address taken). */
export class DaemonRejectedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'DaemonRejectedError';
  }
}

/** How the runtime's config shapes the port. */
export interface AttachOptions {
  hairpin: boolean;
  /** The config's MTU, over the plan's (the overlay's). */
  mtu?: number;
  /** Routes to install in the container besides the connected subnet. */
  routes: { dst: string; gw?: string }[];
}

/** The attached port, as the daemon plans it (shared formats, in src/). */
import type { AttachedPort, PortPlan } from '../src/dataplane/port-plan.js';
export type { AttachedPort, PortPlan };

/** What is actually present in a container netns (CHECK). */
export interface SandboxInterface {
  mac: string;
  addresses: string[];
  routes: { dst: string; gw?: string }[];
}

/** The veth pair ADD creates while the daemon is still deciding the rest. */
export interface VethPlan {
  hostVeth: string;
  mac: string;
  /** The config's MTU, if it sets one (else the plan's is applied in attach). */
  mtu?: number;
}

/** Plugging a container into the bridge, done by the plugin itself (netlink). */
export interface Attacher {
  /** Throws NetnsNotFoundError, or InterfaceExistsError when `ifname` is already in the netns; touches nothing. */
  preflight(netnsPath: string, ifname: string): Promise<void>;
  /** The veth pair, both ends down (a leftover of the same name is replaced). */
  prepare(netnsPath: string, ifname: string, veth: VethPlan): Promise<void>;
  /** Finish what prepare began; on failure the caller removes the half-made port (detach). */
  attach(netnsPath: string, ifname: string, plan: PortPlan, opts: AttachOptions): Promise<AttachedPort>;
  /** Take a port out of service: its host end down, so nothing passes from now on. False when there is no such port. */
  quiesce(hostVeth: string): Promise<boolean>;
  /**
   * Rename both ends of a quiesced port to `name` (unique: retiredName), so the interface name
   * is free at once. What is left is for destroy(), which costs the kernel ~20 ms: the daemon
   * does it in the background.
   */
  retire(netnsPath: string, ifname: string, hostVeth: string, name: string): Promise<void>;
  /** Delete a retired port now (when the daemon cannot). Idempotent. */
  destroy(retired: string): Promise<void>;
  /** Idempotent: a missing netns, interface or veth is not an error. */
  detach(netnsPath: string, ifname: string, hostVeth?: string): Promise<void>;
  /** undefined when the interface does not exist; throws NetnsNotFoundError when the netns is gone. */
  inspect(netnsPath: string, ifname: string): Promise<SandboxInterface | undefined>;
}

/** The data plane's own errors, so `instanceof` works across the seam. */
export { InterfaceExistsError, NetnsNotFoundError } from '../src/dataplane/errors.js';

/** The plugin's on-disk records: a format the daemon reads too, so it lives in src/. */
export type { AttachmentRecord, AttachmentStore, ReleaseQueue } from '../src/lib/plugin-state.js';
export { ownerOf } from '../src/lib/plugin-state.js';

export interface Deps {
  daemon: DaemonClient;
  attacher: Attacher;
  store: AttachmentStore;
  releases: ReleaseQueue;
  log: Logger;
  /** Wall-clock time as ISO text, injected for deterministic records. */
  now: () => string;
  /** Random bytes (new MACs, retired port names). */
  random: RandomBytes;
}

