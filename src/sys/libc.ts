/**
 * The few libc calls overlay makes itself, through bun:ffi (the plugin and the
 * `overlay` executable are Bun executables): the plugin's netlink sockets
 * (cni/netlink-socket.ts) and the daemon's unix socket (cni/daemon-socket.ts),
 * and the daemon's ICMPv6 probe socket (icmp-socket-bun.ts) and sd_notify
 * (sd-notify-bun.ts), whose extra calls are bound apart (daemonLibc). Loaded
 * on first use (~0.3 ms). Only ever imported under Bun.
 */
import { dlopen, FFIType, ptr, read, type Pointer } from 'bun:ffi';

const { i32, ptr: p, u64 } = FFIType;

function load() {
  return dlopen('libc.so.6', {
    socket: { args: [i32, i32, i32], returns: i32 },
    connect: { args: [i32, p, i32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, p, i32], returns: i32 },
    open: { args: [p, i32], returns: i32 },
    close: { args: [i32], returns: i32 },
    setns: { args: [i32, i32], returns: i32 },
    send: { args: [i32, p, u64, i32], returns: i32 },
    recv: { args: [i32, p, u64, i32], returns: i32 },
    read: { args: [i32, p, u64], returns: i32 },
    getrandom: { args: [p, u64, i32], returns: i32 },
    __errno_location: { args: [], returns: p },
  }).symbols;
}

let symbols: ReturnType<typeof load> | undefined;
export function libc(): ReturnType<typeof load> {
  return (symbols ??= load());
}

function loadDaemonOnly() {
  return dlopen('libc.so.6', {
    sendto: { args: [i32, p, u64, i32, p, i32], returns: i32 },
    ioctl: { args: [i32, u64, p], returns: i32 },
    clock_gettime: { args: [i32, p], returns: i32 },
    if_nametoindex: { args: [p], returns: i32 },
  }).symbols;
}

let daemonSymbols: ReturnType<typeof loadDaemonOnly> | undefined;
/** The calls only the daemon makes (probe socket, sd_notify): bound apart, so the plugin does not pay for them. */
export function daemonLibc(): ReturnType<typeof loadDaemonOnly> {
  return (daemonSymbols ??= loadDaemonOnly());
}

/** From <sys/socket.h> and <fcntl.h>. */
export const AF_UNIX = 1;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;

/** errno of the last failed call on this thread. */
export function errno(): number {
  return read.i32(libc().__errno_location(), 0);
}

/** n bytes from the kernel's random source (getrandom(2); never short for n <= 256). */
export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  if (libc().getrandom(address(b), n, 0) !== n) throw new Error(`getrandom failed: ${errnoText(errno())}`);
  return b;
}

const encoder = new TextEncoder();
export function cString(s: string): Uint8Array {
  return encoder.encode(s + '\0');
}

export function address(view: ArrayBufferView): Pointer {
  return ptr(view);
}

export const ENOENT = 2;
export const EINTR = 4;
export const EAGAIN = 11;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ECONNREFUSED = 111;

const ERRNO_TEXT: Record<number, string> = {
  1: 'operation not permitted (EPERM)',
  2: 'no such file or directory (ENOENT)',
  11: 'timed out (EAGAIN)',
  13: 'permission denied (EACCES)',
  16: 'device or resource busy (EBUSY)',
  17: 'file exists (EEXIST)',
  19: 'no such device (ENODEV)',
  22: 'invalid argument (EINVAL)',
  34: 'numerical result out of range (ERANGE)',
  95: 'operation not supported (EOPNOTSUPP)',
  111: 'connection refused (ECONNREFUSED)',
};
export function errnoText(n: number): string {
  return ERRNO_TEXT[n] ?? `errno ${n}`;
}
