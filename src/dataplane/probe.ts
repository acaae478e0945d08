/**
 * Data path health: ICMPv6 echo between bridges' link-local addresses, sent
 * through the overlay (bridge → VXLAN → underlay) at the full overlay MTU
 * with "don't fragment", over a raw socket. A full-size reply proves the path
 * carries MTU-sized frames; when it fails, a small probe and a binary search
 * tell "dead path" from "path that drops large packets" and find the size
 * that still passes, so the failure is reported instead of silently eating
 * large packets.
 */
import { randomInt } from 'node:crypto';
import { openIcmpV6Socket, type IcmpV6Socket } from '../sys/icmp-socket.js';

const ECHO_REQUEST = 128;
const ECHO_REPLY = 129;
const IPV6_HEADER = 40;
const ICMP_HEADER = 8;
/** The smallest IPv6 packet every link must carry. */
const IPV6_MIN_MTU = 1280;

export type ProbeResult = { ok: true; mtu: number; rttMs: number } | { ok: false; mtu: number; reason: string; passesUpTo?: number };

export function describeProbe(r: ProbeResult | undefined): string {
  if (!r) return 'vxlan probing';
  if (r.ok) return `vxlan mtu=${r.mtu} ok`;
  return `vxlan failed: ${r.reason}`;
}

export class PathProber {
  private sock?: Promise<IcmpV6Socket>;
  private readonly id = randomInt(1, 0xffff);
  private seq = 0;
  /** Set by close(): a probe still running must not open a new socket, which would keep a stopped daemon alive. */
  private closed = false;
  private readonly waiting = new Map<number, (rttMs: number | undefined) => void>();

  constructor(private readonly bridge: string) {}

  private socket(): Promise<IcmpV6Socket> {
    if (this.closed) return Promise.reject(new Error('the prober is closed'));
    // Replies and requests for other peers arrive on this socket too; only ours resolve.
    this.sock ??= openIcmpV6Socket((buf, receivedAtNs) => {
      // Our requests always carry their send time, so a reply without one is not ours.
      if (buf.length < ICMP_HEADER + 8 || buf[0] !== ECHO_REPLY || buf.readUInt16BE(4) !== this.id) return;
      const seq = buf.readUInt16BE(6);
      const done = this.waiting.get(seq);
      if (done) {
        this.waiting.delete(seq);
        done(Number(receivedAtNs - buf.readBigUInt64BE(ICMP_HEADER)) / 1e6);
      }
    }, () => this.waiting.size > 0).then((sock) => {
      // close() may have run while the socket was opening.
      if (this.closed) sock.close();
      return sock;
    });
    this.sock.catch(() => (this.sock = undefined));
    return this.sock;
  }

  /** One echo of a whole IPv6 packet of `size` bytes; the RTT in ms, or undefined on timeout or send error. */
  async ping(target: string, size: number, timeoutMs = 1_000): Promise<number | undefined> {
    let sock: IcmpV6Socket;
    try {
      sock = await this.socket();
    } catch {
      return undefined;
    }
    const payload = Math.max(8, size - IPV6_HEADER - ICMP_HEADER);
    const seq = (this.seq = (this.seq + 1) & 0xffff);
    const buf = Buffer.alloc(ICMP_HEADER + payload);
    buf[0] = ECHO_REQUEST;
    buf.writeUInt16BE(this.id, 4);
    buf.writeUInt16BE(seq, 6);
    buf.writeBigUInt64BE(sock.now(), ICMP_HEADER);
    const reply = new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(seq, (rtt) => {
        clearTimeout(timer);
        resolve(rtt);
      });
    });
    // The kernel fills in the ICMPv6 checksum on raw sockets.
    if (!(await sock.send(buf, target, this.bridge, timeoutMs))) {
      const done = this.waiting.get(seq);
      this.waiting.delete(seq);
      done?.(undefined);
    }
    return reply;
  }

  /** Probe a peer's bridge at the full overlay MTU; on failure, find out what still passes. */
  async probe(target: string, mtu: number, tries = 3): Promise<ProbeResult> {
    for (let i = 0; i < tries; i++) {
      const rtt = await this.ping(target, mtu);
      if (rtt !== undefined) return { ok: true, mtu, rttMs: rtt };
    }
    const small = Math.min(IPV6_MIN_MTU, mtu);
    if ((await this.ping(target, small)) === undefined && (await this.ping(target, small)) === undefined)
      return { ok: false, mtu, reason: `no reply from ${target} over the overlay (VXLAN traffic blocked, or the peer's data plane is down)` };
    // Binary search the largest size that passes.
    let lo = small;
    let hi = mtu;
    while (hi - lo > 8) {
      const mid = Math.floor((lo + hi) / 2);
      if ((await this.ping(target, mid, 500)) !== undefined) lo = mid;
      else hi = mid;
    }
    return { ok: false, mtu, passesUpTo: lo, reason: `packets of ${mtu} bytes are dropped on the way (about ${lo} pass): lower --mtu to ${lo} or raise the underlay MTU` };
  }

  close(): void {
    this.closed = true;
    void this.sock?.then((s) => s.close(), () => undefined);
    this.sock = undefined;
    for (const done of this.waiting.values()) done(undefined);
    this.waiting.clear();
  }
}
