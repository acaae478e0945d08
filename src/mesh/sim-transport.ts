/**
 * An in-memory network for simulations: every node is a "host" string, links
 * deliver bytes after a random delay on a SimClock, and the test can cut
 * links (partition: data stops flowing, so heartbeats time out), refuse new
 * connections, reset connections at random (a lossy link as TCP sees it),
 * kill a node outright, or make it stop reading (a stopped process: what is
 * sent to it piles up in its peers' send buffers, up to a window, as with TCP).
 */
import type { SimClock } from '../lib/clock.js';
import type { Random } from '../lib/random.js';
import type { ByteStream, Transport } from './transport.js';

export interface SimNetworkOptions {
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Probability that a delivery resets the connection instead (per message). */
  resetProbability?: number;
  /** Bytes a stream may have unread at the far end before write() reports a full buffer. */
  windowBytes?: number;
}

class SimStream implements ByteStream {
  other!: SimStream;
  closed = false;
  private dataCb?: (d: Uint8Array) => void;
  /** Bytes that arrived before the owner attached a reader (a socket buffers them too). */
  private early: Uint8Array[] = [];
  private closeCb: (e?: Error) => void = () => undefined;
  /** Deliveries are ordered per stream, like TCP. */
  private lastDeliveryAt = 0;
  /** Written by us and not yet read by the far end: what a real sender would hold in its buffers. */
  unread = 0;
  private wantDrain = false;
  private drainCb: () => void = () => undefined;
  /** Delivered while our host was not reading. */
  private held: Uint8Array[] = [];

  constructor(
    private readonly net: SimNetwork,
    readonly localHost: string,
    readonly remoteHost: string,
    readonly remoteAddress: string,
  ) {}

  write(data: Uint8Array): boolean {
    if (this.closed) return true;
    const copy = data.slice(); // the writer may reuse its buffer, as with a socket (slice copies in one go; from() iterates)
    this.net.bytes += copy.length;
    this.unread += copy.length;
    const ok = this.unread < this.net.opts.windowBytes;
    if (!ok) this.wantDrain = true;
    if (this.net.isCut(this.localHost, this.remoteHost)) return ok; // silently lost: the partition
    if (this.net.random() < this.net.opts.resetProbability) {
      this.net.resets++;
      this.net.clock.setTimeout(() => this.abort(new Error('connection reset')), 1);
      return ok;
    }
    const now = this.net.clock.now();
    const at = Math.max(now + this.net.delay(), this.lastDeliveryAt);
    this.lastDeliveryAt = at;
    this.net.clock.setTimeout(() => {
      if (!this.other.closed && !this.net.isCut(this.localHost, this.remoteHost)) this.other.deliver(copy);
    }, at - now);
    return ok;
  }

  private deliver(d: Uint8Array): void {
    if (this.net.isPaused(this.localHost)) this.held.push(d);
    else this.consume(d);
  }

  private consume(d: Uint8Array): void {
    const sender = this.other;
    sender.unread -= d.length;
    if (sender.wantDrain && sender.unread === 0 && !sender.closed) {
      sender.wantDrain = false;
      sender.drainCb();
    }
    if (this.dataCb) this.dataCb(d);
    else this.early.push(d);
  }

  /** Our host reads again: hand over what arrived meanwhile. */
  resume(): void {
    const held = this.held;
    this.held = [];
    for (const d of held) if (!this.closed) this.consume(d);
  }

  onDrain(cb: () => void): void {
    this.drainCb = cb;
  }

  onData(cb: (d: Uint8Array) => void): void {
    this.dataCb = cb;
    const early = this.early;
    this.early = [];
    for (const d of early) cb(d);
  }

  onClose(cb: (e?: Error) => void): void {
    this.closeCb = cb;
  }

  close(): void {
    this.abort();
  }

