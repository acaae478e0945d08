/**
 * Checking the IPAM state read back from disk before trusting it. A damaged
 * ring or allocation list means this host can no longer tell which of its
 * addresses are in use, so the daemon must not start on it: handing out an
 * address a running container still has would be a duplicate.
 */
import { parseCidr, parseNetwork, type Cidr } from '../lib/ipv4.js';
import type { PaxosRecord } from './paxos.js';
import { Ring, type RingWire } from './ring.js';
import type { StoredAllocation } from './ipam.js';

export interface RawPersisted {
  range: unknown;
  ring: unknown;
  paxos: unknown;
  allocations: [string, unknown][];
}

export interface CheckedPersisted {
  range?: string;
  ring?: RingWire;
  paxos?: PaxosRecord;
  allocations: [string, StoredAllocation][];
}

export class DamagedStateError extends Error {}

/** Returns the state if it is whole; throws DamagedStateError naming the first problem otherwise. */
export function checkPersisted(raw: RawPersisted, range: Cidr): CheckedPersisted {
  const bad = (what: string) => new DamagedStateError(what);
  if (raw.range !== undefined && (typeof raw.range !== 'string' || !parseCidr(raw.range))) throw bad('the stored range is not a CIDR');
  // Allocations are checked against the range they were made in; a changed --ipalloc-range is
  // refused afterwards with its own message.
  if (typeof raw.range === 'string') range = parseNetwork(raw.range);
  let ring: RingWire | undefined;
  if (raw.ring !== undefined) {
    ring = Ring.parseWire(raw.ring);
    if (!ring || ring.partial) throw bad('the stored ring does not parse');
  }
  if (raw.paxos !== undefined && (typeof raw.paxos !== 'object' || raw.paxos === null)) throw bad('the stored consensus record does not parse');
  const seen = new Map<number, string>();
  const allocations: [string, StoredAllocation][] = [];
  for (const [owner, v] of raw.allocations) {
    const a = v as Partial<StoredAllocation> | null;
    if (!a || typeof a !== 'object' || !Number.isInteger(a.addr) || typeof a.subnet !== 'string') throw bad(`the allocation of ${owner} does not parse`);
    const addr = a.addr as number;
    if (addr < range.start || addr >= range.start + range.size) throw bad(`the allocation of ${owner} lies outside the range`);
    try {
      parseNetwork(a.subnet);
    } catch {
      throw bad(`the allocation of ${owner} names no valid subnet`);
    }
    const other = seen.get(addr);
    if (other !== undefined) throw bad(`${owner} and ${other} hold the same address`);
    seen.set(addr, owner);
    allocations.push([owner, { addr, subnet: a.subnet }]);
  }
  return { range: raw.range as string | undefined, ring, paxos: raw.paxos as PaxosRecord | undefined, allocations };
}
