import { describe, expect, it } from 'vitest';
import type { PeerName } from '../../../src/lib/peer-name.js';
import { seededRandom } from '../../../src/lib/random.js';
import { ProbeSchedule, type ProbeTimings } from '../../../src/dataplane/probe-schedule.js';

const T: ProbeTimings = { refreshMs: 60_000, retryMs: 2_000, settleMs: 1_000, coalesceMs: 5_000 };
const peer = (i: number) => `00:00:00:00:00:0${i}` as PeerName;
const paths = (entries: [number, string][]) => new Map(entries.map(([i, k]) => [peer(i), k] as const));

/** Drive a schedule on a simulated clock: every round passes unless `fails` says otherwise; returns the rounds (time, peers). */
function run(s: ProbeSchedule, untilMs: number, fails: (p: PeerName, at: number) => boolean = () => false, from = 0): [number, PeerName[]][] {
  const rounds: [number, PeerName[]][] = [];
  let now = from;
  for (;;) {
    const at = s.next();
    if (at === undefined || at > untilMs) return rounds;
    now = Math.max(now, at);
    const taken = s.take(now);
    rounds.push([now, taken]);
    s.done(now, new Map(taken.map((p) => [p, !fails(p, now)])));
  }
}

describe('probe schedule', () => {
  it('new paths are probed after the settle window, in one round, then refreshed every 48-72 s', () => {
    const s = new ProbeSchedule(T, seededRandom(7));
    s.update(0, paths([[1, 'a'], [2, 'b'], [3, 'c']]));
    const rounds = run(s, 600_000);
    expect(rounds[0]).toEqual([1_000, [peer(1), peer(2), peer(3)]]);
    // At rest: every round has every peer (one wake-up for all), 48-72 s apart.
    for (const [, peers] of rounds) expect(peers).toHaveLength(3);
    const gaps = rounds.slice(1).map(([t], i) => t - rounds[i]![0]);
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(48_000);
      expect(g).toBeLessThanOrEqual(72_000);
    }
    expect(rounds.length).toBeGreaterThanOrEqual(Math.floor(600_000 / 72_000));
    expect(rounds.length).toBeLessThanOrEqual(Math.ceil(600_000 / 48_000));
  });

  it('an unchanged path key schedules nothing; a changed or new one is probed alone after the settle window', () => {
    const s = new ProbeSchedule(T, seededRandom(1));
    s.update(0, paths([[1, 'a'], [2, 'b']]));
    run(s, 1_000);
    const refresh = s.next()!;
    expect(refresh).toBeGreaterThanOrEqual(49_000);
    expect(s.update(10_000, paths([[1, 'a'], [2, 'b']]))).toEqual([]);
    expect(s.next()).toBe(refresh);
    s.update(10_000, paths([[1, 'a'], [2, 'b2'], [3, 'c']]));
    expect(s.next()).toBe(11_000);
    expect(s.take(11_000)).toEqual([peer(2), peer(3)]);
  });

  it('a burst of changes within the settle window costs one probe', () => {
    const s = new ProbeSchedule(T, seededRandom(2));
    s.update(0, paths([[1, 'a']]));
    s.update(300, paths([[1, 'a2']]));
    s.update(600, paths([[1, 'a3']]));
    expect(s.next()).toBe(1_000);
    expect(s.take(1_000)).toEqual([peer(1)]);
    expect(s.next()).toBeUndefined(); // in flight until its verdict
  });

  it('a path that dies is found at its next refresh (within 72 s), retried every 2 s, and refreshed again once healed; the others keep their refresh', () => {
    const s = new ProbeSchedule(T, seededRandom(3));
    s.update(0, paths([[1, 'a'], [2, 'b']]));
    // Peer 2's path is down from 100 s to 200 s; nothing else changes.
    const down = (p: PeerName, at: number) => p === peer(2) && at >= 100_000 && at < 200_000;
    const rounds = run(s, 400_000, down);
    const p2 = rounds.filter(([, ps]) => ps.includes(peer(2))).map(([t]) => t);
    const found = p2.find((t) => t >= 100_000)!;
    expect(found).toBeLessThanOrEqual(100_000 + 72_000);
    const retries = p2.filter((t) => t > found && t <= 202_000);
    expect(retries.length).toBeGreaterThan(0);
    for (const [i, t] of retries.entries()) expect(t - (i ? retries[i - 1]! : found)).toBe(2_000);
    expect(retries[retries.length - 1]).toBeGreaterThanOrEqual(200_000); // the first retry after it healed
    const after = p2.filter((t) => t > retries[retries.length - 1]!);
    expect(after[0]! - retries[retries.length - 1]!).toBeGreaterThanOrEqual(48_000);
    // Peer 1 was never probed more often than its refresh allows (less the coalescing window).
    const p1 = rounds.filter(([, ps]) => ps.includes(peer(1))).map(([t]) => t);
    for (let i = 1; i < p1.length; i++) expect(p1[i]! - p1[i - 1]!).toBeGreaterThanOrEqual(48_000 - T.coalesceMs);
  });

  it('a path found dead is retried at 2 s and reported recovered at the first retry after it heals', () => {
    const s = new ProbeSchedule(T, seededRandom(4));
    s.update(0, paths([[1, 'a']]));
    s.take(1_000);
    s.done(1_000, new Map([[peer(1), false]]));
    expect(s.next()).toBe(3_000);
    s.take(3_000);
    s.done(3_000, new Map([[peer(1), true]]));
    expect(s.next()).toBeGreaterThanOrEqual(3_000 + 48_000);
  });

  it('peers due within the coalescing window go in the same round', () => {
    const s = new ProbeSchedule(T, seededRandom(5));
    s.update(0, paths([[1, 'a']]));
    s.update(3_000, paths([[1, 'a'], [2, 'b']]));
    expect(s.take(1_000)).toEqual([peer(1), peer(2)]); // 2 was due at 4 s: 3 s early is within 5 s
  });

  it('a peer gone is dropped (also while being probed); a path changed while in flight keeps its settle probe', () => {
    const s = new ProbeSchedule(T, seededRandom(6));
    s.update(0, paths([[1, 'a'], [2, 'b']]));
    expect(s.take(1_000)).toEqual([peer(1), peer(2)]);
    expect(s.update(1_200, paths([[1, 'a2']]))).toEqual([peer(2)]);
    expect(s.tracks(peer(2))).toBe(false);
    s.done(1_500, new Map([[peer(1), true], [peer(2), true]]));
    expect(s.next()).toBe(2_200); // peer 1's changed path, not its refresh
    expect(s.take(2_200)).toEqual([peer(1)]);
    expect(s.next()).toBeUndefined();
  });

  it('all() brings every path forward to the settle window, and never pushes one back', () => {
    const s = new ProbeSchedule(T, seededRandom(8));
    s.update(0, paths([[1, 'a'], [2, 'b']]));
    run(s, 1_000);
    s.all(20_000);
    expect(s.take(21_000)).toEqual([peer(1), peer(2)]);
    s.update(30_000, paths([[1, 'a'], [2, 'b'], [3, 'c']]));
    s.all(30_500);
    expect(s.next()).toBe(31_000);
  });
});
