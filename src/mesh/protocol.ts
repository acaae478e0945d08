/**
 * The mesh wire protocol: the handshake hello and the messages that follow.
 * Bodies are JSON: easy to debug with tcpdump, plenty fast for control traffic,
 * and the decoder below validates every field, so a hostile peer can only get
 * a ProtocolError (which closes that one connection).
 */
import { isPeerName, type PeerName } from '../lib/peer-name.js';

export const PROTOCOL_NAME = 'overlay';
/** Versions this build speaks. Bump MAX for a new wire feature; raise MIN to drop an old one. */
export const PROTOCOL_MIN_VERSION = 1;
export const PROTOCOL_MAX_VERSION = 3;
/**
 * With a password, v2 is the floor: v1 keyed the handshake with a plain hash
 * of the password, so one captured handshake let anyone test guesses offline
 * at hash speed. v2 keys it with scrypt (password-key.ts). Without a password
 * v1 and v2 are the same on the wire.
 */
export const ENCRYPTED_MIN_VERSION = 2;
/**
 * From v3: topology records in the compact binary encoding (topology-wire.ts), and
 * anti-entropy by digest (the 'ah' and 'av' messages below). An older peer
 * gets the JSON records and full-state anti-entropy.
 */
export const DIGEST_GOSSIP_VERSION = 3;

export class ProtocolError extends Error {
  /** A permanent refusal (talking to ourselves, wrong password) should not be retried quickly. */
  constructor(message: string, readonly permanent = false) {
    super(message);
  }
}

/** Who a peer is. Unencrypted, it travels in the hello; encrypted, only in the first sealed frame. */
export interface PeerIdentity {
  name: PeerName;
  nickname: string;
  uid: string;
  connId: string;
  /** The port this peer listens on, so others can dial it (discovery). */
  port: number;
}

/** The hello as sent: with a password it names only the protocol and the key exchange, never the peer. */
export interface HelloWire extends Partial<PeerIdentity> {
  protocol: string;
  minVersion: number;
  maxVersion: number;
  /** Whether this peer requires password authentication + encryption. */
  encrypted: boolean;
  /** Ephemeral X25519 public key (base64), present when encrypted. */
  pub?: string;
}

/** Everything known about the remote once the handshake is done. */
export type Hello = HelloWire & PeerIdentity;

export type Message =
  | { t: 'hb' }
  | ({ t: 'proof'; mac: string } & PeerIdentity)
  | { t: 'g'; c: string; d: unknown }
  | { t: 'u'; c: string; s: PeerName; r: PeerName; ttl: number; d: unknown }
  | { t: 'bye'; reason: string }
  /** v3+: anti-entropy round, the state hash of every digest channel. */
  | { t: 'ah'; h: Record<string, string> }
  /** v3+: a channel's record versions; `r` = a reply, answer with records only. */
  | { t: 'av'; c: string; v: unknown; r: boolean };

function obj(x: unknown, what: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new ProtocolError(`${what} is not an object`);
  return x as Record<string, unknown>;
}

function str(o: Record<string, unknown>, k: string, max = 256): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max) throw new ProtocolError(`field "${k}" must be a string of at most ${max} chars`);
  return v;
}

function int(o: Record<string, unknown>, k: string, min: number, max: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ProtocolError(`field "${k}" must be an integer in [${min}, ${max}]`);
  return v;
}

function peer(o: Record<string, unknown>, k: string): PeerName {
  const v = str(o, k, 17);
  if (!isPeerName(v)) throw new ProtocolError(`field "${k}" is not a peer name`);
  return v;
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new ProtocolError('frame body is not valid JSON');
  }
}

/** The hello; its identity is there (and checked) only when the peer is not encrypted. */
export function decodeHello(body: Buffer): { hello: HelloWire; identity?: PeerIdentity } {
  const o = obj(parseJson(body), 'hello');
  const protocol = str(o, 'protocol', 32);
  if (protocol !== PROTOCOL_NAME) throw new ProtocolError(`unknown protocol "${protocol}"`, true);
  const hello: HelloWire = {
    protocol,
    minVersion: int(o, 'minVersion', 1, 65535),
    maxVersion: int(o, 'maxVersion', 1, 65535),
    encrypted: o['encrypted'] === true,
  };
  if (hello.minVersion > hello.maxVersion) throw new ProtocolError('hello has minVersion > maxVersion');
  if (hello.encrypted) {
    hello.pub = str(o, 'pub', 64);
    return { hello };
  }
  return { hello, identity: decodeIdentity(o) };
}

export function decodeIdentity(o: Record<string, unknown>): PeerIdentity {
  return { name: peer(o, 'name'), nickname: str(o, 'nickname', 64), uid: str(o, 'uid', 64), connId: str(o, 'connId', 64), port: int(o, 'port', 1, 65535) };
}

/** Pick the highest version both sides speak, honouring our own floor (downgrade protection). */
export function negotiateVersion(theirs: HelloWire, ourMin: number, ourMax: number): number {
  const v = Math.min(theirs.maxVersion, ourMax);
  if (v < Math.max(theirs.minVersion, ourMin)) {
    throw new ProtocolError(
      `no common protocol version: we speak ${ourMin}..${ourMax}, peer speaks ${theirs.minVersion}..${theirs.maxVersion}`,
      true,
    );
  }
  return v;
}

/**
 * v3+: a gossip message whose payload is binary (the compact topology): a
 * marker byte no JSON body starts with, the channel name, the payload.
 */
const BINARY_GOSSIP = 0x01;

export function encodeBinaryGossip(channel: string, payload: Uint8Array): Buffer {
  const c = Buffer.from(channel, 'utf8');
  if (c.length > 64) throw new RangeError('channel name too long');
  const out = Buffer.allocUnsafe(2 + c.length + payload.length);
  out[0] = BINARY_GOSSIP;
  out[1] = c.length;
  c.copy(out, 2);
  out.set(payload, 2 + c.length);
  return out;
}

export function decodeMessage(body: Buffer): Message {
  if (body[0] === BINARY_GOSSIP) {
    const len = body[1];
    if (len === undefined || len > 64 || body.length < 2 + len) throw new ProtocolError('malformed binary gossip message');
    return { t: 'g', c: body.toString('utf8', 2, 2 + len), d: body.subarray(2 + len) };
  }
  const o = obj(parseJson(body), 'message');
  switch (o['t']) {
    case 'hb':
      return { t: 'hb' };
    case 'proof':
      return { t: 'proof', mac: str(o, 'mac', 128), ...decodeIdentity(o) };
    case 'g':
      return { t: 'g', c: str(o, 'c', 64), d: o['d'] };
    case 'u':
      return { t: 'u', c: str(o, 'c', 64), s: peer(o, 's'), r: peer(o, 'r'), ttl: int(o, 'ttl', 0, 255), d: o['d'] };
    case 'bye':
      return { t: 'bye', reason: str(o, 'reason', 512) };
    case 'ah': {
      const h = obj(o['h'], 'field "h"');
      const hashes: Record<string, string> = {};
      const keys = Object.keys(h);
      if (keys.length > 64) throw new ProtocolError('too many channels in an anti-entropy hash');
      for (const k of keys) hashes[k.slice(0, 64)] = str(h, k, 64);
      return { t: 'ah', h: hashes };
    }
    case 'av':
      return { t: 'av', c: str(o, 'c', 64), v: o['v'], r: o['r'] === true };
    default:
      throw new ProtocolError(`unknown message type ${JSON.stringify(o['t'])?.slice(0, 32)}`);
  }
}
