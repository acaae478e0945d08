/** The real transport: TCP via node:net, with a dial timeout and no Nagle delay. */
import net from 'node:net';
import type { ByteStream, Transport } from './transport.js';

class TcpStream implements ByteStream {
  readonly remoteAddress: string;
  readonly localHost: string;
  private closed = false;
  private closeCbs: ((e?: Error) => void)[] = [];

  constructor(private readonly socket: net.Socket) {
    const host = socket.remoteAddress ?? '?';
    this.remoteAddress = host.includes(':') ? `[${host}]:${socket.remotePort}` : `${host}:${socket.remotePort}`;
    this.localHost = socket.localAddress ?? '';
    socket.setNoDelay(true);
    let lastError: Error | undefined;
    socket.on('error', (e) => (lastError = e));
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      for (const cb of this.closeCbs) cb(lastError);
    });
  }

  write(data: Uint8Array): boolean {
    if (this.closed || this.socket.destroyed) return true; // nothing will drain; the close is on its way
    return this.socket.write(data);
  }

  onDrain(cb: () => void): void {
    this.socket.on('drain', cb);
  }

  /** Bytes Node holds for this socket, not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  onData(cb: (data: Uint8Array) => void): void {
    this.socket.on('data', cb);
  }

  onClose(cb: (reason?: Error) => void): void {
    this.closeCbs.push(cb);
  }

  close(): void {
    this.socket.end();
    // Do not wait for a peer that never acknowledges the FIN.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}

export class TcpTransport implements Transport {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly opts: { host?: string; port: number; dialTimeoutMs?: number },
  ) {}

  listen(onConnection: (stream: ByteStream) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        this.track(socket);
        onConnection(new TcpStream(socket));
      });
      server.once('error', reject);
      server.listen({ host: this.opts.host ?? '0.0.0.0', port: this.opts.port }, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        this.server = server;
        resolve();
      });
    });
  }

  /** The port actually bound (useful when listening on port 0 in tests). */
  get boundPort(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  dial(target: string): Promise<ByteStream> {
    const { host, port } = splitHostPort(target, this.opts.port);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect ${host}:${port} timed out`));
      }, this.opts.dialTimeoutMs ?? 5000);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        this.track(socket);
        resolve(new TcpStream(socket));
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(`connect ${host}:${port}: ${e.code ?? e.message}`));
      });
    });
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export function splitHostPort(target: string, defaultPort: number): { host: string; port: number } {
  if (target.startsWith('[')) {
    const end = target.indexOf(']');
    const port = target.slice(end + 1).startsWith(':') ? Number(target.slice(end + 2)) : defaultPort;
    return { host: target.slice(1, end), port };
  }
  const parts = target.split(':');
  if (parts.length === 2) return { host: parts[0]!, port: Number(parts[1]) };
  return { host: target, port: defaultPort };
}
