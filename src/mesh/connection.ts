/**
 * One control connection: handshake (hello, version, optional password proof),
 * then framed messages with heartbeats. Any protocol violation closes this
 * connection only and reports why; nothing here throws to the caller.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { PeerName } from '../lib/peer-name.js';
import { encodeFrame, FrameDecoder, FrameError } from './frame.js';
import {
  decodeHello,
  decodeMessage,
  ENCRYPTED_MIN_VERSION,
  negotiateVersion,
  PROTOCOL_NAME,
  ProtocolError,
  type Hello,
  type HelloWire,
  type PeerIdentity,
  type Message,
} from './protocol.js';
import {
  deriveSessionKeys,
  FrameOpener,
  FrameSealer,
  newEphemeralKey,
  proofFor,
  verifyProof,
  type EphemeralKey,
  type SessionKeys,
} from './session-crypto.js';
import type { PasswordKey } from './password-key.js';
import type { ByteStream } from './transport.js';

export interface LocalIdentity {
  name: PeerName;
  nickname: string;
  uid: string;
  port: number;
  /** Derived once per process from the password (password-key.ts); set means encrypted. */
  passwordKey?: PasswordKey;
  minVersion: number;
  maxVersion: number;
}

export interface ConnectionTimings {
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  handshakeTimeoutMs: number;
}

export interface ConnectionEvents {
  onReady(conn: Connection): void;
  onMessage(conn: Connection, msg: Message, bytes: number): void;
  /** `permanent` marks refusals that a quick retry cannot fix (self, wrong password, version). */
  onClose(conn: Connection, reason: string, permanent: boolean): void;
  onProtocolError?(conn: Connection, reason: string): void;
  /** The stream had filled up (`congested`) and has emptied: send what was held back. */
  onDrain?(conn: Connection): void;
}

type State = 'hello' | 'proof' | 'established' | 'closed';

export class Connection {
  state: State = 'hello';
  remote?: Hello;
  version = 0;
  readonly startedAt: number;
  establishedAt = 0;
  info: string[] = [];
  /**
   * The stream's buffer is full: the peer is not reading. Until it drains,
   * nothing but a 'bye' is written, so what we hold for a slow peer is bounded
   * by its buffer plus one message; the router keeps what it could not send.
   */
  congested = false;
  private lastReceived: number;
  private readonly decoder = new FrameDecoder();
  private ownHelloBody!: Buffer;
  private eph?: EphemeralKey;
  private keys?: SessionKeys;
  /** The encrypted peer's hello, until its sealed proof says who it is. */
  private pendingHello?: HelloWire;
  private sealer?: FrameSealer;
  private opener?: FrameOpener;
  private handshakeTimer?: TimerHandle;
  /** Our sealed proof went out, or the peer broke the protocol, and no handshake completed: it counts as a failure. */
  private failedDuringHandshake = false;
  /** When we last put a frame on the wire: a connection that carried anything since the last heartbeat needs none. */
  private lastSent: number;

  constructor(
    readonly stream: ByteStream,
    readonly outbound: boolean,
    readonly connId: string,
    private readonly local: LocalIdentity,
    private readonly clock: Clock,
    private readonly timings: ConnectionTimings,
    private readonly log: Logger,
    private readonly events: ConnectionEvents,
    /** The target we dialed, for outbound connections. */
    readonly target?: string,
  ) {
    this.startedAt = clock.now();
    this.lastReceived = this.startedAt;
    this.lastSent = this.startedAt;
  }

  get encrypted(): boolean {
    return this.sealer !== undefined;
  }

  /** Host part of the remote address. */
  get remoteHost(): string {
    return hostOf(this.stream.remoteAddress);
  }

  /** Address at which the remote peer accepts connections (host + its listen port). */
  get remoteListenAddress(): string {
    return this.remote ? `${this.remoteHost}:${this.remote.port}` : this.stream.remoteAddress;
  }

  private identity(): PeerIdentity {
    return { name: this.local.name, nickname: this.local.nickname, uid: this.local.uid, connId: this.connId, port: this.local.port };
  }

