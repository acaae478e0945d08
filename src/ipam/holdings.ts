/**
 * Addresses other peers hold where the ring no longer puts them, and the
 * conflicts they make with ours.
 *
 * Normally every address a peer holds lies in its own space. The exception is
 * an `overlay rmpeer` of a peer that was still running behind a partition:
 * its space went to another peer, both sides may have handed out the same
 * addresses, and at the heal the removed peer accepts the new ring but keeps
 * the addresses it has in use. It publishes them as claims. Every peer keeps
 * claimed addresses out of what it hands out or donates; a peer that holds a
 * claimed address itself has a conflict, and publishes it as contested so the
 * claimant sees the conflict too. Nothing here resolves a conflict: it lasts
 * until one of the two holders releases the address.
 */
import type { PeerName } from '../lib/peer-name.js';
import type { Holding } from './messages.js';
import type { Space } from './space.js';

/** One address held both here and on another peer. */
export interface Conflict {
  address: number;
  /** The owner id holding it here. */
  owner: string;
  otherPeer: PeerName;
  otherOwner: string;
}

type Index = Map<number, Map<PeerName, string>>;

export function sameHoldings(a: readonly Holding[], b: readonly Holding[]): boolean {
  return a.length === b.length && a.every((h, i) => h[0] === b[i]![0] && h[1] === b[i]![1]);
}

export function sortHoldings(h: Holding[]): Holding[] {
  return h.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
}

export class ForeignHoldings {
  private readonly claims: Index = new Map();
  private readonly contested: Index = new Map();
  private readonly byPeer = new Map<PeerName, { claims: Holding[]; contested: Holding[] }>();

  constructor(private readonly space: Space) {}

  /** Another peer published its claims and contested addresses; true when anything changed. */
  update(peer: PeerName, claims: readonly Holding[] = [], contested: readonly Holding[] = []): boolean {
    const prev = this.byPeer.get(peer) ?? { claims: [], contested: [] };
    if (sameHoldings(prev.claims, claims) && sameHoldings(prev.contested, contested)) return false;
    for (const [a] of prev.claims) this.drop(this.claims, a, peer);
    for (const [a] of prev.contested) this.drop(this.contested, a, peer);
    for (const [a, o] of claims) this.add(this.claims, a, peer, o);
    for (const [a, o] of contested) this.add(this.contested, a, peer, o);
    if (claims.length || contested.length) this.byPeer.set(peer, { claims: [...claims], contested: [...contested] });
    else this.byPeer.delete(peer);
    return true;
  }

  private add(index: Index, addr: number, peer: PeerName, owner: string): void {
    let m = index.get(addr);
    if (!m) index.set(addr, (m = new Map()));
    m.set(peer, owner);
    this.space.setReserved(addr, true);
  }

  private drop(index: Index, addr: number, peer: PeerName): void {
    const m = index.get(addr);
    if (!m) return;
    m.delete(peer);
    if (m.size === 0) index.delete(addr);
    if (!this.claims.has(addr) && !this.contested.has(addr)) this.space.setReserved(addr, false);
  }

  /** The peer holding addr elsewhere, if any (for a refusal's reason). */
  holderOf(addr: number): PeerName | undefined {
    const m = this.claims.get(addr) ?? this.contested.get(addr);
    return m ? [...m.keys()][0] : undefined;
  }

  /** Our addresses that another peer claims: published, so that peer sees the conflict too. */
  ourContested(): Holding[] {
    const out: Holding[] = [];
    for (const addr of this.claims.keys()) {
      const owner = this.space.ownerOf(addr);
      if (owner !== undefined) out.push([addr, owner]);
    }
    return sortHoldings(out);
  }

  /** Every address held both here and on another peer. */
  conflicts(): Conflict[] {
    const out: Conflict[] = [];
    for (const index of [this.claims, this.contested]) {
      for (const [address, holders] of index) {
        const owner = this.space.ownerOf(address);
        if (owner === undefined) continue;
        for (const [otherPeer, otherOwner] of holders) out.push({ address, owner, otherPeer, otherOwner });
      }
    }
    return out.sort((a, b) => a.address - b.address || (a.otherPeer < b.otherPeer ? -1 : 1));
  }
}
