/**
 * Gossip cost in simulation: N real Routers on a simulated network (sparse
 * random graph, 3 targets each, no discovery). We measure how long and how
 * many messages/bytes per peer it takes to converge after one peer joins and
 * after one dies, against the cost of one full-state exchange per peer (the
 * baseline a naive broadcast would pay).
 */
import { MeshSim } from '../lab/mesh-sim.js';

export async function benchMeshSim(sizes = [100, 300, 1000]): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const n of sizes) {
    const sim = new MeshSim(42 + n, { targetsPerPeer: 3, discovery: false, timings: { gossipIntervalMs: 600_000 } });
    const wall = performance.now();
    for (let i = 0; i < n; i++) await sim.addPeer(i);
    const formMs = await sim.runUntilConverged(600_000, 100);
    const before = sim.totals();
    const joinMs = await (async () => {
      await sim.addPeer(n);
      return sim.runUntilConverged(120_000, 10);
    })();
    const afterJoin = sim.totals();
    await sim.kill(Math.floor(n / 2));
    const deathMs = await sim.runUntilConverged(120_000, 10);
    const afterDeath = sim.totals();
    const peers = sim.alive().length;
    const fullStateBytes = Buffer.byteLength(JSON.stringify(sim.alive()[0]!.topology()));
    rows.push({
      peers: n,
      initialConvergenceSimMs: formMs,
      joinConvergenceSimMs: joinMs,
      joinMessagesPerPeer: +((afterJoin.messages - before.messages) / peers).toFixed(2),
      joinBytesPerPeer: Math.round((afterJoin.bytes - before.bytes) / peers),
      deathConvergenceSimMs: deathMs,
      deathMessagesPerPeer: +((afterDeath.messages - afterJoin.messages) / peers).toFixed(2),
      deathBytesPerPeer: Math.round((afterDeath.bytes - afterJoin.bytes) / peers),
      fullStateBytes,
      joinBytesVsFullState: +((afterJoin.bytes - before.bytes) / peers / fullStateBytes).toFixed(3),
      wallSeconds: +((performance.now() - wall) / 1000).toFixed(1),
    });
    console.log(JSON.stringify(rows[rows.length - 1])); // progress: large N takes minutes
    await sim.stopAll();
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv.slice(2).map(Number).filter(Boolean);
  benchMeshSim(sizes.length ? sizes : undefined).then((r) => console.table(r));
}
