/**
 * Consensus on the initial ring's seed peers, as single-decree Paxos whose
 * messages are gossiped records: each uninitialised peer publishes one record
 * (its promise and what it accepted) and only it writes that record.
 *
 *  - A proposer picks a ballot above every ballot it has seen and promises it
 *    itself; acceptors that see a higher ballot promise it.
 *  - When a quorum of records promise exactly its ballot, the proposer accepts
 *    a value: the highest-ballot value already accepted among them, or else
 *    every participant it knows of.
 *  - Acceptors accept a proposer's value when it is at or above their promise.
 *  - Any peer that sees a quorum of records accepting the same ballot knows
 *    the value is chosen.
 *
 * The quorum intersection makes two different chosen values impossible, even
 * with lossy, reordered gossip. Liveness needs one proposer at a time: the
 * lowest-named participant proposes at once, the others only after a
 * randomised timeout without progress.
 */
import type { PeerName } from '../lib/peer-name.js';
import { contentTag, RecordVersions } from '../mesh/record-versions.js';

export interface Ballot {
  round: number;
  proposer: PeerName;
}

export interface PaxosRecord {
  version: number;
  promise?: Ballot;
  accepted?: { ballot: Ballot; value: PeerName[] };
}

export function compareBallots(a: Ballot | undefined, b: Ballot | undefined): number {
  if (!a) return b ? -1 : 0;
  if (!b) return 1;
  if (a.round !== b.round) return a.round - b.round;
  return a.proposer < b.proposer ? -1 : a.proposer > b.proposer ? 1 : 0;
}

function sameBallot(a: Ballot | undefined, b: Ballot | undefined): boolean {
  return compareBallots(a, b) === 0 && a !== undefined;
}

/** A record's tag: what breaks a tie between two records of one peer at one version (a lost disk), the same way everywhere. */
export function paxosTag(r: PaxosRecord): string {
  return contentTag({ ...r, version: undefined });
}

export class Paxos {
  private readonly byPeer = new Map<PeerName, PaxosRecord>();
  /** Kept in step with the records, for anti-entropy by digest. */
  readonly versions = new RecordVersions();

  constructor(
    readonly self: PeerName,
    readonly quorum: number,
    own?: PaxosRecord,
  ) {
    this.put(self, own ?? { version: 0 });
  }

  get records(): ReadonlyMap<PeerName, PaxosRecord> {
    return this.byPeer;
  }

  private put(peer: PeerName, r: PaxosRecord): void {
    this.byPeer.set(peer, r);
    this.versions.set(peer, r.version, paxosTag(r));
  }

  get own(): PaxosRecord {
    return this.byPeer.get(this.self)!;
  }

  /** Participants known so far (peers publishing a record), ourselves included. */
  known(): PeerName[] {
    return [...this.byPeer.keys()].sort();
  }

  /**
   * Merge another peer's record; returns true if it was newer (at one version, the larger tag: only a
   * peer that lost its disk writes two records at one version, and every replica must then keep the same one).
   * Our own record is ours alone.
   */
  mergeRecord(peer: PeerName, r: PaxosRecord): boolean {
    if (peer === this.self) return false;
    const mine = this.byPeer.get(peer);
    if (mine && (mine.version > r.version || (mine.version === r.version && paxosTag(mine) >= paxosTag(r)))) return false;
    this.put(peer, r);
    return true;
  }

  private write(change: Omit<PaxosRecord, 'version'>): void {
    const o = this.own;
    this.put(this.self, { ...o, ...change, version: o.version + 1 });
  }

  private maxRound(): number {
    let m = 0;
    for (const r of this.byPeer.values()) m = Math.max(m, r.promise?.round ?? 0, r.accepted?.ballot.round ?? 0);
    return m;
  }

  /** Start (or restart) proposing with a fresh ballot. */
  propose(): void {
    this.write({ promise: { round: this.maxRound() + 1, proposer: this.self } });
  }

  /** The chosen seed list, once a quorum accepted one ballot. */
  chosen(): PeerName[] | undefined {
    const counts = new Map<string, { n: number; value: PeerName[] }>();
    for (const r of this.byPeer.values()) {
      if (!r.accepted) continue;
      const k = `${r.accepted.ballot.round}/${r.accepted.ballot.proposer}`;
      const c = counts.get(k) ?? { n: 0, value: r.accepted.value };
      c.n++;
      counts.set(k, c);
      if (c.n >= this.quorum) return c.value;
    }
    return undefined;
  }

  /** React to the records we know; returns true if our own record changed (gossip it). */
  step(): boolean {
    const before = this.own.version;
    // Acceptor: promise the highest ballot anyone proposes.
    let highest = this.own.promise;
    for (const r of this.byPeer.values()) if (compareBallots(r.promise, highest) > 0) highest = r.promise;
    if (highest && compareBallots(highest, this.own.promise) > 0) this.write({ promise: highest });
    // Acceptor: accept a proposer's own accepted value at or above our promise.
    for (const [peer, r] of this.byPeer) {
      if (peer === this.self || !r.accepted || r.accepted.ballot.proposer !== peer) continue;
      if (compareBallots(r.accepted.ballot, this.own.promise) >= 0 && !sameBallot(r.accepted.ballot, this.own.accepted?.ballot))
        this.write({ promise: r.accepted.ballot, accepted: { ballot: r.accepted.ballot, value: r.accepted.value } });
    }
    // Proposer: with a quorum of promises for our ballot, accept a value.
    const mine = this.own.promise;
    if (mine?.proposer === this.self && !sameBallot(this.own.accepted?.ballot, mine)) {
      const promised = [...this.byPeer.values()].filter((r) => sameBallot(r.promise, mine));
      if (promised.length >= this.quorum) {
        let best: { ballot: Ballot; value: PeerName[] } | undefined;
        for (const r of promised) if (r.accepted && compareBallots(r.accepted.ballot, best?.ballot) > 0) best = r.accepted;
        this.write({ accepted: { ballot: mine, value: best?.value ?? this.known() } });
      }
    }
    return this.own.version !== before;
  }

  static parseRecord(x: unknown): PaxosRecord | undefined {
    const r = x as Partial<PaxosRecord> | null;
    if (!r || typeof r !== 'object' || !Number.isInteger(r.version) || (r.version as number) < 0) return undefined;
    if (r.promise !== undefined && !isBallot(r.promise)) return undefined;
    if (r.accepted !== undefined) {
      const a = r.accepted as { ballot?: unknown; value?: unknown };
      if (!isBallot(a.ballot) || !Array.isArray(a.value) || !a.value.every((v) => typeof v === 'string')) return undefined;
    }
    return r as PaxosRecord;
  }
}

function isBallot(b: unknown): b is Ballot {
  const x = b as Partial<Ballot> | null;
  return !!x && typeof x === 'object' && Number.isInteger(x.round) && typeof x.proposer === 'string';
}
