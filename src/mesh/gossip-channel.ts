import type { PeerName } from '../lib/peer-name.js';

/**
 * A named gossip channel carried by the mesh. Its state is mergeable:
 *  - encodeFull(): the complete state, sent periodically for anti-entropy and
 *    to every new connection;
 *  - encodeDelta(): what changed locally since the last call (consumed), or
 *    undefined when nothing did;
 *  - merge(): fold in state from a peer and return the part that was new to
 *    us (to be forwarded), or undefined when nothing changed, or
 *    NEW_IN_NEXT_DELTA when what was new goes out in the channel's next
 *    delta, coalesced with other news (the mesh then schedules that delta and
 *    does not send it back to this peer if all of it came from there; a change
 *    of our own made meanwhile, announced with gossip(), goes to everyone).
 * Payloads must be JSON-serialisable; the mesh owns framing and encoding.
 */
/** merge()'s answer when what was new is forwarded in the channel's next delta. */
export const NEW_IN_NEXT_DELTA: unique symbol = Symbol('new, forwarded in the next delta');

export interface GossipChannel {
  readonly name: string;
  encodeFull(): unknown;
  encodeDelta(): unknown | undefined;
  merge(from: PeerName, payload: unknown): unknown | undefined;
  /** A message addressed to this peer on this channel (request/response style). */
  onUnicast?(from: PeerName, payload: unknown): void;
  /**
   * Anti-entropy by digest. With it, periodic rounds and new connections
   * exchange a hash, then (only if it differs) versions, then only the
   * records the other side lacks. Without it the mesh sends encodeFull()
   * each round: fine for a channel whose state is small. (Peers speaking a
   * protocol older than v3 always get full state.)
   */
  readonly digest?: ChannelDigest;
  /**
   * With it, a delta goes to every neighbour, as narrowed here for that
   * neighbour: the payload itself, a part of it, or undefined for nothing.
   * For state whose records each have an owner that tells its own neighbours
   * directly (topology), forwarding a record to the owner's neighbours is
   * waste: a change then costs about N messages, not N times the fan-out.
   */
  narrow?(payload: unknown, to: PeerName): unknown | undefined;
  /** The wire form of a payload for a connection at this protocol version; the payload itself by default. A Uint8Array goes in a binary frame (v3+ only). */
  wireFor?(payload: unknown, protocolVersion: number): unknown;
}

/** See record-versions.ts for an implementation that fits versioned per-key records. */
export interface ChannelDigest {
  /**
   * This channel's digest is newer than the protocol version that brought digests (v3, with the
   * topology's): a peer built before it ignores its hash. So with a connection it is used alone only
   * once the peer's own hashes have named the channel; until then full state goes with the hash.
   */
  readonly announced?: boolean;
  /** Equal hashes mean equal state; cheap (kept up to date as the state changes). */
  hash(): string;
  /** What we hold, as the other side needs it to know what we lack. */
  versions(): unknown;
  /**
   * A peer's versions(): `send` is a merge() payload of what it lacks or holds
   * older (undefined when nothing); `weLack` whether it holds something we do
   * not. Throws ProtocolError when malformed.
   */
  compare(theirs: unknown): { send?: unknown; weLack: boolean };
}

/** What a channel gets back when it registers with the mesh. */
export interface GossipSender {
  /** Local state changed: schedule a (coalesced) gossip of encodeDelta(). */
  gossip(): void;
  /** Send to one peer, routed over the mesh. Returns false if the peer is unreachable now. */
  unicast(to: PeerName, payload: unknown): boolean;
}

/** Membership as the mesh sees it, for channels (IPAM) that need it. */
export interface PeerInfo {
  name: PeerName;
  nickname: string;
  /** A random id per daemon start; tells incarnations apart. */
  uid: string;
  /** Reachable from us over established connections (we are always reachable). */
  reachable: boolean;
}
