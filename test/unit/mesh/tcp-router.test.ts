/** Three real Routers over real TCP on loopback (ports picked by the OS; no devices, no namespaces). */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger, type Logger } from '../../../src/lib/logger.js';
import type { HandshakeLimits } from '../../../src/mesh/handshake-limiter.js';
import { derivePasswordKey, type PasswordKey } from '../../../src/mesh/password-key.js';
import type { Router, RouterTimings } from '../../../src/mesh/router.js';
import { freePort, loopbackRouter as makeLoopbackRouter } from '../../../scripts/lab/loopback.js';
import { encodeFrame, FrameDecoder } from '../../../src/mesh/frame.js';
import { deriveSessionKeys, FrameSealer, newEphemeralKey, proofFor } from '../../../src/mesh/session-crypto.js';


const routers: Router[] = [];
/** The key of password "pw", derived once for the file as the daemon does once per process. */
let pwKey: PasswordKey;
beforeAll(async () => {
  pwKey = await derivePasswordKey('pw', 'test-cluster');
});
const key = (password: string) => (password === 'pw' ? Promise.resolve(pwKey) : derivePasswordKey(password, 'test-cluster'));

/** An encrypted router on loopback, stopped after the file's tests. */
function loopbackRouter(
  name: string,
  nickname: string,
  port: number,
  timings: Partial<RouterTimings> = {},
  extra: { handshakeLimits?: Partial<HandshakeLimits>; logger?: Logger } = {},
): Router {
  const r = makeLoopbackRouter({
    name,
    nickname,
    port,
    passwordKey: pwKey,
    handshakeLimits: extra.handshakeLimits,
    logger: extra.logger ?? silentLogger,
    timings: { deltaCoalesceMs: 5, ...timings },
  });
  routers.push(r);
  return r;
}
afterAll(async () => {
  for (const r of routers) await r.stop();
});

type AttackScript = (send: (b: Buffer) => void, frames: Buffer[], sock: net.Socket) => Promise<void>;

