import { describe, expect, it } from 'vitest';
import { parseVersions, RecordVersions } from '../../../src/mesh/record-versions.js';

describe('record versions (anti-entropy by digest)', () => {
  it('the hash depends on the set of (key, version, tag), not on the order they were set in', () => {
    const a = new RecordVersions();
    const b = new RecordVersions();
    a.set('x', 1, 'u');
    a.set('y', 2, 'u');
    b.set('y', 2, 'u');
    b.set('x', 1, 'u');
    expect(a.hash()).toBe(b.hash());
    b.set('x', 2, 'u');
    expect(a.hash()).not.toBe(b.hash());
    b.set('x', 1, 'u'); // back to the same state: the same hash again
    expect(a.hash()).toBe(b.hash());
    b.delete('y');
    expect(a.hash()).not.toBe(b.hash());
    b.set('y', 2, 'v'); // same version, other tag
    expect(a.hash()).not.toBe(b.hash());
  });

  it('compare names what the other side lacks and whether it has something we lack', () => {
    const ours = new RecordVersions();
    ours.set('a', 5, 'u');
    ours.set('b', 3, 'u');
    ours.set('c', 1, 'u');
    expect(ours.compare(ours.versions())).toEqual({ theyLack: [], weLack: false });
    const r = ours.compare([
      ['a', 4, 'u'], // older: they lack our a
      ['b', 3, 'u'], // equal
      ['d', 1, 'u'], // unknown to us
    ]);
    expect(r.theyLack.sort()).toEqual(['a', 'c']);
    expect(r.weLack).toBe(true);
    // A version tie is broken by the tag, the same way on both sides.
    expect(ours.compare([['a', 5, 't'], ['b', 3, 'u'], ['c', 1, 'u']])).toEqual({ theyLack: ['a'], weLack: false });
    expect(ours.compare([['a', 5, 'w'], ['b', 3, 'u'], ['c', 1, 'u']])).toEqual({ theyLack: [], weLack: true });
  });

  it('parseVersions refuses malformed lists', () => {
    expect(parseVersions([['a', 1, 'u']])).toEqual([['a', 1, 'u']]);
    for (const bad of [undefined, {}, [['a', 1]], [['a', '1', 'u']], [[1, 1, 'u']], [['a', Infinity, 'u']], [['x'.repeat(65), 1, 'u']]]) {
      expect(parseVersions(bad)).toBeUndefined();
    }
  });
});
