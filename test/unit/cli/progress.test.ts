/** The progress lines `attach` and `expose` print while IPAM holds their request. */
import { describe, expect, it } from 'vitest';
import { describeWait, withProgress } from '../../../src/cli/progress.js';

describe('describeWait', () => {
  it.each([
    [{ state: { state: 'awaiting-consensus', quorum: 2, known: 1 } }, 'waiting for IPAM consensus: 1 of 2 peers'],
    [{ state: { state: 'ready' }, askingSpaceFrom: '0a:00:00:00:00:03(h3)' }, 'waiting for space from 0a:00:00:00:00:03(h3)'],
    [{ state: { state: 'observer-waiting' } }, 'waiting for space from another peer (this one is an observer)'],
    [{ state: { state: 'split-ring' }, status: 'split ring: two rings' }, 'waiting: IPAM is stuck: split ring: two rings'],
    [{ state: { state: 'ready' } }, undefined],
  ])('%j', (status, line) => {
    expect(describeWait(status)).toBe(line);
  });
});

describe('withProgress', () => {
  it('reports each new wait while the call runs, once per change, and nothing after it settles', async () => {
    const states = [
      { state: { state: 'awaiting-consensus', quorum: 2, known: 1 } },
      { state: { state: 'awaiting-consensus', quorum: 2, known: 1 } },
      { state: { state: 'ready' }, askingSpaceFrom: 'h3' },
    ];
    let polls = 0;
    const lines: string[] = [];
    let finish!: (v: string) => void;
    const call = new Promise<string>((r) => (finish = r));
    const result = withProgress(call, async () => states[Math.min(polls++, states.length - 1)]!, (l) => lines.push(l), 0, 5);
    while (polls < 4) await new Promise((r) => setTimeout(r, 5));
    finish('10.32.0.1/12');
    expect(await result).toBe('10.32.0.1/12');
    const seen = [...lines];
    await new Promise((r) => setTimeout(r, 30));
    expect(lines).toEqual(seen);
    expect(lines).toEqual(['waiting for IPAM consensus: 1 of 2 peers', 'waiting for space from h3']);
  });

  it('says nothing for a call that answers before the grace period', async () => {
    const lines: string[] = [];
    expect(await withProgress(Promise.resolve(1), async () => ({ state: { state: 'awaiting-consensus', quorum: 2, known: 1 } }), (l) => lines.push(l), 50)).toBe(1);
    await new Promise((r) => setTimeout(r, 80));
    expect(lines).toEqual([]);
  });
});
