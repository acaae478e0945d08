/**
 * An ICMPv6 raw socket for the data path probe (dataplane/probe.ts), on
 * whichever runtime runs the daemon:
 *  - under Bun (the `overlay` executable) through libc via bun:ffi
 *    (icmp-socket-bun.ts). raw-socket is a NAN addon: it is built against
 *    V8's C++ ABI and libuv's uv_poll, and Bun provides neither (rebuilt for
 *    Bun's ABI it fails with "undefined symbol: v8::EscapableHandleScope::Escape");
 *  - under Node (`node dist/src/cli/main.js`, the developer path) through
 *    raw-socket (icmp-socket-node.ts).
 * Both give each received message with its receive time, in the clock of now().
 */
export type OnIcmpMessage = (message: Buffer, receivedAtNs: bigint) => void;
/** Whether a reply is still awaited: a socket that has to poll (Bun's) reads only while one is. */
export type AwaitingReply = () => boolean;

export interface IcmpV6Socket {
  /**
   * Send one ICMPv6 message (the kernel fills in the checksum) to a link-local
   * address on `ifname`, with "don't fragment"; replies are awaited for up to
   * `listenMs`, or until none is awaited any more. Resolves false when the
   * kernel refused to send it.
   */
  send(message: Buffer, target: string, ifname: string, listenMs: number): Promise<boolean>;
  /** Now, in nanoseconds of the clock that receive times are given in. */
  now(): bigint;
  close(): void;
}

/** IPV6_DONTFRAG from <netinet/in.h>: a probe larger than the path must fail, not be fragmented. */
export const IPV6_DONTFRAG = 62;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_IPV6 = 41;
/** ICMP6_FILTER from <netinet/icmp6.h> (option level IPPROTO_ICMPV6). */
export const ICMP6_FILTER = 1;
const ICMP6_ECHO_REPLY = 129;

/**
 * struct icmp6_filter letting only echo replies in (a set bit blocks a type).
 * A raw ICMPv6 socket otherwise gets a copy of every ICMPv6 message the host
 * receives: every peer's full-MTU probes and all neighbour discovery. Read
 * only while a reply is awaited (Bun), its buffer then fills between rounds
 * and the kernel drops our own replies, each costing a 1 s timeout and a
 * retry; and each of those messages would be read and thrown away.
 */
export function echoRepliesOnly(): Buffer {
  const words = new Uint32Array(8).fill(0xffffffff);
  // Words in host byte order, as the kernel reads them.
  words[ICMP6_ECHO_REPLY >> 5] = ~(1 << (ICMP6_ECHO_REPLY & 31)) >>> 0;
  return Buffer.from(words.buffer);
}

export async function openIcmpV6Socket(onMessage: OnIcmpMessage, awaiting: AwaitingReply): Promise<IcmpV6Socket> {
  if (process.versions['bun']) return (await import('./icmp-socket-bun.js')).openBunIcmpV6Socket(onMessage, awaiting);
  return (await import('./icmp-socket-node.js')).openNodeIcmpV6Socket(onMessage);
}