  start(): void {
    const hello: HelloWire = {
      protocol: PROTOCOL_NAME,
      minVersion: this.minVersion(),
      maxVersion: this.local.maxVersion,
      encrypted: this.local.passwordKey !== undefined,
    };
    // With a password the hello carries only the key exchange: who we are goes in the first sealed frame.
    if (this.local.passwordKey !== undefined) {
      this.eph = newEphemeralKey();
      hello.pub = this.eph.publicB64;
    } else Object.assign(hello, this.identity());
    this.ownHelloBody = Buffer.from(JSON.stringify(hello));
    this.writeRaw(this.ownHelloBody);
    // Armed before the readers: bytes already buffered may complete the handshake
    // at once, and a timer armed after that would close an established connection.
    this.handshakeTimer = this.clock.setTimeout(
      () => this.close(`handshake not completed within ${this.timings.handshakeTimeoutMs} ms`),
      this.timings.handshakeTimeoutMs,
    );
    // Attach readers only now: bytes already buffered may be delivered at once.
    this.stream.onData((d) => this.receive(d));
    this.stream.onDrain(() => {
      if (!this.congested || this.state === 'closed') return;
      this.congested = false;
      this.events.onDrain?.(this);
    });
    this.stream.onClose((err) => this.finish(err ? `connection lost: ${err.message}` : 'connection closed by peer', false));
  }

  /** Send a message; returns the bytes put on the wire (0 if not established, or congested). */
  send(msg: Message): number {
    if (msg.t === 'bye' && this.state === 'established') return this.writeBody(Buffer.from(JSON.stringify(msg)));
    return this.sendEncoded(Buffer.from(JSON.stringify(msg)));
  }

  /** Send a message already encoded as JSON (gossip encodes once for all its recipients). */
  sendEncoded(body: Buffer): number {
    if (this.state !== 'established' || this.congested) return 0;
    return this.writeBody(body);
  }

  close(reason: string, permanent = false): void {
    if (this.state === 'closed') return;
    this.finish(reason, permanent);
    this.stream.close();
  }

  private writeBody(body: Buffer): number {
    return this.writeRaw(this.sealer ? this.sealer.seal(body) : body);
  }

  private writeRaw(body: Buffer): number {
    const frame = encodeFrame(body);
    if (!this.stream.write(frame)) this.congested = true;
    this.lastSent = this.clock.now();
    return frame.length;
  }

  private receive(data: Uint8Array): void {
    if (this.state === 'closed') return;
    let frames: Buffer[];
    try {
      frames = this.decoder.push(data);
    } catch (e) {
      this.reject(e instanceof FrameError ? e.message : String(e));
      return;
    }
    for (const f of frames) {
      if ((this.state as State) === 'closed') return;
      this.lastReceived = this.clock.now();
      try {
        this.handleFrame(f);
      } catch (e) {
        if (e instanceof ProtocolError) this.reject(e.message, e.permanent);
        else this.reject(`internal error: ${(e as Error).message}`);
        return;
      }
    }
  }

  private reject(reason: string, permanent = false): void {
    if (this.state !== 'established') this.failedDuringHandshake = true;
    this.events.onProtocolError?.(this, reason);
    this.close(reason, permanent);
  }

  private handleFrame(body: Buffer): void {
    switch (this.state) {
      case 'hello':
        return this.handleHello(body);
      case 'proof': {
        let plain: Buffer;
        try {
          plain = this.opener!.open(body);
        } catch {
          // Sealed with keys from another password: it does not open.
          throw new ProtocolError(`peer at ${this.stream.remoteAddress} failed password authentication (wrong password?)`, true);
        }
        const msg = decodeMessage(plain);
        if (msg.t !== 'proof') throw new ProtocolError(`expected password proof, got "${msg.t}"`);
        if (!verifyProof(this.keys!, !this.outbound, msg.mac)) {
          throw new ProtocolError(`peer ${msg.name}(${msg.nickname}) failed password authentication (wrong password?)`, true);
        }
        const { t: _t, mac: _mac, ...identity } = msg;
        this.adopt(this.pendingHello!, identity);
        return this.becomeEstablished();
      }
      case 'established': {
        const plain = this.opener ? this.opener.open(body) : body;
        const msg = decodeMessage(plain);
        if (msg.t === 'bye') {
          this.close(`peer closed the connection: ${msg.reason}`, false);
          return;
        }
        if (msg.t === 'hb') return;
        this.events.onMessage(this, msg, body.length + 4);
        return;
      }
      case 'closed':
        return;
    }
  }

