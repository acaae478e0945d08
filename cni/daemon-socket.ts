/**
 * One HTTP exchange with the daemon over its unix socket, made with plain
 * blocking socket calls (libc.ts) in two halves: the request is sent at once,
 * the reply read when the caller awaits it. ADD uses the gap: the daemon
 * decides while the plugin creates the veth, and the answer is usually waiting
 * by the time it is read (an event-loop HTTP client would answer only after
 * the synchronous netlink work, and costs more to start).
 *
 * HTTP/1.0 with "Connection: close": the daemon (Node's HTTP server) sends
 * one response with its length and closes, so reading to the end is reading
 * the response.
 */
import { DaemonUnreachable } from '../src/api/errors.js';
import { address, AF_UNIX, cString, EAGAIN, ECONNREFUSED, EINTR, ENOENT, errno, errnoText, libc, SOCK_CLOEXEC, SOCK_STREAM, SOL_SOCKET } from '../src/sys/libc.js';
import type { DaemonReply } from './transport.js';

const SO_RCVTIMEO = 20;
const SO_SNDTIMEO = 21;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 107;
/** A reply larger than this is not one of ours. */
const MAX_REPLY_BYTES = 1 << 20;

/** Send the request now; the returned promise reads the reply on the next turn (blocking, bounded by timeoutMs). */
export function exchange(socketPath: string, method: string, path: string, body: unknown, timeoutMs: number): Promise<DaemonReply> {
  let fd = -1;
  try {
    fd = connectTo(socketPath, timeoutMs);
    const payload = body === undefined ? '' : JSON.stringify(body);
    const head = `${method} ${path} HTTP/1.0\r\nHost: overlay\r\nConnection: close\r\nAccept: application/json\r\n` +
      (payload ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n` : '') + '\r\n';
    sendAll(fd, new TextEncoder().encode(head + payload), socketPath);
  } catch (e) {
    if (fd >= 0) libc().close(fd);
    return Promise.reject(e);
  }
  const deadline = Date.now() + timeoutMs;
  return Promise.resolve().then(() => {
    try {
      const raw = readAll(fd, deadline, socketPath, timeoutMs);
      // A daemon stopping mid-request closes without a word: that is "try again later", not garbage.
      if (raw.length === 0) throw new DaemonUnreachable(`the overlay daemon at ${socketPath} closed the connection without answering`);
      return parseReply(raw);
    } finally {
      libc().close(fd);
    }
  });
}

function connectTo(socketPath: string, timeoutMs: number): number {
  const c = libc();
  const name = cString(socketPath);
  if (name.length - 1 > SUN_PATH_MAX) throw new DaemonUnreachable(`the daemon socket path ${socketPath} is longer than a unix socket path may be`);
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new DaemonUnreachable(`cannot open a socket: ${errnoText(errno())}`);
  const tv = new BigInt64Array([BigInt(Math.floor(timeoutMs / 1000)), BigInt((timeoutMs % 1000) * 1000)]);
  c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, address(tv), 16);
  c.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, address(tv), 16);
  const sa = new Uint8Array(2 + SUN_PATH_MAX + 1);
  new DataView(sa.buffer).setUint16(0, AF_UNIX, true);
  sa.set(name, 2);
  if (c.connect(fd, address(sa), sa.length) !== 0) {
    const e = errno();
    c.close(fd);
    if (e === ENOENT || e === ECONNREFUSED)
      throw new DaemonUnreachable(`the overlay daemon is not running (no API at ${socketPath}; ${errnoText(e)}); start it with "overlay launch"`);
    throw new DaemonUnreachable(`cannot reach the overlay daemon at ${socketPath}: ${errnoText(e)}`);
  }
  return fd;
}

function sendAll(fd: number, data: Uint8Array, socketPath: string): void {
  for (let off = 0; off < data.length; ) {
    const n = libc().send(fd, address(data.subarray(off)), data.length - off, MSG_NOSIGNAL);
    if (n < 0) {
      const e = errno();
      if (e === EINTR) continue;
      throw new DaemonUnreachable(`cannot send to the overlay daemon at ${socketPath}: ${errnoText(e)}`);
    }
    off += n;
  }
}

function readAll(fd: number, deadline: number, socketPath: string, timeoutMs: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buf = new Uint8Array(16384);
  for (;;) {
    const n = libc().recv(fd, address(buf), buf.length, 0);
    if (n === 0) break;
    if (n < 0) {
      const e = errno();
      if (e === EINTR && Date.now() < deadline) continue;
      if (e === EAGAIN) throw new DaemonUnreachable(`the overlay daemon at ${socketPath} did not answer within ${timeoutMs} ms`);
      throw new DaemonUnreachable(`reading from the overlay daemon at ${socketPath} failed: ${errnoText(e)}`);
    }
    size += n;
    if (size > MAX_REPLY_BYTES) throw new DaemonUnreachable(`the overlay daemon at ${socketPath} sent more than ${MAX_REPLY_BYTES} bytes`);
    chunks.push(buf.slice(0, n));
    // A daemon that trickles bytes must not hold the plugin past its deadline.
    if (Date.now() > deadline) throw new DaemonUnreachable(`the overlay daemon at ${socketPath} did not answer within ${timeoutMs} ms`);
  }
  return Buffer.concat(chunks);
}

/** Status and body of an HTTP/1.x response; anything else is "the daemon answered garbage". */
function parseReply(raw: Uint8Array): DaemonReply {
  const text = new TextDecoder().decode(raw);
  const end = text.indexOf('\r\n\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (end < 0 || !m) throw new Error(`the overlay daemon sent a malformed reply (${raw.length} bytes)`);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end + 2));
  const body = text.slice(end + 4);
  return { status: Number(m[1]), body: length ? Buffer.from(body).subarray(0, Number(length[1])).toString('utf8') : body };
}
