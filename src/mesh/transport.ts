/**
 * The byte-stream transport under the mesh. The daemon uses TCP; simulations
 * use an in-memory implementation driven by a SimClock. The router never
 * sees anything but this interface.
 */
export interface ByteStream {
  /** "host:port" of the other end as seen by this end. */
  readonly remoteAddress: string;
  /** Host part of our own end; what the peer would dial to reach us (for discovery). */
  readonly localHost: string;
  /**
   * Queue bytes. Returns false once the stream's buffer is full (the peer is
   * not reading fast enough): the caller should hold further data until onDrain.
   */
  write(data: Uint8Array): boolean;
  /** Called each time a full buffer has emptied after write() returned false. */
  onDrain(cb: () => void): void;
  onData(cb: (data: Uint8Array) => void): void;
  /** Called once, when the stream is closed by either side or fails. */
  onClose(cb: (reason?: Error) => void): void;
  close(): void;
}

export interface Transport {
  /** Start accepting connections. */
  listen(onConnection: (stream: ByteStream) => void): Promise<void>;
  /** Dial "host" or "host:port" (default port is the transport's). Rejects on failure. */
  dial(target: string): Promise<ByteStream>;
  close(): Promise<void>;
}
