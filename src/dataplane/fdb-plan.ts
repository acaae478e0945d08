/**
 * What the VXLAN device's forwarding table should hold, and the `bridge`
 * commands that get it there from what it holds now. Pure, so it is unit-tested.
 *
 *  - one all-zeros entry per reachable peer: head-end replication of
 *    broadcast, multicast and unknown unicast;
 *  - one entry per MAC a reachable peer announces, pointing at that peer.
 */
import type { FdbEntry } from '../sys/fdb.js';

export const ZERO_MAC = '00:00:00:00:00:00';

export interface RemoteEndpoint {
  underlay: string;
  macs: string[];
}

export interface FdbWant {
  mac: string;
  dst: string;
}

export function desiredFdb(remotes: RemoteEndpoint[]): FdbWant[] {
  const out: FdbWant[] = [];
  const seenMac = new Set<string>();
  for (const r of [...remotes].sort((a, b) => (a.underlay < b.underlay ? -1 : 1))) {
    out.push({ mac: ZERO_MAC, dst: r.underlay });
    for (const mac of r.macs) {
      if (seenMac.has(mac)) continue; // a MAC claimed twice (a moved container): first peer by address wins until gossip settles
      seenMac.add(mac);
      out.push({ mac, dst: r.underlay });
    }
  }
  return out;
}

/** The device's own remote entries (those with a dst), ignoring what the bridge learnt. */
export function remoteEntries(entries: FdbEntry[]): FdbWant[] {
  return entries.filter((e) => e.dst !== undefined && e.master === undefined).map((e) => ({ mac: e.mac, dst: e.dst! }));
}

export function planFdb(dev: string, current: FdbWant[], want: FdbWant[]): string[] {
  const key = (e: FdbWant) => `${e.mac}|${e.dst}`;
  const have = new Set(current.map(key));
  const need = new Set(want.map(key));
  const lines: string[] = [];
  for (const e of current) if (!need.has(key(e))) lines.push(`fdb del ${e.mac} dev ${dev} dst ${e.dst}`);
  for (const e of want) {
    if (have.has(key(e))) continue;
    // All-zeros entries accumulate one per peer (append); a unicast MAC has exactly one home (replace).
    lines.push(e.mac === ZERO_MAC ? `fdb append ${e.mac} dev ${dev} dst ${e.dst}` : `fdb replace ${e.mac} dev ${dev} dst ${e.dst}`);
  }
  return lines;
}
