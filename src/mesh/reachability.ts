/**
 * Which peers we reach over symmetric edges (an edge counts only when both
 * ends list each other), kept as a spanning tree rooted at us so that a record
 * change costs about its own edges, not a walk of the whole topology:
 *  - an added edge can only extend the tree (a walk of what it newly reaches);
 *  - a removed edge that is not in the tree changes nothing;
 *  - only a removed tree edge needs the whole walk again, done lazily at the
 *    next question, so a burst of such losses costs one walk.
 * Every peer recomputed reachability after every burst of changes anywhere in
 * the mesh, an O(N) walk on each of N peers per change: at thousands of peers
 * that, not the gossip, was most of the mesh's work.
 *
 * First hops for routed messages are a separate, shortest-path question
 * (Topology.routes()), asked far more rarely.
 */
import type { PeerName } from '../lib/peer-name.js';

export interface ReachabilityRecord {
  readonly uid: string;
  readonly conns: readonly { readonly peer: PeerName }[];
}

export class Reachability<R extends ReachabilityRecord> {
  /** Reachable peer -> its parent in the tree; we are the root, with no parent. */
  private parent = new Map<PeerName, PeerName | undefined>();
  /** Records we hold whose owner we do not reach. */
  private unreached = new Set<PeerName>();
  private stale = true;
  /** A peer appeared, went, changed incarnation or reachability since takeMembershipChange(). */
  private membershipChanged = false;

  constructor(
    private readonly self: PeerName,
    private readonly records: ReadonlyMap<PeerName, R>,
    /** The peers a record lists (the same object for the same record: records are immutable). */
    private readonly neighbours: (r: R) => ReadonlySet<PeerName>,
  ) {}

  /** The record of `name` went from `before` to `after` (undefined: none); call once the records map holds `after`. */
  changed(name: PeerName, before: R | undefined, after: R | undefined): void {
    if (!before || !after || before.uid !== after.uid) this.membershipChanged = true;
    if (!after) {
      this.unreached.delete(name);
      if (this.parent.has(name)) this.stale = true;
      return;
    }
    if (!before && !this.parent.has(name)) this.unreached.add(name);
    if (this.stale) return;
    const now = this.neighbours(after);
    if (before) {
      for (const c of before.conns) {
        if (now.has(c.peer)) continue;
        // A lost edge matters only if the tree used it.
        if (this.parent.get(c.peer) === name || (this.parent.has(name) && this.parent.get(name) === c.peer)) {
          this.stale = true;
          return;
        }
      }
    }
    const was = before ? this.neighbours(before) : undefined;
    for (const c of after.conns) {
      if (was?.has(c.peer)) continue;
      if (!this.symmetric(c.peer, name)) continue;
      const a = this.parent.has(name);
      const b = this.parent.has(c.peer);
      if (a && !b) this.extend(c.peer, name);
      else if (b && !a) this.extend(name, c.peer);
    }
  }

  /** Do we reach `name` (we reach ourselves)? */
  reaches(name: PeerName): boolean {
    this.fresh();
    return this.parent.has(name);
  }

  /** The peers whose records we hold but whom we do not reach. */
  unreachable(): ReadonlySet<PeerName> {
    this.fresh();
    return this.unreached;
  }

  /** Whether membership (names, incarnations) or reachability changed since the last call. */
  takeMembershipChange(): boolean {
    this.fresh();
    const c = this.membershipChanged;
    this.membershipChanged = false;
    return c;
  }

  /** Does `from`'s record list `to`, `to`'s list `from`, both held? */
  private symmetric(from: PeerName, to: PeerName): boolean {
    const r = this.records.get(from);
    const o = this.records.get(to);
    return r !== undefined && o !== undefined && this.neighbours(r).has(to) && this.neighbours(o).has(from);
  }

  /** `v` is newly reached through `via`: so is everything unreached that `v` leads to. */
  private extend(v: PeerName, via: PeerName): void {
    this.membershipChanged = true;
    this.reach(v, via);
    const queue = [v];
    for (let i = 0; i < queue.length; i++) this.walkFrom(queue[i]!, queue);
  }

  private reach(v: PeerName, via: PeerName | undefined): void {
    this.parent.set(v, via);
    this.unreached.delete(v);
  }

  private walkFrom(from: PeerName, queue: PeerName[]): void {
    const rec = this.records.get(from);
    if (!rec) return;
    for (const c of rec.conns) {
      if (this.parent.has(c.peer)) continue;
      const other = this.records.get(c.peer);
      if (!other || !this.neighbours(other).has(from)) continue;
      this.reach(c.peer, from);
      queue.push(c.peer);
    }
  }

  private fresh(): void {
    if (!this.stale) return;
    this.stale = false;
    const before = this.parent;
    this.parent = new Map();
    this.unreached = new Set();
    if (this.records.has(this.self)) {
      this.reach(this.self, undefined);
      const queue = [this.self];
      for (let i = 0; i < queue.length; i++) this.walkFrom(queue[i]!, queue);
    }
    for (const name of this.records.keys()) if (!this.parent.has(name)) this.unreached.add(name);
    if (before.size !== this.parent.size) this.membershipChanged = true;
    else for (const name of this.parent.keys()) if (!before.has(name)) this.membershipChanged = true;
  }
}
