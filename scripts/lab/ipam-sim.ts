/**
 * Many IPAM peers in one process: real Routers on the simulated network
 * (MeshSim), each with the real Ipam core and an in-memory "disk" that
 * survives crashes. A global ledger built from what peers made durable
 * catches a duplicate address the moment it is written. A test may excuse
 * duplicates in space it moved by rmpeer of a live peer (the one mistake no
 * design can prevent); those are kept in the ledger for it to check that
 * both sides report them.
 */
import { Ipam, KEY_ALLOC_PREFIX, KEY_PAXOS, KEY_RANGE, KEY_RING, type InitMode, type IpamConfig, type IpamPersisted, type StoredAllocation } from '../../src/ipam/ipam.js';
import type { IpamMessage } from '../../src/ipam/messages.js';
import type { PaxosRecord } from '../../src/ipam/paxos.js';
import type { PeerName } from '../../src/lib/peer-name.js';
import type { RingWire } from '../../src/ipam/ring.js';
import { intToIp, parseNetwork } from '../../src/lib/ipv4.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { GossipChannel, GossipSender } from '../../src/mesh/gossip-channel.js';
import type { StoreOp } from '../../src/store/store.js';
import { MeshSim, type MeshSimOptions } from './mesh-sim.js';

export class DuplicateAddress extends Error {}

/** A channel as a build before its digest registers it: full state every anti-entropy round (a baseline, an older peer). */
export function withoutDigest(ch: GossipChannel): GossipChannel {
  return {
    name: ch.name,
    encodeFull: () => ch.encodeFull(),
    encodeDelta: () => ch.encodeDelta(),
    merge: (from, payload) => ch.merge(from, payload),
    ...(ch.onUnicast ? { onUnicast: (from: PeerName, payload: unknown) => ch.onUnicast!(from, payload) } : {}),
  };
}

export interface IpamSimOptions extends MeshSimOptions {
  range?: string;
  init?: (i: number, n: number) => InitMode;
  waitMs?: number;
  /** false: IPAM's anti-entropy sends full state every round, as builds before its digest did (peer i). */
  ipamDigest?: (i: number) => boolean;
}

export class IpamSim {
  readonly mesh: MeshSim;
  readonly ipams: (Ipam | undefined)[] = [];
  readonly disks: Map<string, unknown>[] = [];
  /** address → every "peer/owner" holding it, from durable writes of every peer, dead or alive. */
  readonly ledger = new Map<number, Set<string>>();
  /** Duplicates the test allows (an address in space taken from a live peer by rmpeer). */
  excuse: (addr: number) => boolean = () => false;
  /** Messages the test loses on purpose (a reply dropped as its sender crashes, an acknowledgement lost); sender slot, message. */
  lose: (from: number, to: PeerName, m: IpamMessage) => boolean = () => false;
  /** Duplicates seen (also thrown into the writer, but an async caller might swallow that). */
  readonly violations: string[] = [];
  readonly cfg: Omit<IpamConfig, 'init'>;

