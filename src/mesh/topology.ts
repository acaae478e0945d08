/**
 * The topology CRDT: every peer owns one versioned record listing its
 * established connections. Only the owner writes its record, so merging is
 * "highest version wins" per peer name. Versions start at the owner's wall
 * clock (ms) at launch, so a restarted peer (new uid) supersedes its old
 * incarnation; on an exact tie the larger uid wins, the same at every peer.
 */
import { isPeerName, type PeerName } from '../lib/peer-name.js';
import { ProtocolError } from './protocol.js';
import { Reachability } from './reachability.js';
import { RecordVersions } from './record-versions.js';
import { decodeTopology, type RecordPool } from './topology-wire.js';

export interface ConnRecord {
  peer: PeerName;
  /** Where the owner reaches that peer: host:listen-port. */
  address: string;
  outbound: boolean;
}

export interface PeerRecord {
  name: PeerName;
  nickname: string;
  uid: string;
  version: number;
  conns: ConnRecord[];
}

/** Does record `a` supersede record `b` for the same peer name? */
export function supersedes(a: PeerRecord, b: PeerRecord): boolean {
  if (a.version !== b.version) return a.version > b.version;
  return a.uid > b.uid;
}

export class Topology {
  private readonly records = new Map<PeerName, PeerRecord>();
  /** Kept in step with `records`, for anti-entropy by digest. */
  readonly versions = new RecordVersions();
  /** Kept in step with `records`: whom we reach. */
  private readonly reach: Reachability<PeerRecord>;

  constructor(private own: PeerRecord) {
    this.reach = new Reachability(own.name, this.records, neighbourSet);
    this.put(own);
  }

  private put(r: PeerRecord): void {
    const before = this.records.get(r.name);
    this.records.set(r.name, r);
    this.versions.set(r.name, r.version, r.uid);
    this.reach.changed(r.name, before, r);
    this.touched.add(r.name);
  }

  /** Names whose record was added or replaced since the last takeTouched() (for discovery). */
  private touched = new Set<PeerName>();

  takeTouched(): ReadonlySet<PeerName> {
    const t = this.touched;
    this.touched = new Set();
    return t;
  }

  /** Do we reach `name` over edges both ends report (we reach ourselves)? */
  reaches(name: PeerName): boolean {
    return this.reach.reaches(name);
  }

  /** The peers whose records we hold but whom we do not reach. */
  unreachable(): ReadonlySet<PeerName> {
    return this.reach.unreachable();
  }

  /** Whether a peer appeared, went, restarted or changed reachability since the last call. */
  takeMembershipChange(): boolean {
    return this.reach.takeMembershipChange();
  }

  get self(): PeerRecord {
    return this.own;
  }

  get(name: PeerName): PeerRecord | undefined {
    return this.records.get(name);
  }

  all(): PeerRecord[] {
    return [...this.records.values()];
  }

  get size(): number {
    return this.records.size;
  }

  /** Replace our own connection list; returns the new record if it changed. */
  setOwnConnections(conns: ConnRecord[]): PeerRecord | undefined {
    const sorted = [...conns].sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
    if (JSON.stringify(sorted) === JSON.stringify(this.own.conns)) return undefined;
    return this.bumpOwn(sorted);
  }

  private bumpOwn(conns: ConnRecord[], atLeast = 0): PeerRecord {
    this.own = { ...this.own, conns, version: Math.max(this.own.version + 1, atLeast + 1) };
    this.put(this.own);
    return this.own;
  }

  /** Would a record of this version be new to us (the decoder skips the edges of those that are not)? Same rule as merge(). */
  wants(name: PeerName, version: number, uid: () => string): boolean {
    if (name === this.own.name) {
      const ownNewer = this.own.version !== version ? this.own.version > version : this.own.uid > uid();
      return !ownNewer && uid() !== this.own.uid;
    }
    const cur = this.records.get(name);
    if (!cur) return true;
    return version !== cur.version ? version > cur.version : uid() > cur.uid;
  }