/** A hand-driven client: returns when the router closes the socket, with what it said. */
function attackAt(port: number, script: AttackScript) {
  return new Promise<{ closed: boolean; frames: Buffer[] }>((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
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
}

const until = async (f: () => boolean) => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
};
const helloOf = (eph: ReturnType<typeof newEphemeralKey>, version = 2) =>
  Buffer.from(JSON.stringify({ protocol: 'overlay', minVersion: version, maxVersion: version, encrypted: true, pub: eph.publicB64 }));

/**
 * Handshake with a password's key; resolves with a sealer for the frames after it. Callers derive
 * the key before they connect: scrypt (OWASP's parameters) takes up to a second, several on a
 * loaded machine, and must not run inside the router's handshake timer or the attack's 3 s window.
 */
async function handshake(passwordKey: PasswordKey, send: (b: Buffer) => void, frames: Buffer[]) {
  const eph = newEphemeralKey();
  const mine = helloOf(eph);
  send(mine);
  await until(() => frames.length >= 1);
  const theirs = frames[0]!;
  const keys = deriveSessionKeys(eph, (JSON.parse(theirs.toString()) as { pub: string }).pub, passwordKey, mine, theirs, true);
  const sealer = new FrameSealer(keys.sendKey);
  send(sealer.seal(Buffer.from(JSON.stringify({ t: 'proof', mac: proofFor(keys, true), name: '02:00:00:00:02:09', nickname: 'mallory', uid: 'u', connId: 'c', port: 1 }))));
  return sealer;
}

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
    // Every attack below comes from 127.0.0.1: no slowing down here (that has its own test).
    const pair = ports.map((port, i) => loopbackRouter(`02:00:00:00:02:0${i}`, `s${i}`, port, { handshakeTimeoutMs: 500 }, { handshakeLimits: { freeFailures: 1_000 } }));
    for (const r of pair) await r.start();
    pair[1]!.connect([`127.0.0.1:${ports[0]}`]);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && pair[0]!.peers().length < 2) await new Promise((r) => setTimeout(r, 20));
    const good = pair[0]!.connections()[0]!;
    expect(good.state).toBe('established');

    const attack = (script: AttackScript) => attackAt(ports[0]!, script);

    // The router's own hello never names it.
    const probe = await attack(async (_send, frames, sock) => {
      await until(() => frames.length >= 1);
      sock.destroy();
    });
    // Matched without its ephemeral key: that is random base64, which holds "s0" about once in a hundred hellos.
    const { pub, ...rest } = JSON.parse(probe.frames[0]!.toString()) as { pub: string };
    expect(pub).toMatch(/^[A-Za-z0-9+/=_-]+$/);
    expect(JSON.stringify(rest)).not.toMatch(/s0|02:00:00:00:02:00/);

    const noPassword = await attack(async (send) =>
      send(Buffer.from(JSON.stringify({ protocol: 'overlay', minVersion: 1, maxVersion: 2, encrypted: false, name: '02:00:00:00:02:09', nickname: 'm', uid: 'u', connId: 'c', port: 1 }))),
    );
    expect(noPassword.closed).toBe(true);
    const notPw = await key('not-pw');
    const wrong = await attack(async (send, frames) => void (await handshake(notPw, send, frames)));
    expect(wrong.closed).toBe(true);
    // A peer of protocol v1 (whose password handshake could be guessed offline) gets no proof at all: only our hello.
    const v1 = await attack(async (send) => send(helloOf(newEphemeralKey(), 1)));
    expect(v1.closed).toBe(true);
    expect(v1.frames.length).toBe(1);
    const truncated = await attack(async (_send, _frames, sock) => void sock.write(encodeFrame(helloOf(newEphemeralKey())).subarray(0, 20)));
    expect(truncated.closed).toBe(true); // the handshake timer ends it
    const replayed = await attack(async (send, frames) => {
      const sealer = await handshake(pwKey, send, frames);
      const hb = sealer.seal(Buffer.from('{"t":"hb"}'));
      send(hb);
      send(hb);
    });
    expect(replayed.closed).toBe(true);
    const tampered = await attack(async (send, frames) => {
      const sealer = await handshake(pwKey, send, frames);
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

describe('failed handshakes from one address are slowed down', () => {
  it('after the free failures, new connections are closed before the hello (no proof to guess at), logged once; after the delay a good handshake is let in', async () => {
    const port = await freePort();
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    const r = loopbackRouter('02:00:00:00:04:00', 'rl', port, { handshakeTimeoutMs: 10_000 }, { logger, handshakeLimits: { freeFailures: 3, baseDelayMs: 1_500, maxDelayMs: 1_500 } });
    await r.start();
    // Four wrong guesses: each got the router's hello and its sealed proof, then was refused.
    const guesses = await Promise.all([0, 1, 2, 3].map((i) => key(`guess-${i}`)));
    for (let i = 0; i < 4; i++) {
      const wrong = await attackAt(port, async (send, frames) => void (await handshake(guesses[i]!, send, frames)));
      expect(wrong.closed).toBe(true);
      expect(wrong.frames.length, `guess ${i}`).toBe(2);
    }
    // Now this address waits: closed at once, not even a hello.
    const blocked = await attackAt(port, async () => undefined);
    expect(blocked.closed).toBe(true);
    expect(blocked.frames.length).toBe(0);
    expect(r.counters.handshakesThrottled).toBe(1);
    const throttleLines = lines.filter((l) => l['remote'] === '127.0.0.1' && /inbound handshakes failing/.test(String(l['msg'])));
    expect(throttleLines.length).toBe(1); // five events, one line (the first); the rest are counted into the next minute's line
    expect(throttleLines[0]!['lastReason']).toMatch(/failed password authentication/);
    // After the delay, the right password gets in (and clears the address's record).
    await new Promise((res) => setTimeout(res, 1_600));
    let admitted: string[] = [];
    const good = await attackAt(port, async (send, frames) => {
      await handshake(pwKey, send, frames);
      await until(() => r.connections().some((c) => c.state === 'established'));
      admitted = r.connections().filter((c) => c.state === 'established').map((c) => c.nickname);
      send(Buffer.from('x')); // not sealed: ends the connection, after it was established
    });
    expect(good.frames.length).toBeGreaterThanOrEqual(2);
    expect(admitted).toContain('mallory');
  });
});
