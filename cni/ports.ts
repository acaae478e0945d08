/**
 * The seams between the command logic and the outside world. Commands take
 * these as arguments, so unit tests pass fakes and main.ts passes the real
 * daemon client, the dataplane attach path and the on-disk stores.
 */
import type { Logger } from '../src/lib/logger.js';

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

/**
 * The daemon's IPAM as the plugin sees it. An owner is `${containerId}:${ifname}`.
 * Implementations throw DaemonUnavailableError when the daemon cannot be reached
 * or times out, so commands can answer "try again later".
 */
export interface IpamClient {
  /** Idempotent per owner: a retry returns the same allocation. */
  allocate(owner: string, req: { subnet?: string; ip?: string }): Promise<Allocation>;
  /** Idempotent: releasing an unknown owner succeeds. */
  release(owner: string): Promise<void>;
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

export interface AttachOptions {
  address: string;
  gateway?: string;
  mtu?: number;
  mac?: string;
  hairpin: boolean;
  isolation: boolean;
  /** Routes to install in the container besides the connected subnet. */
  routes: { dst: string; gw?: string }[];
}

/** The attached port, and what is actually present in a container netns (CHECK). */
import type { AttachedPort, SandboxInterface } from '../src/dataplane/attach.js';
export type { AttachedPort, SandboxInterface };

/** The data plane attach path (run by the daemon), behind a small interface. */
export interface Attacher {
  /** The bridge container ports are plugged into. */
  readonly bridge: string;
  /** Throws NetnsNotFoundError, or InterfaceExistsError when `ifname` is already in the netns. */
  attach(netnsPath: string, ifname: string, opts: AttachOptions): Promise<AttachedPort>;
  /** Idempotent: a missing netns, interface or veth is not an error. */
  detach(netnsPath: string, ifname: string, hostVeth?: string): Promise<void>;
  /** undefined when the interface does not exist; throws NetnsNotFoundError when the netns is gone. */
  inspect(netnsPath: string, ifname: string): Promise<SandboxInterface | undefined>;
}

/** The data plane's own errors, so `instanceof` works across the seam. */
export { InterfaceExistsError, NetnsNotFoundError } from '../src/dataplane/errors.js';

/** What ADD remembers about one attachment, so DEL and GC can undo it. */
export interface AttachmentRecord {
  containerId: string;
  ifname: string;
  netns: string;
  network: string;
  address: string;
  subnet: string;
  gateway?: string;
  hostVeth: string;
  mac: string;
  createdAt: string;
}

export interface AttachmentStore {
  get(containerId: string, ifname: string): Promise<AttachmentRecord | undefined>;
  put(record: AttachmentRecord): Promise<void>;
  /** Idempotent. */
  remove(containerId: string, ifname: string): Promise<void>;
  list(): Promise<AttachmentRecord[]>;
}

/** Releases waiting for the daemon to come back. */
export interface ReleaseQueue {
  enqueue(owner: string): Promise<void>;
  /** Idempotent. */
  remove(owner: string): Promise<void>;
  has(owner: string): Promise<boolean>;
  list(): Promise<string[]>;
}

export interface Deps {
  ipam: IpamClient;
  attacher: Attacher;
  store: AttachmentStore;
  releases: ReleaseQueue;
  log: Logger;
  /** Wall-clock time as ISO text, injected for deterministic records. */
  now: () => string;
}

export function ownerOf(containerId: string, ifname: string): string {
  return `${containerId}:${ifname}`;
}
