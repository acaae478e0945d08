/** Three real Routers over real TCP on loopback (ports picked by the OS; no devices, no namespaces). */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { SystemClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { Router, type RouterTimings } from '../../../src/mesh/router.js';
import { TcpTransport } from '../../../src/mesh/tcp-transport.js';
import { encodeFrame, FrameDecoder } from '../../../src/mesh/frame.js';
import { deriveSessionKeys, FrameSealer, newEphemeralKey, proofFor } from '../../../src/mesh/session-crypto.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const routers: Router[] = [];

/** An encrypted router on loopback, stopped after the file's tests. */
function loopbackRouter(name: string, nickname: string, port: number, timings: Partial<RouterTimings> = {}): Router {
  const r = new Router({
    name,
    nickname,
    port,
    password: 'pw',
    transport: new TcpTransport({ host: '127.0.0.1', port }),
    clock: new SystemClock(),
    random: Math.random,
    logger: silentLogger,
    discovery: false,
    timings: { deltaCoalesceMs: 5, ...timings },
  });
  routers.push(r);
  return r;
}
afterAll(async () => {
  for (const r of routers) await r.stop();
});

describe('routers over TCP on loopback', () => {
  it('mesh, exchange gossip on a custom channel, and route a unicast', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    for (let i = 0; i < 3; i++) {
      const r = loopbackRouter(`02:00:00:00:01:0${i}`, `t${i}`, ports[i]!);
      await r.start();
    }
    // A line: t1 - t0 - t2, so t1 reaches t2 only through t0.
    routers[1]!.connect([`127.0.0.1:${ports[0]}`]);
    routers[2]!.connect([`127.0.0.1:${ports[0]}`]);
    const got: unknown[] = [];
    const values = new Map<string, number>();
    const channels = routers.map((r, i) =>
      r.registerChannel({
        name: 'kv',
        encodeFull: () => [...values.entries()],
        encodeDelta: () => (i === 1 ? [['from-t1', 1]] : undefined),
        merge: () => undefined,
        onUnicast: (from, payload) => got.push({ at: i, from, payload }),
      }),
    );
    const deadline = Date.now() + 10_000;
    // Reachable, not merely known: a record can arrive before the other end of its edge does.
    const reachable = (r: Router) => r.peers().filter((p) => p.reachable).length;
    while (Date.now() < deadline && routers.some((r) => reachable(r) < 3)) await new Promise((r) => setTimeout(r, 20));
    expect(routers.map(reachable)).toEqual([3, 3, 3]);
    expect(routers[1]!.connections()[0]!.info).toContain('encrypted');
    expect(channels[1]!.unicast(routers[2]!.name, { hello: 'via t0' })).toBe(true);
    while (Date.now() < deadline && got.length === 0) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual([{ at: 2, from: routers[1]!.name, payload: { hello: 'via t0' } }]);
    expect(routers[0]!.counters.gossipMessagesReceived).toBeGreaterThan(0);
  });

  it('an encrypted router refuses no password, a wrong password, a truncated handshake, replayed and tampered frames, and keeps serving its good peer', async () => {
    const ports = [await freePort(), await freePort()];
    const pair = ports.map((port, i) => loopbackRouter(`02:00:00:00:02:0${i}`, `s${i}`, port, { handshakeTimeoutMs: 500 }));
    for (const r of pair) await r.start();
    pair[1]!.connect([`127.0.0.1:${ports[0]}`]);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && pair[0]!.peers().length < 2) await new Promise((r) => setTimeout(r, 20));
    const good = pair[0]!.connections()[0]!;
    expect(good.state).toBe('established');

    /** A hand-driven client: returns when the router closes the socket, with what it said. */
    const attack = (script: (send: (b: Buffer) => void, frames: Buffer[], sock: net.Socket) => Promise<void>) =>
      new Promise<{ closed: boolean; frames: Buffer[] }>((resolve) => {
        const sock = net.connect(ports[0]!, '127.0.0.1');
        const dec = new FrameDecoder();
        const frames: Buffer[] = [];
        sock.on('data', (d) => frames.push(...dec.push(d)));
        const timer = setTimeout(() => {
          sock.destroy();
          resolve({ closed: false, frames });
        }, 3_000);
        sock.on('close', () => {
          clearTimeout(timer);
          resolve({ closed: true, frames });
        });
        sock.on('error', () => undefined);
        sock.on('connect', () => void script((b) => sock.write(encodeFrame(b)), frames, sock));
      });
    const until = async (f: () => boolean) => {
      for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    const helloOf = (eph: ReturnType<typeof newEphemeralKey>) => Buffer.from(JSON.stringify({ protocol: 'overlay', minVersion: 1, maxVersion: 1, encrypted: true, pub: eph.publicB64 }));
    /** Handshake with `password`; resolves with a sealer for the frames after it. */
    const handshake = async (password: string, send: (b: Buffer) => void, frames: Buffer[]) => {
      const eph = newEphemeralKey();
      const mine = helloOf(eph);
      send(mine);
      await until(() => frames.length >= 1);
      const theirs = frames[0]!;
      const keys = deriveSessionKeys(eph, (JSON.parse(theirs.toString()) as { pub: string }).pub, password, mine, theirs, true);
      const sealer = new FrameSealer(keys.sendKey);
      send(sealer.seal(Buffer.from(JSON.stringify({ t: 'proof', mac: proofFor(keys, true), name: '02:00:00:00:02:09', nickname: 'mallory', uid: 'u', connId: 'c', port: 1 }))));
      return sealer;
    };

    // The router's own hello never names it.
    const probe = await attack(async (_send, frames, sock) => {
      await until(() => frames.length >= 1);
      sock.destroy();
    });
    expect(probe.frames[0]!.toString()).not.toMatch(/s0|02:00:00:00:02:00/);

    const noPassword = await attack(async (send) =>
      send(Buffer.from(JSON.stringify({ protocol: 'overlay', minVersion: 1, maxVersion: 1, encrypted: false, name: '02:00:00:00:02:09', nickname: 'm', uid: 'u', connId: 'c', port: 1 }))),
    );
    expect(noPassword.closed).toBe(true);
    const wrong = await attack(async (send, frames) => void (await handshake('not-pw', send, frames)));
    expect(wrong.closed).toBe(true);
    const truncated = await attack(async (_send, _frames, sock) => void sock.write(encodeFrame(helloOf(newEphemeralKey())).subarray(0, 20)));
    expect(truncated.closed).toBe(true); // the handshake timer ends it
    const replayed = await attack(async (send, frames) => {
      const sealer = await handshake('pw', send, frames);
      const hb = sealer.seal(Buffer.from('{"t":"hb"}'));
      send(hb);
      send(hb);
    });
    expect(replayed.closed).toBe(true);
    const tampered = await attack(async (send, frames) => {
      const sealer = await handshake('pw', send, frames);
      const hb = sealer.seal(Buffer.from('{"t":"hb"}'));
      hb[0]! ^= 0x40;
      send(hb);
    });
    expect(tampered.closed).toBe(true);

    // The good peer never noticed.
    const now = pair[0]!.connections().filter((c) => c.state === 'established');
    expect(now.map((c) => [c.peer, c.connectionId])).toEqual([[good.peer, good.connectionId]]);
    expect(now[0]!.upMs).toBeGreaterThan(good.upMs);
    expect(pair[0]!.peers().map((p) => p.nickname).sort()).toEqual(['s0', 's1']);
  });

  it('a router started closed holds a peer that dials it until open(): a channel registered in between still gets that peer’s full state', async () => {
    // The daemon after a restart: it listens, then its components register their channels, while a
    // peer's redial arrives. That peer's full state for those channels must not be lost.
    const ports = [await freePort(), await freePort()];
    const make = (i: number) => loopbackRouter(`02:00:00:00:03:0${i}`, `q${i}`, ports[i]!);
    const [peer, restarted] = [make(0), make(1)];
    peer.registerChannel({ name: 'kv', encodeFull: () => [['from-q0', 1]], encodeDelta: () => undefined, merge: () => undefined });
    await peer.start();
    await restarted.start({ open: false });
    peer.connect([`127.0.0.1:${ports[1]}`]);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && restarted.connections().length === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    // Accepted, but not started: no handshake, so no gossip yet either way.
    expect(restarted.connections().map((c) => c.state)).toEqual(['handshaking']);
    expect(peer.peers().length).toBe(1);
    const merged: unknown[] = [];
    restarted.registerChannel({ name: 'kv', encodeFull: () => [], encodeDelta: () => undefined, merge: (_from, payload) => void merged.push(payload) });
    restarted.open();
    while (Date.now() < deadline && merged.length === 0) await new Promise((r) => setTimeout(r, 20));
    expect(merged).toEqual([[['from-q0', 1]]]);
    // The topology comes by digest (hash, versions, then the missing records): a round trip later.
    while (Date.now() < deadline && restarted.peers().length < 2) await new Promise((r) => setTimeout(r, 20));
    expect(restarted.peers().map((p) => p.nickname).sort()).toEqual(['q0', 'q1']);
  });
});
