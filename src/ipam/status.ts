/** `overlay status ipam`: who owns how much of the range, in Weave's layout. */
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
  const names = new Set([...owned.keys(), ...stats.keys()]);
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