  /**
   * Fold in records from a peer. Returns the records that were new to us (to
   * forward), including our own record if a stale incarnation of us forced a
   * version bump.
   */
  merge(incoming: PeerRecord[]): PeerRecord[] {
    const changed: PeerRecord[] = [];
    for (const r of incoming) {
      if (r.name === this.own.name) {
        // Someone still holds a record of an earlier incarnation of us (or a
        // newer-looking one): out-vote it so the whole mesh converges on ours.
        if (r.uid !== this.own.uid && !supersedes(this.own, r)) changed.push(this.bumpOwn(this.own.conns, r.version));
        continue;
      }
      const cur = this.records.get(r.name);
      if (cur && !supersedes(r, cur)) continue;
      this.put(r);
      changed.push(r);
    }
    return changed;
  }

  /**
   * Shortest-path first hops from us: destination -> neighbour to send through.
   * An edge counts only when both ends report it. Breadth-first over the
   * records themselves (no adjacency built per call). Only routed messages
   * need this; who is reachable at all is kept incrementally (reaches()).
   */
  routes(): Map<PeerName, PeerName> {
    const hop = new Map<PeerName, PeerName>();
    const queue: PeerName[] = [];
    const visit = (from: PeerName, via: PeerName | undefined): void => {
      const rec = this.records.get(from);
      if (!rec) return;
      for (const c of rec.conns) {
        if (c.peer === this.own.name || hop.has(c.peer)) continue;
        const other = this.records.get(c.peer);
        if (!other || !neighbourSet(other).has(from)) continue;
        hop.set(c.peer, via ?? c.peer);
        queue.push(c.peer);
      }
    };
    visit(this.own.name, undefined);
    for (let qi = 0; qi < queue.length; qi++) visit(queue[qi]!, hop.get(queue[qi]!));
    return hop;
  }

  /** Remove the records of peers we cannot reach, except those `spare` keeps for now; returns their names. */
  removeUnreachable(spare: (name: PeerName) => boolean = () => false): PeerName[] {
    const gone = [...this.reach.unreachable()].filter((name) => !spare(name));
    for (const n of gone) {
      const rec = this.records.get(n);
      this.records.delete(n);
      this.versions.delete(n);
      this.reach.changed(n, rec, undefined);
    }
    return gone;
  }
}

/** Records never change once made (a new version is a new object), so each one's set of neighbours is computed once. */
const neighbourSets = new WeakMap<PeerRecord, Set<PeerName>>();
function neighbourSet(r: PeerRecord): Set<PeerName> {
  let s = neighbourSets.get(r);
  if (!s) neighbourSets.set(r, (s = new Set(r.conns.map((c) => c.peer))));
  return s;
}

const MAX_RECORDS = 100_000;
const MAX_CONNS = 10_000;

/**
 * Validate gossiped records from the wire: the v1 JSON list, or the binary
 * form of v3 (topology-wire.ts), which skips records `wants` turns down.
 */
export function decodeRecords(payload: unknown, opts: { wants?: Topology['wants']; pool?: RecordPool } = {}): PeerRecord[] {
  if (payload instanceof Uint8Array) return decodeTopology(payload, { maxRecords: MAX_RECORDS, maxConns: MAX_CONNS, ...opts });
  if (!Array.isArray(payload) || payload.length > MAX_RECORDS) throw new ProtocolError('topology payload must be an array');
  return payload.map((x): PeerRecord => {
    const o = x as Partial<PeerRecord> | null;
    if (
      !o || typeof o !== 'object' || typeof o.name !== 'string' || !isPeerName(o.name) ||
      typeof o.nickname !== 'string' || o.nickname.length > 64 || typeof o.uid !== 'string' || o.uid.length > 64 ||
      typeof o.version !== 'number' || !Number.isFinite(o.version) || !Array.isArray(o.conns) || o.conns.length > MAX_CONNS
    ) {
      throw new ProtocolError('malformed topology record');
    }
    const conns = o.conns.map((c): ConnRecord => {
      if (!c || typeof c !== 'object' || typeof c.peer !== 'string' || !isPeerName(c.peer) || typeof c.address !== 'string' || c.address.length > 300) {
        throw new ProtocolError('malformed connection in topology record');
      }
      return { peer: c.peer, address: c.address, outbound: c.outbound === true };
    });
    return { name: o.name, nickname: o.nickname, uid: o.uid, version: o.version, conns };
  });
}

/** Does record `r` list a connection to `peer`? */
export function neighbourOf(r: PeerRecord, peer: PeerName): boolean {
  return neighbourSet(r).has(peer);
}
