/**
 * The ICMPv6 probe socket under Bun, through libc via bun:ffi (see
 * icmp-socket.ts for why not raw-socket). Bun offers no readiness callback
 * for a file descriptor, so a non-blocking socket is read on a short timer,
 * and only while a reply is awaited: the timer stops as soon as the last
 * awaited reply is in (replies take well under a millisecond on a LAN, so a
 * round of probes costs a few wake-ups, not one per millisecond of its
 * timeout), and an idle daemon does not wake up for it at all. What queues
 * meanwhile is only echo replies (echoRepliesOnly), so the buffer never fills
 * with other hosts' probes and our replies are not dropped.
 * The timer does not skew the RTT: each message's receive time is the
 * kernel's (SO_TIMESTAMPNS, read back with SIOCGSTAMPNS), and now() reads the
 * same clock (CLOCK_REALTIME).
 */
import { ptr } from 'bun:ffi';
import IPCIDR from 'ip-cidr';
import { AF_INET6, daemonLibc, EINTR, errno, errnoText, libc, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW, SOL_SOCKET } from './libc.js';
import { echoRepliesOnly, ICMP6_FILTER, IPPROTO_ICMPV6, IPPROTO_IPV6, IPV6_DONTFRAG, type AwaitingReply, type IcmpV6Socket, type OnIcmpMessage } from './icmp-socket.js';

const SO_TIMESTAMPNS = 35;
const SIOCGSTAMPNS = 0x8907;
const MSG_DONTWAIT = 0x40;
const CLOCK_REALTIME = 0;
const READ_EVERY_MS = 1;

function nanos(timespec: BigInt64Array): bigint {
  return timespec[0]! * 1_000_000_000n + timespec[1]!;
}

function setInt(fd: number, level: number, option: number, value: number): void {
  const v = new Int32Array([value]);
  if (libc().setsockopt(fd, level, option, ptr(v), 4) !== 0) throw new Error(`setsockopt(${level}, ${option}) failed: ${errnoText(errno())}`);
}

/** The 16 bytes of an IPv6 address, or undefined when it is none. */
function addressBytes(target: string): Uint8Array | undefined {
  // ip-address gives the 16 bytes as signed numbers; the mask makes them octets.
  let bytes: number[];
  try {
    bytes = (IPCIDR.createAddress(target) as unknown as { toByteArray(): number[] }).toByteArray();
  } catch {
    return undefined;
  }
  // It also drops leading zero bytes (::1 comes back as one byte): right-align them in the 16.
  if (bytes.length > 16) return undefined;
  const out = new Uint8Array(16);
  out.set(Uint8Array.from(bytes, (b) => b & 0xff), 16 - bytes.length);
  return out;
}

/**
 * struct sockaddr_in6 for a link-local `target` on the interface `index`; undefined when `target`
 * is no IPv6 address. Parsed addresses are kept (the same peers are probed every round).
 */
function sockaddr(target: string, index: number, parsed: Map<string, Uint8Array | undefined>): Uint8Array | undefined {
  if (!parsed.has(target)) parsed.set(target, addressBytes(target));
  const bytes = parsed.get(target);
  if (!bytes) return undefined;
  const sa = new Uint8Array(28);
  const view = new DataView(sa.buffer);
  view.setUint16(0, AF_INET6, true);
  sa.set(bytes, 8);
  view.setUint32(24, index, true);
  return sa;
}

export function openBunIcmpV6Socket(onMessage: OnIcmpMessage, awaiting: AwaitingReply): IcmpV6Socket {
  const c = { ...libc(), ...daemonLibc() };
  const fd = c.socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) throw new Error(`cannot open an ICMPv6 raw socket: ${errnoText(errno())}`);
  try {
    setInt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1);
    setInt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
    const filter = echoRepliesOnly();
    if (c.setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, ptr(filter), filter.length) !== 0) throw new Error(`setsockopt(ICMP6_FILTER) failed: ${errnoText(errno())}`);
  } catch (e) {
    c.close(fd);
    throw e;
  }
  const rx = new Uint8Array(1 << 16);
  const stamp = new BigInt64Array(2);
  let listenUntil = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  const parsed = new Map<string, Uint8Array | undefined>();
  const indexes = new Map<string, number>();

  const drain = () => {
    for (;;) {
      const n = c.recv(fd, ptr(rx), rx.length, MSG_DONTWAIT);
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        break; // EAGAIN: nothing more now; anything else ends this read, the next tick tries again
      }
      const at = c.ioctl(fd, SIOCGSTAMPNS, ptr(stamp)) === 0 ? nanos(stamp) : now();
      onMessage(Buffer.from(rx.subarray(0, n)), at);
    }
    if ((!awaiting() || Date.now() > listenUntil) && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  const now = (): bigint => {
    const ts = new BigInt64Array(2);
    c.clock_gettime(CLOCK_REALTIME, ptr(ts));
    return nanos(ts);
  };

  return {
    send: async (message, target, ifname, listenMs) => {
      if (closed) return false;
      // Peers come and go; a stale entry costs 16 bytes, so the map is simply bounded.
      if (parsed.size > 4096) parsed.clear();
      // glibc's if_nametoindex opens a socket each time: the index is kept until a send fails
      // (the bridge may have been recreated, with a new index; Linux does not reuse indexes soon).
      const index = (indexes.get(ifname) ?? c.if_nametoindex(ptr(new TextEncoder().encode(ifname + '\0')))) || undefined;
      if (index === undefined) return false;
      const sa = sockaddr(target, index, parsed);
      if (!sa) return false;
      if (c.sendto(fd, ptr(message), message.length, 0, ptr(sa), sa.length) !== message.length) {
        indexes.delete(ifname);
        return false;
      }
      indexes.set(ifname, index);
      listenUntil = Math.max(listenUntil, Date.now() + listenMs);
      timer ??= setInterval(drain, READ_EVERY_MS);
      return true;
    },
    now,
    close: () => {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      c.close(fd);
    },
  };
}
