/** Claims and conflicts: other peers' holdings are kept out of our free space, and an address held on both sides is a conflict. */
import { describe, expect, it } from 'vitest';
import { ForeignHoldings } from '../../../src/ipam/holdings.js';
import { parseGossip, parseMessage } from '../../../src/ipam/messages.js';
import { Ring } from '../../../src/ipam/ring.js';
import { Space } from '../../../src/ipam/space.js';
import { parseNetwork } from '../../../src/lib/ipv4.js';

const RANGE = parseNetwork('10.32.0.0/24');
const at = (n: number) => RANGE.start + n;

describe('ForeignHoldings', () => {
  it('keeps claimed addresses out of the free space until the claim is withdrawn', () => {
    const space = new Space(RANGE);
    const h = new ForeignHoldings(space);
    expect(h.update('p5', [[at(1), 'c1'], [at(2), 'c2']])).toBe(true);
    expect(h.update('p5', [[at(1), 'c1'], [at(2), 'c2']])).toBe(false); // unchanged
    expect(space.isFree(at(1))).toBe(false);
    expect(space.firstFree(at(0), at(256))).toBe(at(0));
    expect(space.firstFree(at(1), at(256))).toBe(at(3));
    expect(space.largestFreeRun(at(0), at(3))).toEqual({ start: at(0), end: at(1) });
    expect(h.holderOf(at(2))).toBe('p5');
    h.update('p5', [[at(2), 'c2']]);
    expect(space.isFree(at(1))).toBe(true);
    expect(space.isFree(at(2))).toBe(false);
  });

  it('an address we hold that another peer claims is a conflict, which we publish as contested; releasing ours ends it', () => {
    const space = new Space(RANGE);
    const h = new ForeignHoldings(space);
    space.add('mine', at(7));
    h.update('p5', [[at(7), 'theirs']]);
    expect(h.conflicts()).toEqual([{ address: at(7), owner: 'mine', otherPeer: 'p5', otherOwner: 'theirs' }]);
    expect(h.ourContested()).toEqual([[at(7), 'mine']]);
    space.removeOwner('mine');
    expect(h.conflicts()).toEqual([]);
    expect(h.ourContested()).toEqual([]);
    expect(space.isFree(at(7))).toBe(false); // still theirs
  });

  it('the claimant sees the conflict through the owner’s contested list', () => {
    const space = new Space(RANGE);
    const h = new ForeignHoldings(space);
    space.add('theirs', at(7)); // we are the removed peer, holding a claim
    h.update('p1', [], [[at(7), 'mine']]);
    expect(h.conflicts()).toEqual([{ address: at(7), owner: 'theirs', otherPeer: 'p1', otherOwner: 'mine' }]);
    expect(h.ourContested()).toEqual([]); // contested lists never feed each other
    h.update('p1', [], []);
    expect(h.conflicts()).toEqual([]);
    expect(space.isFree(at(7))).toBe(false); // ours
  });

  it('malformed claims in gossip are rejected whole', () => {
    const stats = (extra: object) => ({ stats: [['p5', { version: 1, nickname: 'h5', inUse: 1, free: 0, ...extra }]] });
    expect(parseGossip(stats({ claims: [[169869313, 'c1']] }))).toBeDefined();
    expect(parseGossip(stats({ claims: [['10.32.0.1', 'c1']] }))).toBeUndefined();
    expect(parseGossip(stats({ claims: [[1.5, 'c1']] }))).toBeUndefined();
    expect(parseGossip(stats({ contested: [[1, 'x'.repeat(300)]] }))).toBeUndefined();
    expect(parseGossip(stats({ contested: 'all' }))).toBeUndefined();
  });

  it("a hand-over carrying a malformed last record is rejected whole", () => {
    const r = new Ring(RANGE);
    r.seed(['02:00:00:00:00:05']);
    const ring = r.toWire();
    const last = { version: 9, nickname: 'h5', inUse: 0, free: 0 };
    expect(parseMessage({ t: 'handover', id: 'x', ring, stats: last })).toBeDefined();
    expect(parseMessage({ t: 'handover', id: 'x', ring, stats: { ...last, inUse: 'none' } })).toBeUndefined();
    expect(parseMessage({ t: 'handover', id: 'x', ring, stats: { ...last, claims: [[1, 2]] } })).toBeUndefined();
  });
});
