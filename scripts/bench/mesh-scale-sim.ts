/**
 * The simulated half of `npm run bench scale`: N real Routers in one process
 * on a simulated network and clock. Each peer names 3 earlier peers, discovery
 * is on, and the control mesh is capped by a conn-limit (10 by default: a full
 * mesh of 5,000 does not fit in memory), or is a full mesh (limit ≥ N).
 * Measured per N: convergence (sim time) after the initial joins, one join,
 * one death and one partition heal; gossip bytes per peer per change and per
 * minute at rest; the largest gossip message; what forming sent against each
 * peer getting each final record once; the simulator's own wall time and CPU.
 * Converged means every peer holds the same records, of exactly the live
 * peers, and nothing changed for 3 s of sim time after (runUntilSettled).
 * Baseline, from the same mesh: what main's anti-entropy sent at rest (the
 * full topology, v1 JSON, to 2·log2(N) neighbours every 30 s), and the v1
 * encoding's bytes per edge against the compact one's.
 */
import { MeshSim, SimBudgetExceeded } from '../lab/mesh-sim.js';
import { encodeTopology } from '../../src/mesh/topology-wire.js';
import type { PeerRecord } from '../../src/mesh/topology.js';

/** Weave's published figures (weaveworks/mesh #108, #116): a topology message at 300 nodes. */
export const WEAVE_FIGURES = [{ peers: 300, topologyMessageBytes: 8_000_000 }];

export interface ScaleSimCase {
  peers: number;
  connLimit: number;
  /** Skip the partition/heal step (it dominates the wall time of the largest runs). */
  partition?: boolean;
}

export const DEFAULT_SCALE_SIM_CASES: ScaleSimCase[] = [
  { peers: 100, connLimit: 100 },
  { peers: 300, connLimit: 300 },
  { peers: 100, connLimit: 10 },
  { peers: 1000, connLimit: 10 },
  { peers: 5000, connLimit: 10, partition: false },
];

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
const cpuSeconds = (u: NodeJS.CpuUsage) => round((u.user + u.system) / 1e6, 1);

/** SCALE_SIM_CASES="100:100,1000:10,5000:10:nopart" picks the cases (peers:conn-limit[:nopart]). */
function casesFrom(spec: string | undefined): ScaleSimCase[] | undefined {
  if (!spec) return undefined;
  return spec.split(/[ ,]+/).filter(Boolean).map((a) => {
    const [p, l, part] = a.split(':');
    const c = { peers: Number(p), connLimit: Number(l ?? 10), partition: part !== 'nopart' };
    if (!Number.isInteger(c.peers) || c.peers < 2 || !Number.isInteger(c.connLimit) || c.connLimit < 1) throw new Error(`bad scale case "${a}": expected peers:conn-limit[:nopart]`);
    return c;
  });
}

/**
 * Wall-clock seconds one case may take (SCALE_SIM_BUDGET_S, default 900: three times the
 * 5-minute target). A case past it stops and is reported unfinished, with how far it got,
 * so that a size the simulator cannot do yet costs the run 15 minutes, not hours.
 */
const budgetS = (): number => {
  const b = Number(process.env['SCALE_SIM_BUDGET_S'] ?? 900);
  if (!(b > 0)) throw new Error(`SCALE_SIM_BUDGET_S must be a positive number of seconds, got "${process.env['SCALE_SIM_BUDGET_S']}"`);
  return b;
};

export async function benchMeshScaleSim(cases = casesFrom(process.env['SCALE_SIM_CASES']) ?? DEFAULT_SCALE_SIM_CASES, log = console.log): Promise<Record<string, number>[]> {
  const rows: Record<string, number>[] = [];
  const budget = budgetS();
  for (const c of cases) {
    const wall = performance.now();
    const cpu0 = process.cpuUsage();
    const sim = new MeshSim(4242 + c.peers, { targetsPerPeer: 3, discovery: true, connLimit: c.connLimit });
    sim.wallDeadline = wall + budget * 1000;
    const phase = { name: 'forming' };
    try {
      rows.push(await measureCase(sim, c, wall, cpu0, phase));
    } catch (e) {
      if (!(e instanceof SimBudgetExceeded)) throw e;
      const t = sim.totals();
      const row = { peers: c.peers, connLimit: c.connLimit, finished: 0, budgetS: budget, stoppedAtSimMs: e.simMs, messages: t.messages, bytes: t.bytes, largestMessageBytes: sim.largestMessage(), wallS: round((performance.now() - wall) / 1000, 1), cpuS: cpuSeconds(process.cpuUsage(cpu0)) };
      log(`${c.peers} peers at conn-limit ${c.connLimit}: not finished within the ${budget} s budget (${phase.name}, ${e.simMs} ms of simulated time)`);
      rows.push(row);
    }
    log(JSON.stringify(rows[rows.length - 1])); // progress: the large runs take minutes
    await sim.stopAll();
  }
  return rows;
}

