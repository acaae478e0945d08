import { it } from 'vitest';
import { IpamSim } from '/work/main/scripts/lab/ipam-sim.js';
import { parseNetwork } from '/work/main/src/lib/ipv4.js';
it('prof', { timeout: 600_000 }, async () => {
  const sim = new IpamSim(7, 20, { resetProbability: 0.0005, timings: { backoffBaseMs: 300, backoffMaxMs: 3_000 }, waitMs: 2_000 });
  let t = Date.now();
  await sim.start();
  console.log('start', Date.now() - t); t = Date.now();
  const ok = await sim.runUntil(() => sim.allReady() && sim.ringsAgree(), 60_000);
  console.log('ready', ok, Date.now() - t, sim.mesh.clock.now()); t = Date.now();
  for (let i = 0; i < 100; i++) await sim.run(20, 20);
  console.log('100 steps idle', Date.now() - t); t = Date.now();
  const net = parseNetwork('10.32.0.0/20');
  for (let i = 0; i < 100; i++) { sim.ipams[i % 20]!.allocate('o' + i, net).catch((e) => console.log(e.message)); await sim.run(20, 20); }
  console.log('100 steps alloc', Date.now() - t); t = Date.now();
  console.log(sim.alive().map(([i, p]) => p.state().state).join(','));
});
