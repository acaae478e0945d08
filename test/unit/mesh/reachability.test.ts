/**
 * Reachability kept incrementally (a spanning tree repaired per record
 * change) must always agree with a fresh walk of the whole topology: random
 * meshes, random edits (edges added and dropped at one end, records replaced
 * by a new incarnation, unreachable records removed), checked after each.
 */
import { describe, expect, it } from 'vitest';
import type { PeerName } from '../../../src/lib/peer-name.js';
import { seededRandom } from '../../../src/lib/random.js';
import { Topology, type PeerRecord } from '../../../src/mesh/topology.js';

const name = (i: number): PeerName => `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

function record(i: number, version: number, peers: Set<number>, uid = 'u'): PeerRecord {
  return { name: name(i), nickname: `h${i}`, uid, version, conns: [...peers].sort((a, b) => a - b).map((p) => ({ peer: name(p), address: `198.51.100.${p}:6783`, outbound: true })) };
}

/** Who a fresh walk reaches: the shortest-path routes, plus ourselves. */
function walked(t: Topology, self: PeerName): Set<PeerName> {
  return new Set([self, ...t.routes().keys()]);
}

describe('incremental reachability', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`matches a full walk after every change (seed ${seed})`, () => {
      const random = seededRandom(seed);
      const n = 40;
      const edges: Set<number>[] = Array.from({ length: n }, () => new Set());
      const versions = new Array<number>(n).fill(1);
      const uids = new Array<string>(n).fill('u');
      const t = new Topology(record(0, 1, edges[0]!));
      const held = new Set<number>([0]);
      const publish = (i: number) => {
        versions[i]!++;
        if (i === 0) t.setOwnConnections(record(0, 0, edges[0]!).conns);
        else t.merge([record(i, versions[i]!, edges[i]!, uids[i])]);
        held.add(i);
      };
      for (let step = 0; step < 1500; step++) {
        const i = Math.floor(random() * n);
        const j = Math.floor(random() * n);
        const roll = random();
        if (i === j) continue;
        if (roll < 0.55) {
          // A connection comes up: each end reports it in its own time (maybe only one does).
          edges[i]!.add(j);
          publish(i);
          if (random() < 0.8) {
            edges[j]!.add(i);
            publish(j);
          }
        } else if (roll < 0.9) {
          // A connection goes, reported by one end first.
          edges[i]!.delete(j);
          publish(i);
        } else if (roll < 0.95 && i !== 0) {
          // A restart: a new incarnation with no connections yet.
          uids[i] = `u${step}`;
          edges[i]!.clear();
          publish(i);
        } else {
          for (const gone of t.removeUnreachable()) held.delete(Number.parseInt(gone.slice(-5).replace(':', ''), 16));
        }
        const want = walked(t, name(0));
        for (const k of held) {
          const nm = name(k);
          if (!t.get(nm)) continue;
          expect(t.reaches(nm), `step ${step}: peer ${k}`).toBe(want.has(nm));
          expect(t.unreachable().has(nm), `step ${step}: peer ${k} listed unreachable`).toBe(!want.has(nm));
        }
      }
    });
  }

  it('tells of membership and reachability changes once, and not of a change that alters neither', () => {
    const t = new Topology(record(0, 1, new Set([1])));
    expect(t.takeMembershipChange()).toBe(true);
    t.merge([record(1, 1, new Set([0]))]); // 1 appears, reachable
    expect(t.takeMembershipChange()).toBe(true);
    expect(t.takeMembershipChange()).toBe(false);
    t.merge([record(2, 1, new Set([1]))]); // 2 appears (unreachable: 1 does not list it)
    expect(t.takeMembershipChange()).toBe(true);
    t.merge([record(1, 2, new Set([0, 2]))]); // now it is reachable
    expect(t.reaches(name(2))).toBe(true);
    expect(t.takeMembershipChange()).toBe(true);
    t.merge([record(2, 2, new Set([1, 3]))]); // an edge to a peer we hold no record of: nothing changes for us
    expect(t.takeMembershipChange()).toBe(false);
    t.merge([record(1, 3, new Set([0]))]); // 1 drops 2: unreachable again
    expect(t.reaches(name(2))).toBe(false);
    expect(t.takeMembershipChange()).toBe(true);
  });
});
