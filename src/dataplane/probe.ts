/**
 * Data path health: ICMPv6 echo between bridges' link-local addresses, sent
 * through the overlay (bridge → VXLAN → underlay) at the full overlay MTU
 * with "don't fragment", over a raw socket. A full-size reply proves the path
 * carries MTU-sized frames; when it fails, a small probe and a binary search
 * tell "dead path" from "path that drops large packets" and find the size
 * that still passes, so the failure is reported instead of silently eating
 * large packets.
 */
import { createRequire } from 'node:module';
import { randomInt } from 'node:crypto';

const require = createRequire(import.meta.url);

interface RawSocket {
  on(event: 'message', cb: (buf: Buffer, source: string) => void): void;
  on(event: 'error', cb: (e: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, address: string, cb: (err: Error | null, bytes: number) => void): void;
  setOption(level: number, option: number, value: number | Buffer, length?: number): void;
  close(): void;
}

interface RawSocketModule {
  createSocket(opts: { protocol: number; addressFamily: number }): RawSocket;
  AddressFamily: { IPv6: number };
  SocketLevel: { IPPROTO_IPV6: number; SOL_SOCKET: number };
  SocketOption: { SO_BINDTODEVICE: number };
}

const ICMPV6 = 58;
const ECHO_REQUEST = 128;
const ECHO_REPLY = 129;
/** IPV6_DONTFRAG from <netinet/in.h>; raw-socket does not export it. */
const IPV6_DONTFRAG = 62;
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
  private sock?: RawSocket;
  private readonly id = randomInt(1, 0xffff);
  private seq = 0;
  /** Set by close(): a probe still running must not open a new socket, which would keep a stopped daemon alive. */
  private closed = false;
  private readonly waiting = new Map<number, (rttMs: number | undefined) => void>();

  constructor(private readonly bridge: string) {}

  private socket(): RawSocket {
    if (this.closed) throw new Error('the prober is closed');
    if (this.sock) return this.sock;
    const raw = require('raw-socket') as RawSocketModule;
    const s = raw.createSocket({ protocol: ICMPV6, addressFamily: raw.AddressFamily.IPv6 });
    s.setOption(raw.SocketLevel.IPPROTO_IPV6, IPV6_DONTFRAG, 1);
    // Replies and requests for other peers arrive on this socket too; only ours resolve.
    s.on('message', (buf) => {
      if (buf.length < ICMP_HEADER || buf[0] !== ECHO_REPLY || buf.readUInt16BE(4) !== this.id) return;
      const seq = buf.readUInt16BE(6);
      const done = this.waiting.get(seq);
      if (done) {
        this.waiting.delete(seq);
        done(buf.length >= ICMP_HEADER + 8 ? Number(process.hrtime.bigint() - buf.readBigUInt64BE(ICMP_HEADER)) / 1e6 : 0);
      }
    });
    s.on('error', () => {
      this.sock = undefined;
    });
    this.sock = s;
    return s;
  }

  /** One echo of a whole IPv6 packet of `size` bytes; the RTT in ms, or undefined on timeout or send error. */
  ping(target: string, size: number, timeoutMs = 1_000): Promise<number | undefined> {
    const payload = Math.max(8, size - IPV6_HEADER - ICMP_HEADER);
    const seq = (this.seq = (this.seq + 1) & 0xffff);
    const buf = Buffer.alloc(ICMP_HEADER + payload);
    buf[0] = ECHO_REQUEST;
    buf.writeUInt16BE(this.id, 4);
    buf.writeUInt16BE(seq, 6);
    buf.writeBigUInt64BE(process.hrtime.bigint(), ICMP_HEADER);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(seq, (rtt: number | undefined) => {
        clearTimeout(timer);
        resolve(rtt);
      });
      try {
        // The kernel fills in the ICMPv6 checksum on raw sockets.
        this.socket().send(buf, 0, buf.length, `${target}%${this.bridge}`, (err) => {
          if (!err) return;
          clearTimeout(timer);
          this.waiting.delete(seq);
          resolve(undefined);
        });
      } catch {
        clearTimeout(timer);
        this.waiting.delete(seq);
        resolve(undefined);
      }
    });
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
    this.sock?.close();
    this.sock = undefined;
    for (const done of this.waiting.values()) done(undefined);
    this.waiting.clear();
  }
}
