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
import { encodeTopology, type RecordPool } from './topology-wire.js';

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
    this.pending = new Map();
    return d.length ? d : undefined;
  }

  merge(_from: PeerName, payload: unknown): typeof NEW_IN_NEXT_DELTA | undefined {
    const changed = this.topo.merge(decodeRecords(payload, { wants: (n, v, u) => this.topo.wants(n, v, u), pool: this.pool }));
    if (changed.length === 0) return undefined;
    // Forward as part of the next coalesced delta rather than one message
    // per incoming change: during a join, many changes arrive together.
    for (const r of changed) this.pending.set(r.name, r);
    // Our own record, bumped over a stale incarnation of us, is news to the sender too.
    if (changed.some((r) => r.name === this.topo.self.name)) this.events.gossip();
    this.events.changed();
    return NEW_IN_NEXT_DELTA;
  }

  /** The narrowed parts of the delta being fanned out, by the indexes they keep (see narrow). */
  private narrowedOf?: PeerRecord[];
  private readonly narrowed = new Map<string, PeerRecord[]>();

  /**
   * A record's owner sends each new version of it to all of its neighbours
   * (this runs on the owner too, and keeps its own record for everyone), so
   * a neighbour of the owner is not sent it again by anyone else. Neighbours
   * that are to get the same part of one delta get the same array, so that
   * the gossip encodes it once for all of them, not once per neighbour (a
   * forming full mesh of 100 fans each forwarded delta out to ~100).
   */
  narrow(payload: unknown, to: PeerName): PeerRecord[] | undefined {
    const records = payload as PeerRecord[];
    let kept: number[] | undefined;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const skip = r.name === to || (r.name !== this.topo.self.name && neighbourOf(r, to));
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
    if (!part) this.narrowed.set(key, (part = kept.map((i) => records[i]!)));
    return part;
  }

  wireFor(payload: unknown, protocolVersion: number): unknown {
    return protocolVersion >= DIGEST_GOSSIP_VERSION ? encodeTopology(payload as PeerRecord[]) : payload;
  }

  readonly digest: ChannelDigest;
}