/** One case's figures; `phase` says which step it is in, for a case stopped by the budget. */
async function measureCase(sim: MeshSim, c: ScaleSimCase, wall: number, cpu0: NodeJS.CpuUsage, phase: { name: string }): Promise<Record<string, number>> {
  const n = c.peers;
  for (let i = 0; i < n; i++) await sim.addPeer(i);
  const formMs = await sim.runUntilSettled(600_000, 100);
  const formWall = (performance.now() - wall) / 1000;
  const formCpu = cpuSeconds(process.cpuUsage(cpu0));
  const formBytes = sim.totals().bytes;
  // At rest: a settled mesh, one minute of simulated time.
  phase.name = 'at rest';
  await sim.run(10_000, 100);
  const rest0 = sim.totals();
  await sim.run(60_000, 100);
  const rest1 = sim.totals();
  let peers = sim.alive().length;
  const restBytesPerPeerPerMin = (rest1.bytes - rest0.bytes) / peers;
  const a = sim.alive()[0]!;
  const records: PeerRecord[] = a.topology().map((r) => ({ name: r.name, nickname: r.nickname, uid: r.uid, version: r.version, conns: r.connections }));
  const edges = records.reduce((e, r) => e + r.conns.length, 0);
  const v1Bytes = Buffer.byteLength(JSON.stringify(records));
  const compactBytes = encodeTopology(records).length;
  const v1RestBytesPerPeerPerMin = v1Bytes * a.fanOutSize() * 2;
  // What forming cost against the least it could: each peer receiving each final record once.
  // It is about (versions per record) × (copies of each version a peer gets), the two factors
  // that decide how the simulator's wall time grows with N.
  const formBytesVsUniqueRecords = round(formBytes / (n * compactBytes), 1);
  // One join.
  phase.name = 'a join';
  await sim.addPeer(n);
  const joinMs = await sim.runUntilSettled(120_000, 10);
  const join1 = sim.totals();
  peers = sim.alive().length;
  const joinBytesPerPeer = (join1.bytes - rest1.bytes) / peers;
  // One death: removed everywhere after the heartbeat timeout.
  phase.name = 'a death';
  await sim.kill(Math.floor(n / 2));
  const deathMs = await sim.runUntilSettled(120_000, 50);
  const death1 = sim.totals();
  peers = sim.alive().length;
  const deathBytesPerPeer = (death1.bytes - join1.bytes) / peers;
  // A partition into halves, then a heal.
  let healMs = -1;
  let healBytesPerPeer = -1;
  if (c.partition !== false) {
    phase.name = 'a partition and heal';
    const hosts = sim.routers.map((r, i) => (r ? sim.host(i) : undefined)).filter((h): h is string => h !== undefined);
    sim.net.partition(hosts.slice(0, hosts.length / 2), hosts.slice(hosts.length / 2));
    await sim.run(60_000, 100);
    const cut = sim.totals();
    sim.net.healAll();
    healMs = await sim.runUntilSettled(300_000, 100);
    healBytesPerPeer = (sim.totals().bytes - cut.bytes) / sim.alive().length;
  }
  return {
    peers: n,
    connLimit: c.connLimit,
    finished: 1,
    formConvergedSimMs: formMs,
    formWallS: round(formWall, 1),
    formCpuS: formCpu,
    formBytesPerPeer: Math.round(formBytes / n),
    formBytesVsUniqueRecords,
    restBytesPerPeerPerMin: Math.round(restBytesPerPeerPerMin),
    v1BaselineRestBytesPerPeerPerMin: Math.round(v1RestBytesPerPeerPerMin),
    restVsBaseline: +(restBytesPerPeerPerMin / v1RestBytesPerPeerPerMin).toFixed(4),
    edges,
    fullTopologyCompactBytes: compactBytes,
    fullTopologyV1Bytes: v1Bytes,
    compactBytesPerEdge: round(compactBytes / Math.max(1, edges), 2),
    v1BytesPerEdge: round(v1Bytes / Math.max(1, edges), 2),
    joinConvergedSimMs: joinMs,
    joinBytesPerPeer: Math.round(joinBytesPerPeer),
    deathConvergedSimMs: deathMs,
    deathBytesPerPeer: Math.round(deathBytesPerPeer),
    healConvergedSimMs: healMs,
    healBytesPerPeer: Math.round(healBytesPerPeer),
    largestMessageBytes: sim.largestMessage(),
    wallS: round((performance.now() - wall) / 1000, 1),
    // The machine is shared: CPU seconds say more than wall time about the simulator's own cost.
    cpuS: cpuSeconds(process.cpuUsage(cpu0)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // node dist/scripts/bench/mesh-scale-sim.js 100:10 1000:10 ...
  benchMeshScaleSim(casesFrom(process.argv.slice(2).join(','))).then((r) => console.table(r));
}
