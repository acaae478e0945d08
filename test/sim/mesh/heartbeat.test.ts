/**
 * Heartbeats at rest, on a simulated network and clock: one router timer
 * drives every connection, a settled mesh carries at most one heartbeat per
 * connection and direction per interval (10 s), and a peer cut off without a reset
 * (it hangs, or its link drops everything) is still removed within about one
 * heartbeat timeout. The seed is printed; SEED=<n> replays a failure.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMINGS } from '../../../src/mesh/router.js';
import { MeshSim } from '../../../scripts/lab/mesh-sim.js';

const SEED = Number(process.env['SEED'] ?? Date.now() % 100000);
const N = 6;
/** A heartbeat on the wire: the 4-byte length and the body {"t":"hb"}. */
const HEARTBEAT_FRAME = 4 + '{"t":"hb"}'.length;

describe(`heartbeats (seed ${SEED})`, () => {
  it('at rest, each connection carries at most one heartbeat per interval each way', async () => {
    console.log(`heartbeat simulation seed: ${SEED} (replay with SEED=${SEED})`);
    const sim = new MeshSim(SEED, { targetsPerPeer: 1, discovery: true });
    for (let i = 0; i < N; i++) await sim.addPeer(i, i === 0 ? [] : [sim.host(i - 1)]);
    expect(await sim.runUntilConverged(60_000), `seed ${SEED}`).toBeGreaterThanOrEqual(0);
    await sim.run(10_000);
    const connections = sim.alive().reduce((n, r) => n + r.connections().filter((c) => c.state === 'established').length, 0);
    expect(connections).toBe(N * (N - 1));
    const windowMs = 60_000;
    const bytes0 = sim.net.bytes;
    const gossip0 = sim.totals().bytes;
    await sim.run(windowMs);
    // Everything on the wire that was not gossip (gossip is counted without its 4-byte frame header).
    const gossipBytes = sim.totals().bytes - gossip0;
    const other = sim.net.bytes - bytes0 - gossipBytes;
    const perInterval = connections * HEARTBEAT_FRAME; // each router's view of each connection: one direction
    expect(other, `seed ${SEED}`).toBeLessThanOrEqual(perInterval * (windowMs / DEFAULT_TIMINGS.heartbeatMs + 1) + 4 * sim.totals().messages);
    expect(other, `seed ${SEED}: the connections are kept alive`).toBeGreaterThan(0);
    await sim.stopAll();
  });

  it('a peer whose link drops everything is removed within about one heartbeat timeout', async () => {
    const sim = new MeshSim(SEED + 1, { targetsPerPeer: 1, discovery: true });
    for (let i = 0; i < N; i++) await sim.addPeer(i, i === 0 ? [] : [sim.host(i - 1)]);
    expect(await sim.runUntilConverged(60_000), `seed ${SEED}`).toBeGreaterThanOrEqual(0);
    await sim.run(10_000);
    const hung = sim.routers[N - 1]!.name;
    const rest = Array.from({ length: N - 1 }, (_, i) => sim.host(i));
    sim.net.partition(rest, [sim.host(N - 1)]);
    const t0 = sim.clock.now();
    const gone = () => sim.routers.slice(0, N - 1).every((r) => !r!.peers().some((p) => p.name === hung));
    while (!gone() && sim.clock.now() - t0 < 120_000) await sim.run(250, 250);
    const took = sim.clock.now() - t0;
    expect(gone(), `seed ${SEED}`).toBe(true);
    // Not before the timeout (the link only went silent), and within one timeout check (half an interval) and the unreachable grace after it.
    expect(took).toBeGreaterThanOrEqual(DEFAULT_TIMINGS.heartbeatTimeoutMs);
    expect(took, `seed ${SEED}`).toBeLessThanOrEqual(DEFAULT_TIMINGS.heartbeatTimeoutMs + DEFAULT_TIMINGS.heartbeatMs / 2 + DEFAULT_TIMINGS.unreachableGraceMs + 1_000);
    await sim.stopAll();
  });
});
