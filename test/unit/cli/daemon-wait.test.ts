/** How long `overlay launch` waits for its daemon: while it answers not, but is alive and using CPU. */
import { describe, expect, it } from 'vitest';
import { waitForDaemon, type StartingDaemon, type WaitClock } from '../../../src/cli/daemon-wait.js';

/** A fake clock, and a daemon whose answer, exit and CPU use are functions of the time. */
function scenario(at: { answersAt?: number; exitsAt?: number; cpu: (t: number) => number | undefined }) {
  let t = 0;
  const clock: WaitClock = { now: () => t, sleep: async (ms) => void (t += ms) };
  const d: StartingDaemon = {
    exitCode: () => (at.exitsAt !== undefined && t >= at.exitsAt ? 1 : null),
    answer: async () => (at.answersAt !== undefined && t >= at.answersAt ? { name: 'aa:bb:cc:dd:ee:ff' } : undefined),
    cpuUsed: () => at.cpu(t),
  };
  return { d, clock, elapsed: () => t };
}

const limits = { stallMs: 60_000, timeoutMs: 300_000 };

describe('waiting for a starting daemon', () => {
  it('waits past the stall limit for a daemon that keeps using CPU (a saturated machine), and returns its name', async () => {
    const s = scenario({ answersAt: 125_000, cpu: (t) => Math.floor(t / 1000) });
    expect(await waitForDaemon(s.d, s.clock, limits)).toEqual({ answered: { name: 'aa:bb:cc:dd:ee:ff' } });
    expect(s.elapsed()).toBeGreaterThanOrEqual(125_000);
  });

  it('gives up on a daemon that uses no CPU for the stall limit', async () => {
    const s = scenario({ answersAt: 200_000, cpu: (t) => (t < 10_000 ? t : 10_000) });
    expect(await waitForDaemon(s.d, s.clock, limits)).toEqual({ stalled: true });
    expect(s.elapsed()).toBeGreaterThanOrEqual(70_000);
    expect(s.elapsed()).toBeLessThan(71_000);
  });

  it('where CPU use cannot be read, waits the stall limit in all', async () => {
    const s = scenario({ cpu: () => undefined });
    expect(await waitForDaemon(s.d, s.clock, limits)).toEqual({ stalled: true });
    expect(s.elapsed()).toBeLessThan(61_000);
  });

  it('stops at the overall limit even for a daemon still busy', async () => {
    const s = scenario({ cpu: (t) => t });
    expect(await waitForDaemon(s.d, s.clock, limits)).toEqual({ timedOut: true });
    expect(s.elapsed()).toBeLessThan(301_000);
  });

  it('reports a daemon that exits at once, without waiting', async () => {
    const s = scenario({ exitsAt: 100, cpu: (t) => t });
    expect(await waitForDaemon(s.d, s.clock, limits)).toEqual({ exited: 1 });
    expect(s.elapsed()).toBeLessThan(200);
  });
});
