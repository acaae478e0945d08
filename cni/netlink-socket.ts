/**
 * A NETLINK_ROUTE socket for the plugin, through libc via bun:ffi (the
 * plugin is a Bun executable; Node has no netlink sockets). One request at a
 * time, answered before the next: the plugin's work is a short sequence.
 *
 * Why in-process: every `ip`/`tc`/`bridge` process costs 2-9 ms to start and
 * an ADD needs half a dozen steps; the whole reference plugin ADD takes ~12 ms.
 *
 * A netlink socket belongs to the netns it was created in, so a socket for a
 * container is made by entering its netns on this thread, creating the
 * socket, and going straight back.
 */
import { address as ptr, AF_NETLINK, cString, errno, errnoText, libc, SOCK_CLOEXEC, SOCK_RAW } from '../src/sys/libc.js';
import { errnoOf, NLM_F, NLMSG_DONE, NLMSG_ERROR, parseMessages, setSequence, type NlMessage } from '../src/sys/netlink/message.js';

const NETLINK_ROUTE = 0;
const O_RDONLY_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;
const NLM_F_MULTI = 0x2;

/** The kernel refused a request; `errno` is its reason (ENODEV 19, EEXIST 17, ...). */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    what: string,
  ) {
    super(`${what}: ${errnoText(errno)}`);
    this.name = 'NetlinkError';
  }
}

/** An open file descriptor of a netns (for IFLA_NET_NS_FD and setns); -1 with errno when it cannot be opened. */
export function openNetns(path: string): { fd: number; errno: number } {
  const fd = libc().open(ptr(cString(path)), O_RDONLY_CLOEXEC);
  return { fd, errno: fd < 0 ? errno() : 0 };
}

export function closeFd(fd: number): void {
  if (fd >= 0) libc().close(fd);
}

export class NetlinkSocket {
  private seq = 0;
  private readonly rx = new Uint8Array(1 << 16);

  private constructor(private readonly fd: number) {}

  /** A socket in this process's netns. */
  static here(): NetlinkSocket {
    const fd = libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw new NetlinkError(errno(), 'cannot open a netlink socket');
    return new NetlinkSocket(fd);
  }

  /** A socket in the netns open as `netnsFd`; this thread is back in its own netns when it returns. */
  static inNetns(netnsFd: number): NetlinkSocket {
    const c = libc();
    const home = c.open(ptr(cString('/proc/thread-self/ns/net')), O_RDONLY_CLOEXEC);
    if (home < 0) throw new NetlinkError(errno(), 'cannot open this thread\'s netns');
    try {
      if (c.setns(netnsFd, CLONE_NEWNET) !== 0) throw new NetlinkError(errno(), 'cannot enter the container netns');
      const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
      const err = errno();
      // Staying in the container's netns would put every later step in the wrong place: give up loudly.
      if (c.setns(home, CLONE_NEWNET) !== 0) throw new Error(`cannot return to the host netns (errno ${errno()})`);
      if (fd < 0) throw new NetlinkError(err, 'cannot open a netlink socket in the container netns');
      return new NetlinkSocket(fd);
    } finally {
      c.close(home);
    }
  }

  /**
   * Send one request and collect its answer: the acknowledgement, the one
   * reply of a get, or every message of a dump. A refusal throws NetlinkError.
   */
  request(msg: Uint8Array, what: string): NlMessage[] {
    const c = libc();
    const seq = ++this.seq;
    setSequence(msg, seq);
    if (c.send(this.fd, ptr(msg), msg.length, 0) !== msg.length) throw new NetlinkError(errno(), `${what}: send failed`);
    const flags = new DataView(msg.buffer, msg.byteOffset).getUint16(6, true);
    const out: NlMessage[] = [];
    for (;;) {
      const n = c.recv(this.fd, ptr(this.rx), this.rx.length, 0);
      if (n < 0) throw new NetlinkError(errno(), `${what}: receive failed`);
      for (const m of parseMessages(this.rx.subarray(0, n))) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          const e = errnoOf(m);
          if (e !== 0) throw new NetlinkError(e, what);
          return out;
        }
        if (m.type === NLMSG_DONE) return out;
        // Copied: the receive buffer is reused by the next read.
        out.push({ ...m, payload: m.payload.slice() });
        if (!(m.flags & NLM_F_MULTI) && !(flags & NLM_F.ACK)) return out;
      }
    }
  }
}
