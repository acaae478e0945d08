/**
 * The mesh at scale, in simulation (real Routers, simulated network and
 * clock): 1,000 peers with a conn-limit of 10; 300 peers with IPAM through a
 * partition and a heal; a peer that stops reading. The seed is printed;
 * SEED=<n> replays a failure. Speed targets live in `npm run bench scale`.
 */
import { describe, expect, it } from 'vitest';
import type { PeerName } from '../../../src/lib/peer-name.js';
import type { ChannelDigest, GossipChannel, GossipSender } from '../../../src/mesh/gossip-channel.js';
import { recordDigest, RecordVersions } from '../../../src/mesh/record-versions.js';
import { MeshSim } from '../../../scripts/lab/mesh-sim.js';
import { IpamSim } from '../../../scripts/lab/ipam-sim.js';

const SEED = Number(process.env['SEED'] ?? Date.now() % 100000);

/**
 * A gossip channel whose state is a set of entries (keyed by their prefix):
 * deltas are the new entries; anti-entropy by digest (record-versions.ts), as
 * the mesh's own channels do, so a catch-up sends only what is missing.
 */
class LogChannel implements GossipChannel {
  readonly name = 'log';
  readonly entries: string[] = [];
  private readonly seen = new Set<string>();
  private readonly versions = new RecordVersions();
  private readonly byKey = new Map<string, string>();
  readonly digest: ChannelDigest = recordDigest(this.versions, (keys) => keys.map((k) => this.byKey.get(k)!), 'log');
  private fresh: string[] = [];
  private readonly sender: GossipSender;

  constructor(router: { registerChannel(ch: GossipChannel): GossipSender }) {
    this.sender = router.registerChannel(this);
  }

  add(e: string): void {
    this.take([e]);
    this.fresh.push(e);
    this.sender.gossip();
  }

  private take(es: string[]): string[] {
    const news = es.filter((e) => !this.seen.has(e));
    for (const e of news) {
      this.seen.add(e);
      this.entries.push(e);
      const key = e.slice(0, e.indexOf(':'));
      this.byKey.set(key, e);
      this.versions.set(key, 1, '');
    }
    return news;
  }

  encodeFull(): string[] {
    return this.entries;
  }

  encodeDelta(): string[] | undefined {
    const d = this.fresh;
    this.fresh = [];
    return d.length ? d : undefined;
  }

  merge(_from: PeerName, payload: unknown): string[] | undefined {
    const news = this.take(payload as string[]);
    return news.length ? news : undefined;
  }
}

function established(sim: MeshSim): number[] {
  return sim.alive().map((r) => r.connections().filter((c) => c.state === 'established').length);
}

