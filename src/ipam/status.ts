/** `overlay status ipam`: who owns how much of the range, in Weave's layout, then any address held twice. */
import { intToIp } from '../lib/ipv4.js';
import type { PeerName } from '../lib/peer-name.js';
import type { PeerInfo } from '../mesh/gossip-channel.js';
import type { Ipam } from './ipam.js';

export interface IpamPeerRow {
  name: PeerName;
  nickname: string;
  owned: number;
  /** As last published by that peer (ours is exact). */
  inUse: number;
  reachable: boolean;
}

export function ipamPeerRows(ipam: Ipam, peers: PeerInfo[]): IpamPeerRow[] {
  const owned = ipam.ring.ownership();
  const stats = ipam.peerStats();
  const reachable = new Set(peers.filter((p) => p.reachable).map((p) => p.name));
  reachable.add(ipam.self);
  // A peer removed by rmpeer (and owning nothing since) is no longer listed.
  const names = new Set([...owned.keys(), ...[...stats].filter(([, s]) => s.removedBy === undefined).map(([n]) => n)]);
  return [...names]
    .map((name) => ({
      name,
      nickname: stats.get(name)?.nickname ?? '',
      owned: owned.get(name) ?? 0,
      inUse: name === ipam.self ? ipam.space.size : (stats.get(name)?.inUse ?? 0),
      reachable: reachable.has(name),
    }))
    .sort((a, b) => b.owned - a.owned || (a.name < b.name ? -1 : 1));
}

export function formatIpamPeers(rows: IpamPeerRow[], total: number): string {
  if (rows.length === 0) return 'IPAM has no ring yet (awaiting consensus or a peer to learn it from)';
  const labels = rows.map((r) => `${r.name}(${r.nickname})`);
  const w = Math.max(...labels.map((l) => l.length));
  return rows
    .map((r, i) => {
      const pct = ((100 * r.owned) / total).toFixed(1);
      const tail = r.reachable ? `(${r.inUse} active)` : '- unreachable!';
      return `${labels[i]!.padEnd(w)}  ${String(r.owned).padStart(8)} IPs (${pct.padStart(5)}% of total) ${tail}`;
    })
    .join('\n');
}

/** How an address held twice is resolved: by the operator, never by IPAM on its own. */
export const CONFLICT_WAY_OUT =
  'remove one of the two containers (or `overlay detach` it) so its address is released; the other keeps the address. ' +
  'Conflicts arise only after `overlay rmpeer` of a peer that was still running behind a partition.';

/** One line per address held both here and on another peer, with both owner ids and the way out. */
export function formatConflicts(ipam: Ipam): string {
  const conflicts = ipam.conflicts();
  const outside = ipam.heldOutsideOwnSpace();
  const lines: string[] = [];
  if (conflicts.length) {
    lines.push(`CONFLICTS: ${conflicts.length} address(es) held both here and on another peer:`);
    for (const c of conflicts) lines.push(`  ${intToIp(c.address)}  here by ${c.owner}, on ${ipam.describePeer(c.otherPeer)} by ${c.otherOwner}`);
    lines.push(`Way out: ${CONFLICT_WAY_OUT}`);
  }
  if (outside)
    lines.push(`${outside} address(es) in use here lie in space now owned by other peers (this peer was removed with \`overlay rmpeer\` while running); they stay in use and are kept from being handed out elsewhere.`);
  return lines.join('\n');
}