  constructor(
    seed: number,
    readonly n: number,
    private readonly opts: IpamSimOptions = {},
  ) {
    this.mesh = new MeshSim(seed, { targetsPerPeer: 2, discovery: true, ...opts });
    const range = parseNetwork(opts.range ?? '10.32.0.0/20');
    this.cfg = { range, defaultSubnet: range, waitMs: opts.waitMs ?? 5_000, requestTimeoutMs: 1_000, heartbeatTimeoutMs: opts.timings?.heartbeatTimeoutMs };
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.n; i++) await this.startPeer(i);
  }

  private init(i: number): InitMode {
    return this.opts.init?.(i, this.n) ?? { mode: 'consensus', n: this.n };
  }

  /** Start (or restart after a crash) peer i from its disk. */
  async startPeer(i: number): Promise<Ipam> {
    const disk = (this.disks[i] ??= new Map());
    const router = await this.mesh.addPeer(i);
    const persisted: IpamPersisted = {
      range: disk.get(KEY_RANGE) as string | undefined,
      ring: disk.get(KEY_RING) as RingWire | undefined,
      paxos: disk.get(KEY_PAXOS) as PaxosRecord | undefined,
      allocations: [...disk.entries()].filter(([k]) => k.startsWith(KEY_ALLOC_PREFIX)).map(([k, v]) => [k.slice(KEY_ALLOC_PREFIX.length), v as StoredAllocation]),
    };
    let sender: GossipSender | undefined;
    const ipam = new Ipam(
      { ...this.cfg, init: this.init(i) },
      {
        self: router.name,
        nickname: this.mesh.host(i),
        clock: this.mesh.clock,
        epoch: 0,
        random: this.mesh.random,
        log: silentLogger,
        peers: () => router.peers(),
        send: (to, m) => (this.lose(i, to, m) ? true : (sender?.unicast(to, m) ?? false)),
        gossip: () => sender?.gossip(),
        persist: (ops) => this.write(i, ops),
      },
      persisted,
    );
    sender = router.registerChannel(this.opts.ipamDigest?.(i) === false ? withoutDigest(ipam) : ipam);
    router.onPeersChanged(() => ipam.peersChanged());
    sender.gossip();
    this.ipams[i] = ipam;
    return ipam;
  }

  /** The durable write, and the duplicate check on it. */
  private write(i: number, ops: StoreOp[]): void {
    const disk = this.disks[i]!;
    for (const op of ops) {
      if (op.key.startsWith(KEY_ALLOC_PREFIX)) {
        const owner = `${i}/${op.key.slice(KEY_ALLOC_PREFIX.length)}`;
        const before = disk.get(op.key) as StoredAllocation | undefined;
        if (before) this.forget(before.addr, owner);
        if (op.type === 'put') {
          const addr = (op.value as StoredAllocation).addr;
          const holders = this.ledger.get(addr) ?? new Set<string>();
          const others = [...holders].filter((h) => h !== owner);
          if (others.length && !this.excuse(addr)) {
            const msg = `${intToIp(addr)} held by ${others.join(', ')} and ${owner}`;
            this.violations.push(msg);
            throw new DuplicateAddress(msg);
          }
          holders.add(owner);
          this.ledger.set(addr, holders);
        }
      }
      if (op.type === 'put') disk.set(op.key, op.value);
      else disk.delete(op.key);
    }
  }

  private forget(addr: number, holder: string): void {
    const holders = this.ledger.get(addr);
    if (!holders?.delete(holder)) return;
    if (holders.size === 0) this.ledger.delete(addr);
  }

  /** Addresses held by more than one owner right now, with their holders. */
  duplicates(): [number, string[]][] {
    return [...this.ledger.entries()].filter(([, h]) => h.size > 1).map(([a, h]) => [a, [...h]]);
  }

  /** Peer i is gone for good: its disk is wiped and the containers it held died with it. */
  async destroy(i: number): Promise<void> {
    await this.crash(i);
    for (const [addr, holders] of [...this.ledger]) for (const h of holders) if (h.startsWith(`${i}/`)) this.forget(addr, h);
    this.disks[i] = new Map();
  }

  /** Peer i was reset (`overlay reset`): its disk is wiped and it comes back, when started, as a new peer. */
  async wipe(i: number): Promise<void> {
    await this.destroy(i);
    this.mesh.renew(i);
  }

  async crash(i: number): Promise<void> {
    this.ipams[i]?.stop();
    this.ipams[i] = undefined;
    await this.mesh.kill(i);
  }

  alive(): [number, Ipam][] {
    return this.ipams.flatMap((p, i) => (p ? [[i, p] as [number, Ipam]] : []));
  }

  run(ms: number, stepMs = 20): Promise<void> {
    return this.mesh.run(ms, stepMs);
  }

  async runUntil(pred: () => boolean, maxMs: number, stepMs = 50): Promise<boolean> {
    const start = this.mesh.clock.now();
    while (!pred()) {
      if (this.mesh.clock.now() - start > maxMs) return false;
      await this.run(stepMs, stepMs);
    }
    return true;
  }

  /** Await promises whose progress needs simulated time (allocations, requests), advancing the clock meanwhile. */
  async settle<T>(promises: Promise<T>[], stepMs = 50): Promise<PromiseSettledResult<T>[]> {
    let done = false;
    const all = Promise.allSettled(promises).finally(() => (done = true));
    while (!done) await this.run(stepMs, stepMs);
    return all;
  }

  allReady(): boolean {
    return this.alive().every(([, p]) => p.state().state === 'ready');
  }

  /** Why the cluster is not settled (ready, rings agreed, mesh converged): for a failing test's message. */
  unsettled(): string {
    const notReady = this.alive().flatMap(([i, p]) => (p.state().state === 'ready' ? [] : [`peer ${i}: ${p.state().state}`]));
    const rings = new Map<string, number[]>();
    for (const [i, p] of this.alive()) {
      const sig = JSON.stringify(p.ring.toWire());
      rings.set(sig, [...(rings.get(sig) ?? []), i]);
    }
    return [
      ...notReady,
      ...(rings.size > 1 ? [`${rings.size} different rings: ${[...rings.values()].map((g) => `[${g.join(',')}]`).join(' ')}`] : []),
      ...(this.mesh.converged() ? [] : [`mesh not converged: ${this.mesh.unconverged()}`]),
    ].join('; ');
  }

  /** Every live peer's ring is identical. */
  ringsAgree(): boolean {
    const sigs = new Set(this.alive().map(([, p]) => JSON.stringify(p.ring.toWire())));
    return sigs.size === 1;
  }

  async stop(): Promise<void> {
    for (const [, p] of this.alive()) p.stop();
    await this.mesh.stopAll();
  }
}