describe(`mesh at scale (seed ${SEED}, replay with SEED=${SEED})`, () => {
  it('1,000 peers with conn-limit 10 converge, stay connected within the limit, and remove a dead peer', { timeout: 900_000 }, async () => {
    const N = 1000;
    const LIMIT = 10;
    const sim = new MeshSim(SEED, { targetsPerPeer: 3, discovery: true, connLimit: LIMIT });
    for (let i = 0; i < N; i++) await sim.addPeer(i);
    expect(await sim.runUntilConverged(300_000, 100), `seed ${SEED}`).toBeGreaterThanOrEqual(0);
    await sim.run(30_000, 100); // settle: discovery has nothing left to do
    expect(sim.converged(), `seed ${SEED}: still one topology after settling`).toBe(true);
    const conns = established(sim);
    // Discovery stops at the limit; only the 3 peers a host was told to
    // connect to, or a peer reachable no other way, may take it over.
    expect(Math.max(...conns), `seed ${SEED}`).toBeLessThanOrEqual(LIMIT + 3);
    expect(conns.filter((c) => c > LIMIT).length, `seed ${SEED}: peers over the limit`).toBeLessThan(N / 20);
    expect(Math.min(...conns), `seed ${SEED}`).toBeGreaterThanOrEqual(1);
    // Every peer reaches every other (routed gossip beyond the direct connections).
    for (const r of [sim.routers[0]!, sim.routers[N - 1]!, sim.routers[N / 2]!]) {
      expect(r.peers().filter((p) => p.reachable).length).toBe(N);
    }
    const victim = 500;
    const name = sim.routers[victim]!.name;
    const t0 = sim.clock.now();
    await sim.kill(victim);
    expect(await sim.runUntilConverged(120_000, 100), `seed ${SEED}`).toBeGreaterThanOrEqual(0);
    for (const r of sim.alive()) expect(r.peers().some((p) => p.name === name)).toBe(false);
    console.log(`1000 peers: dead peer removed everywhere after ${sim.clock.now() - t0} sim ms; conns per peer ${Math.min(...conns)}..${Math.max(...conns)}`);
    await sim.stopAll();
  });

  it('300 peers with IPAM, partitioned and healed, agree on topology and ring', { timeout: 900_000 }, async () => {
    const N = 300;
    const sim = new IpamSim(SEED + 1, N, { targetsPerPeer: 3, connLimit: 10, timings: { backoffBaseMs: 1000, backoffMaxMs: 10_000 } });
    await sim.start();
    expect(await sim.runUntil(() => sim.mesh.converged() && sim.allReady() && sim.ringsAgree(), 300_000, 100), `seed ${SEED}`).toBe(true);
    const hosts = Array.from({ length: N }, (_, i) => sim.mesh.host(i));
    sim.mesh.net.partition(hosts.slice(0, N / 2), hosts.slice(N / 2));
    await sim.mesh.run(60_000, 100); // heartbeats time out across the cut
    const left = new Set(sim.mesh.routers.slice(0, N / 2).map((r) => r!.name));
    for (const r of sim.mesh.routers.slice(0, N / 2)) expect(new Set(r!.peers().map((p) => p.name)), `seed ${SEED}`).toEqual(left);
    sim.mesh.net.healAll();
    expect(await sim.runUntil(() => sim.mesh.converged() && sim.ringsAgree(), 300_000, 100), `seed ${SEED}`).toBe(true);
    expect(sim.mesh.routers[0]!.peers()).toHaveLength(N);
    await sim.stop();
  });

  it('a peer that stops reading does not grow what its neighbours hold for it past a bound, and catches up when it reads again', async () => {
    const WINDOW = 64 * 1024;
    const sim = new MeshSim(SEED + 2, { discovery: true, windowBytes: WINDOW, timings: { heartbeatTimeoutMs: 120_000 } });
    for (let i = 0; i < 5; i++) await sim.addPeer(i, i === 0 ? [] : [sim.host(0)]);
    // A channel whose state is a log that grows by 20 KB every 100 ms: 200 KB/s towards every neighbour.
    const logs = sim.routers.map((r) => new LogChannel(r!));
    // Settled, not only converged: a connection discovery is still making would time out in its
    // handshake once the peer stops reading, and its redials every 10 s would add their hellos.
    expect(await sim.runUntilSettled(60_000), `seed ${SEED + 2}`).toBeGreaterThanOrEqual(0);
    expect(established(sim), `seed ${SEED + 2}: a full mesh of 5`).toEqual([4, 4, 4, 4, 4]);
    const slow = sim.host(4);
    sim.net.stopReading(slow);
    const ENTRIES = 300;
    let maxHeld = 0;
    let maxHeldFirstHalf = 0;
    for (let k = 0; k < ENTRIES; k++) {
      logs[0]!.add(`${k}:${'x'.repeat(20_000)}`);
      await sim.run(100, 50);
      maxHeld = Math.max(maxHeld, sim.net.heldFor(slow));
      if (k === ENTRIES / 2) maxHeldFirstHalf = maxHeld;
    }
    console.log(`held for the non-reading peer: at most ${maxHeld} bytes (${maxHeldFirstHalf} in the first half; window ${WINDOW}); ${ENTRIES * 20} KB were produced`);
    // Each of its 4 neighbours holds at most its window plus the one message
    // that filled it (a gossip message is at most half the 1 MiB frame limit),
    // and it stops growing: the rest waits as one flag per channel.
    expect(maxHeld, `seed ${SEED + 2}`).toBeLessThanOrEqual(4 * (WINDOW + 512 * 1024));
    expect(maxHeld, `seed ${SEED + 2}`).toBe(maxHeldFirstHalf);
    expect(maxHeld, 'the peer did stop reading').toBeGreaterThan(WINDOW);
    sim.net.resumeReading(slow);
    await sim.run(20_000);
    expect(logs[4]!.entries.length).toBe(ENTRIES);
    await sim.stopAll();
  });
});
