/**
 * The simulated scale benchmark's wall-clock budget: a case that cannot finish
 * in time is stopped and reported unfinished (the run goes on), one that can
 * is reported in full, and a budget that is not a number is refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { benchMeshScaleSim } from '../../../scripts/bench/mesh-scale-sim.js';

const quiet = () => undefined;

describe('bench scale (simulated): wall-clock budget per case', () => {
  const before = process.env['SCALE_SIM_BUDGET_S'];
  afterEach(() => {
    if (before === undefined) delete process.env['SCALE_SIM_BUDGET_S'];
    else process.env['SCALE_SIM_BUDGET_S'] = before;
  });

  it('stops a case past its budget, reports how far it got, and runs the next case', async () => {
    process.env['SCALE_SIM_BUDGET_S'] = '1';
    const t0 = performance.now();
    const rows = await benchMeshScaleSim([{ peers: 300, connLimit: 10 }, { peers: 8, connLimit: 8, partition: false }], quiet);
    expect(rows[0]).toMatchObject({ peers: 300, finished: 0, budgetS: 1 });
    expect(rows[0]!['stoppedAtSimMs']).toBeGreaterThan(0);
    expect(rows[0]!['messages']).toBeGreaterThan(0);
    expect(rows[0]!['formConvergedSimMs']).toBeUndefined();
    // 8 peers in a full mesh do not need the 1 s: the second case is measured in full.
    expect(rows[1]).toMatchObject({ peers: 8, finished: 1 });
    expect(rows[1]!['formConvergedSimMs']).toBeGreaterThanOrEqual(0);
    expect(rows[1]!['deathConvergedSimMs']).toBeGreaterThanOrEqual(0);
    // Forming sends each peer at least the others' final records, in envelopes: a ratio under 1 means the bytes were not counted.
    expect(rows[1]!['formBytesVsUniqueRecords']).toBeGreaterThanOrEqual(1);
    expect(performance.now() - t0).toBeLessThan(30_000);
  }, 60_000);

  it('refuses a budget that is not a positive number of seconds', async () => {
    process.env['SCALE_SIM_BUDGET_S'] = 'soon';
    await expect(benchMeshScaleSim([{ peers: 8, connLimit: 8 }], quiet)).rejects.toThrow(/SCALE_SIM_BUDGET_S must be a positive number/);
  });
});
