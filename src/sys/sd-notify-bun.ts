/** sd_notify(3) through libc via bun:ffi: one datagram to NOTIFY_SOCKET (see sd-notify.ts). */
import { ptr } from 'bun:ffi';
import { AF_UNIX, daemonLibc, errno, errnoText, libc, SOCK_CLOEXEC, SOCK_DGRAM } from './libc.js';

/** sizeof(struct sockaddr_un): a 2-byte family and 108 bytes of path. */
const SUN_PATH_MAX = 108;

export function sendNotify(socketPath: string, message: string): void {
  const c = { ...libc(), ...daemonLibc() };
  // "@name" is an abstract socket: its address starts with a NUL byte instead.
  const path = new TextEncoder().encode(socketPath.startsWith('@') ? `\0${socketPath.slice(1)}` : socketPath);
  if (path.length >= SUN_PATH_MAX) throw new Error(`NOTIFY_SOCKET is too long: ${socketPath}`);
  const sa = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(sa.buffer).setUint16(0, AF_UNIX, true);
  sa.set(path, 2);
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`cannot open a socket for NOTIFY_SOCKET: ${errnoText(errno())}`);
  try {
    const data = new TextEncoder().encode(message);
    // A path address is passed with its terminating NUL; an abstract one is exactly as long as its name.
    const len = 2 + path.length + (socketPath.startsWith('@') ? 0 : 1);
    if (c.sendto(fd, ptr(data), data.length, 0, ptr(sa), len) !== data.length)
      throw new Error(`cannot notify systemd on ${socketPath}: ${errnoText(errno())}`);
  } finally {
    c.close(fd);
  }
}
