/**
 * An in-memory network for simulations: every node is a "host" string, links
 * deliver bytes after a random delay on a SimClock, and the test can cut
 * links (partition: data stops flowing, so heartbeats time out), refuse new
 * connections, reset connections at random (a lossy link as TCP sees it), and
 * kill a node outright.
 */
import type { SimClock } from '../lib/clock.js';
import type { Random } from '../lib/random.js';
import type { ByteStream, Transport } from './transport.js';

export interface SimNetworkOptions {
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Probability that a delivery resets the connection instead (per message). */
  resetProbability?: number;
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

  constructor(
    private readonly net: SimNetwork,
    readonly localHost: string,
    readonly remoteHost: string,
    readonly remoteAddress: string,
  ) {}

  write(data: Uint8Array): void {
    if (this.closed) return;
    const copy = data.slice(); // the writer may reuse its buffer, as with a socket (slice copies in one go; from() iterates)
    this.net.bytes += copy.length;
    if (this.net.isCut(this.localHost, this.remoteHost)) return; // silently lost: the partition
    if (this.net.random() < this.net.opts.resetProbability) {
      this.net.resets++;
      this.net.clock.setTimeout(() => this.abort(new Error('connection reset')), 1);
      return;
    }
    const now = this.net.clock.now();
    const at = Math.max(now + this.net.delay(), this.lastDeliveryAt);
    this.lastDeliveryAt = at;
    this.net.clock.setTimeout(() => {
      if (!this.other.closed && !this.net.isCut(this.localHost, this.remoteHost)) this.other.deliver(copy);
    }, at - now);
  }

  private deliver(d: Uint8Array): void {
    if (this.dataCb) this.dataCb(d);
    else this.early.push(d);
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
    this.opts = { minDelayMs: 1, maxDelayMs: 20, resetProbability: 0, ...opts };
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
