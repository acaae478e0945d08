/**
 * The `topology` gossip channel: carries the topology CRDT (topology.ts)
 * between routers. Deltas are the records changed since the last flush (ours
 * and those learnt from others, so a burst of changes is forwarded once);
 * anti-entropy is by digest (record-versions.ts); v3 connections get the
 * compact binary encoding (topology-wire.ts).
 */
import type { PeerName } from '../lib/peer-name.js';
import { NEW_IN_NEXT_DELTA, type ChannelDigest, type GossipChannel } from './gossip-channel.js';
import { DIGEST_GOSSIP_VERSION } from './protocol.js';
import { recordDigest } from './record-versions.js';
import { decodeRecords, neighbourOf, Topology, type ConnRecord, type PeerRecord } from './topology.js';
import { assembleTopology, encodeTopology, encodeTopologyParts, type EncodedTopology, type RecordPool } from './topology-wire.js';

export const TOPOLOGY_CHANNEL = 'topology';

export interface TopologyChannelEvents {
  /** There is a delta to gossip. */
  gossip(): void;
  /** The topology changed (recompute reachability, discovery). */
  changed(): void;
}

export class TopologyChannel implements GossipChannel {
  readonly name = TOPOLOGY_CHANNEL;
  readonly topo: Topology;
  private pending = new Map<PeerName, PeerRecord>();
  /**
   * Per pending record, the neighbours known to hold that very version
   * (they sent it to us, first or as a later duplicate, before our flush).
   * A version spreads as a wave, so neighbours at the same distance from its
   * owner mostly hear it within one coalescing window of each other: without
   * this, both ends of such a link sent it across, and every link carried
   * every version both ways.
   */
  private pendingHolders = new Map<PeerName, Set<PeerName>>();
  /** The holders of each delta handed out by encodeDelta(), for narrow(). */
  private readonly deltaHolders = new WeakMap<PeerRecord[], Map<PeerName, Set<PeerName>>>();

  constructor(
    own: PeerRecord,
    private readonly events: TopologyChannelEvents,
    /** Shares decoded records between the routers of one process (simulations of thousands of peers). */
    private readonly pool?: RecordPool,
  ) {
    this.topo = new Topology(own);
    this.digest = recordDigest(this.topo.versions, (keys) => keys.map((k) => this.topo.get(k)!), 'topology');
  }

  private ownConns?: ConnRecord[];

  /**
   * Our established connections changed. Applied when the next delta is
   * flushed, so a connection that comes and goes within the coalescing window
   * (one refused at a conn-limit) costs no new version, and no gossip.
   */
  setOwnConnections(conns: ConnRecord[]): void {
    this.ownConns = conns;
    this.events.gossip();
  }

  private applyOwnConnections(): void {
    if (!this.ownConns) return;
    const rec = this.topo.setOwnConnections(this.ownConns);
    this.ownConns = undefined;
    if (rec) {
      this.pending.set(rec.name, rec);
      this.events.changed();
    }
  }

  encodeFull(): PeerRecord[] {
    return this.topo.all();
  }

  encodeDelta(): PeerRecord[] | undefined {
    this.applyOwnConnections();
    if (this.pending.size === 0) return undefined;
    // Only what is still known after garbage collection.
    const d = [...this.pending.values()].filter((r) => this.topo.get(r.name) === r);
    const holders = this.pendingHolders;
    this.pending = new Map();
    this.pendingHolders = new Map();
    if (!d.length) return undefined;
    if (holders.size) this.deltaHolders.set(d, holders);
    return d;
  }

  merge(from: PeerName, payload: unknown): typeof NEW_IN_NEXT_DELTA | undefined {
    const wants = (n: PeerName, v: number, u: () => string): boolean => {
      if (this.topo.wants(n, v, u)) return true;
      const p = this.pending.get(n);
      if (p && p.version === v && p.uid === u()) this.noteHolder(n, from);
      return false;
    };
    const changed = this.topo.merge(decodeRecords(payload, { wants, pool: this.pool }));
    if (changed.length === 0) return undefined;
    // Forward as part of the next coalesced delta rather than one message
    // per incoming change: during a join, many changes arrive together.
    for (const r of changed) {
      this.pending.set(r.name, r);
      this.pendingHolders.delete(r.name);
      if (r.name !== this.topo.self.name) this.noteHolder(r.name, from);
    }
    // Our own record, bumped over a stale incarnation of us, is news to the sender too.
    if (changed.some((r) => r.name === this.topo.self.name)) this.events.gossip();
    this.events.changed();
    return NEW_IN_NEXT_DELTA;
  }

  private noteHolder(name: PeerName, peer: PeerName): void {
    let set = this.pendingHolders.get(name);
    if (!set) this.pendingHolders.set(name, (set = new Set()));
    set.add(peer);
  }

  /** The narrowed parts of the delta being fanned out, by the indexes they keep (see narrow). */
  private narrowedOf?: PeerRecord[];
  private readonly narrowed = new Map<string, PeerRecord[]>();

  /**
   * A record's owner sends each new version of it to all of its neighbours
   * (this runs on the owner too, and keeps its own record for everyone), so
   * a neighbour of the owner is not sent it again by anyone else; nor is a
   * neighbour that sent us that version itself. Neighbours that are to get
   * the same part of one delta get the same array, so that the gossip encodes
   * it once for all of them, not once per neighbour (a forming full mesh of
   * 100 fans each forwarded delta out to ~100).
   */
  narrow(payload: unknown, to: PeerName): PeerRecord[] | undefined {
    const records = payload as PeerRecord[];
    const holders = this.deltaHolders.get(records);
    let kept: number[] | undefined;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const skip = r.name === to || (r.name !== this.topo.self.name && neighbourOf(r, to)) || holders?.get(r.name)?.has(to) === true;
      if (skip && !kept) kept = Array.from({ length: i }, (_, j) => j);
      else if (!skip && kept) kept.push(i);
    }
    if (!kept) return records;
    if (!kept.length) return undefined;
    if (this.narrowedOf !== records) {
      this.narrowedOf = records;
      this.narrowed.clear();
    }
    const key = kept.join(',');
    let part = this.narrowed.get(key);
    if (!part) {
      this.narrowed.set(key, (part = kept.map((i) => records[i]!)));
      this.subsets.set(part, { of: records, kept });
    }
    return part;
  }

  /** Narrowed deltas: which delta each is part of, and which of its records it keeps. */
  private readonly subsets = new WeakMap<PeerRecord[], { of: PeerRecord[]; kept: number[] }>();
  /** Each delta's encoding, shared by the narrowed parts of it that keep most of it. */
  private readonly encodings = new WeakMap<PeerRecord[], EncodedTopology>();

  wireFor(payload: unknown, protocolVersion: number): unknown {
    if (protocolVersion < DIGEST_GOSSIP_VERSION) return payload;
    const records = payload as PeerRecord[];
    const sub = this.subsets.get(records);
    // A part that keeps little of its delta is encoded on its own: the shared tables would name many peers it does not use.
    if (sub && sub.kept.length * 2 < sub.of.length) return encodeTopology(records);
    const whole = sub ? sub.of : records;
    let enc = this.encodings.get(whole);
    if (!enc) this.encodings.set(whole, (enc = encodeTopologyParts(whole)));
    return assembleTopology(enc, sub?.kept);
  }

  readonly digest: ChannelDigest;
}