  private handleHello(body: Buffer): void {
    const { hello, identity } = decodeHello(body);
    const wePassword = this.local.passwordKey !== undefined;
    if (wePassword && hello.encrypted && hello.maxVersion < ENCRYPTED_MIN_VERSION) {
      throw new ProtocolError(
        `peer at ${this.stream.remoteAddress} speaks only protocol v${hello.maxVersion}, whose password handshake can be guessed offline; upgrade it (v${ENCRYPTED_MIN_VERSION} or later is needed with a password)`,
        true,
      );
    }
    this.version = negotiateVersion(hello, this.minVersion(), this.local.maxVersion);
    if (hello.encrypted !== wePassword) {
      const who = identity ? `peer ${identity.name}(${identity.nickname})` : `peer at ${this.stream.remoteAddress}`;
      throw new ProtocolError(wePassword ? `${who} has no password set but we require one` : `${who} requires a password but we have none`, true);
    }
    if (!wePassword) {
      this.adopt(hello, identity!);
      return this.becomeEstablished();
    }
    const initiatorHello = this.outbound ? this.ownHelloBody : body;
    const responderHello = this.outbound ? body : this.ownHelloBody;
    this.keys = deriveSessionKeys(this.eph!, hello.pub!, this.local.passwordKey!, initiatorHello, responderHello, this.outbound);
    this.sealer = new FrameSealer(this.keys.sendKey);
    this.opener = new FrameOpener(this.keys.recvKey);
    this.pendingHello = hello;
    this.state = 'proof';
    // Whoever got this proof can test password guesses against it offline: until they prove theirs, it counts as a failure.
    this.failedDuringHandshake = true;
    this.writeBody(Buffer.from(JSON.stringify({ t: 'proof', mac: proofFor(this.keys, this.outbound), ...this.identity() })));
  }

  /** Our floor: with a password, never below the version whose key derivation resists offline guessing. */
  private minVersion(): number {
    return this.local.passwordKey !== undefined ? Math.max(this.local.minVersion, ENCRYPTED_MIN_VERSION) : this.local.minVersion;
  }

  /** The remote's identity is known (from its hello, or its sealed proof): refuse ourselves. */
  private adopt(hello: HelloWire, identity: PeerIdentity): void {
    if (identity.name === this.local.name) {
      throw new ProtocolError(identity.uid === this.local.uid ? 'connected to ourselves' : `peer uses our own name ${identity.name}`, true);
    }
    this.remote = { ...hello, ...identity };
  }

  /** The handshake failed in a way worth slowing its address down for (not a connection lost before any proof). */
  get handshakeFailed(): boolean {
    return this.establishedAt === 0 && this.failedDuringHandshake;
  }

  private becomeEstablished(): void {
    this.clock.clearTimeout(this.handshakeTimer);
    this.state = 'established';
    this.establishedAt = this.clock.now();
    this.events.onReady(this);
  }

  /**
   * One heartbeat tick, driven by the router for all its connections at once
   * (one timer, not one per connection): close a connection silent for longer
   * than the heartbeat timeout, and send a heartbeat on one that has carried
   * nothing of ours for about a heartbeat interval (any frame proves we are alive).
   */
  heartbeat(): void {
    if (this.state !== 'established') return;
    const now = this.clock.now();
    if (now - this.lastReceived > this.timings.heartbeatTimeoutMs) {
      this.close(`no traffic from peer for ${this.timings.heartbeatTimeoutMs} ms (heartbeat timeout)`);
      return;
    }
    // A congested peer is not reading: a heartbeat would only queue behind the backlog.
    // The router ticks at half the interval; the slack lets a tick a little early still count.
    if (!this.congested && now - this.lastSent >= this.timings.heartbeatMs * 0.9) this.writeBody(Buffer.from('{"t":"hb"}'));
  }

  private finish(reason: string, permanent: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clock.clearTimeout(this.handshakeTimer);
    this.log.debug('connection closed', { connId: this.connId, reason });
    this.events.onClose(this, reason, permanent);
  }
}

export function hostOf(address: string): string {
  if (address.startsWith('[')) return address.slice(1, address.indexOf(']'));
  const i = address.lastIndexOf(':');
  return i > 0 && address.indexOf(':') === i ? address.slice(0, i) : address;
}
