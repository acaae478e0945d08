/**
 * The short chaos soak (the long one is `npm run soak`): five namespaced hosts,
 * CNI ADD/DEL churn on three subnets, random faults under a printed seed, and
 * every invariant checked. SEED=<n> replays one; SEED=random explores.
 */
import { describe, expect, it } from 'vitest';
import { runSoak } from '../../scripts/soak/soak.js';

const seed = process.env['SEED'] === 'random' ? Math.floor(Math.random() * 1e6) : Number(process.env['SEED'] ?? 1);

describe('chaos soak (short)', () => {
  it(`keeps every promise under faults (seed ${seed})`, { timeout: 600_000 }, async () => {
    const s = await runSoak({ seed, durationMs: Number(process.env['SOAK_SECONDS'] ?? 75) * 1000, faultRate: 0.12, log: (l) => console.log(l) });
    console.log(JSON.stringify({ ...s, faultLog: undefined }, null, 2));
    expect(s.ops.add).toBeGreaterThan(20);
    expect(Object.keys(s.faults).length).toBeGreaterThan(2);
    expect(s.violations, `seed ${seed}`).toEqual([]);
  });
});