  /** Close both ends (the far end learns after a delay, unless the link is cut). */
  abort(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.net.unregister(this);
    this.closeCb(err);
    const other = this.other;
    if (this.net.isCut(this.localHost, this.remoteHost)) return; // the far end will time out instead
    this.net.clock.setTimeout(() => {
      if (other.closed) return;
      other.closed = true;
      this.net.unregister(other);
      other.closeCb(err ?? new Error('closed by peer'));
    }, this.net.delay());
  }

  /** Local process death: our end vanishes; the far end sees a reset (kernel RST). */
  kill(): void {
    this.abort(new Error('connection reset by peer'));
  }
}

export class SimNetwork {
  readonly opts: Required<SimNetworkOptions>;
  bytes = 0;
  resets = 0;
  private readonly listeners = new Map<string, (s: ByteStream) => void>();
  private readonly streams = new Map<string, Set<SimStream>>();
  private readonly cuts = new Set<string>();
  private nextPort = 40000;

  constructor(
    readonly clock: SimClock,
    readonly random: Random,
    opts: SimNetworkOptions = {},
  ) {
    this.opts = { minDelayMs: 1, maxDelayMs: 20, resetProbability: 0, windowBytes: 256 * 1024, ...opts };
  }

  private readonly paused = new Set<string>();

  isPaused(host: string): boolean {
    return this.paused.has(host);
  }

  /** The host's process stops reading its connections (it still runs and writes). */
  stopReading(host: string): void {
    this.paused.add(host);
  }

  resumeReading(host: string): void {
    this.paused.delete(host);
    for (const s of [...(this.streams.get(host) ?? [])]) s.resume();
  }

  /** Bytes the other hosts hold, written to `host` and not yet read by it. */
  heldFor(host: string): number {
    let n = 0;
    for (const s of this.streams.get(host) ?? []) n += s.other.unread;
    return n;
  }

  delay(): number {
    return this.opts.minDelayMs + Math.floor(this.random() * (this.opts.maxDelayMs - this.opts.minDelayMs + 1));
  }

  transport(host: string): Transport {
    return {
      listen: async (onConnection) => {
        this.listeners.set(host, onConnection);
      },
      dial: (target) => this.dial(host, target),
      close: async () => {
        this.listeners.delete(host);
        for (const s of [...(this.streams.get(host) ?? [])]) s.close();
      },
    };
  }

  private dial(from: string, target: string): Promise<ByteStream> {
    const to = target.split(':')[0]!;
    return new Promise((resolve, reject) => {
      this.clock.setTimeout(() => {
        const accept = this.listeners.get(to);
        if (this.isCut(from, to)) return reject(new Error(`connect ${target}: timed out`));
        if (!accept) return reject(new Error(`connect ${target}: ECONNREFUSED`));
        const port = this.nextPort++;
        const a = new SimStream(this, from, to, `${to}:6783`);
        const b = new SimStream(this, to, from, `${from}:${port}`);
        a.other = b;
        b.other = a;
        this.register(a);
        this.register(b);
        accept(b);
        resolve(a);
      }, this.delay());
    });
  }

  private register(s: SimStream): void {
    let set = this.streams.get(s.localHost);
    if (!set) this.streams.set(s.localHost, (set = new Set()));
    set.add(s);
  }

  unregister(s: SimStream): void {
    this.streams.get(s.localHost)?.delete(s);
  }

  private key(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  isCut(a: string, b: string): boolean {
    return this.cuts.has(this.key(a, b));
  }

  /** Cut (or heal) every link between two groups of hosts. */
  partition(groupA: string[], groupB: string[], cut = true): void {
    for (const a of groupA) for (const b of groupB) {
      if (cut) this.cuts.add(this.key(a, b));
      else this.cuts.delete(this.key(a, b));
    }
  }

  healAll(): void {
    this.cuts.clear();
  }

  /** A host dies: it stops listening and its connections reset. */
  kill(host: string): void {
    this.listeners.delete(host);
    for (const s of [...(this.streams.get(host) ?? [])]) s.kill();
  }
}
