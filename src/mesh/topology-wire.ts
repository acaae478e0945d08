/**
 * The compact wire form of topology records (protocol v3 and later): one
 * binary payload, sent in a binary gossip frame (protocol.ts), so nothing is
 * base64'd or JSON-quoted. Names (6 bytes) go once per message in a table,
 * each with the address that edges to it usually carry; an edge is then one
 * varint of (name index, outbound bit, "other address" bit): 2 bytes while a
 * message names fewer than 4,096 peers, 3 bytes up to 524,288. Each record
 * states the byte length of its edges, so a receiver that already holds that
 * version skips them unread: during a join most records arrive several
 * times, once from each neighbour, and a skipped one costs a few reads.
 *
 *   u8 format (1)
 *   varint names;   per name (fixed size, so found by index): 6 bytes, u24 usual address (index + 1, 0 = none)
 *   varint address table bytes; varint addresses, each an address
 *   varint records; per record: varint name index, f64 version, uid, string nickname,
 *                   varint edge bytes, edges
 *   edge:    varint (name index·4 + other·2 + outbound) [, varint address index if other]
 *   address: u8 4 + 4 bytes IPv4 + u16 port | u8 1 + string
 *   uid:     varint (length·2 + hex), then the bytes (hex-packed when it is even-length lowercase hex)
 *   string:  varint length, UTF-8
 */
import type { PeerName } from '../lib/peer-name.js';
import { ProtocolError } from './protocol.js';
import type { ConnRecord, PeerRecord } from './topology.js';

const FORMAT = 1;

/** Decoded records are immutable values, one per (name, uid, version): a pool may hand out one shared copy. */
export interface RecordPool {
  get(name: PeerName, uid: string, version: number): PeerRecord | undefined;
  add(r: PeerRecord): void;
}

export interface DecodeOptions {
  maxRecords: number;
  maxConns: number;
  /** False for a record the receiver already holds at this version or newer: its edges are skipped unread. (`uid` only breaks ties.) */
  wants?(name: PeerName, version: number, uid: () => string): boolean;
  pool?: RecordPool;
}

class Writer {
  private buf = Buffer.allocUnsafe(1024);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  u8(x: number): void {
    this.room(1);
    this.buf[this.length++] = x;
  }

  varint(x: number): void {
    this.room(8);
    while (x >= 0x80) {
      this.buf[this.length++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.length++] = x;
  }

  f64(x: number): void {
    this.room(8);
    this.buf.writeDoubleBE(x, this.length);
    this.length += 8;
  }

  u16(x: number): void {
    this.room(2);
    this.buf.writeUInt16BE(x, this.length);
    this.length += 2;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    if (b.length <= 16) for (let i = 0; i < b.length; i++) this.buf[this.length + i] = b[i]!;
    else this.buf.set(b, this.length);
    this.length += b.length;
  }

  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.varint(b.length);
    this.bytes(b);
  }

  done(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** Splice `inner` in at the current end, prefixed by its length. */
  lengthPrefixed(inner: Writer): void {
    this.varint(inner.length);
    this.bytes(inner.buf.subarray(0, inner.length));
  }
}

class Reader {
  pos = 0;
  readonly buf: Buffer;
  constructor(b: Uint8Array) {
    this.buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new ProtocolError('malformed compact topology: truncated');
  }

  get left(): number {
    return this.buf.length - this.pos;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  varint(): number {
    let x = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      x += (b & 0x7f) * scale;
      if (b < 0x80) return x;
      scale *= 0x80;
    }
    throw new ProtocolError('malformed compact topology: varint too long');
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  /** A string of n bytes at the current position (no copy of the bytes first). */
  text(n: number, encoding: 'utf8' | 'hex'): string {
    this.need(n);
    const s = this.buf.toString(encoding, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  string(max: number): string {
    const n = this.varint();
    if (n > max) throw new ProtocolError('malformed compact topology: string too long');
    return this.text(n, 'utf8');
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3}):(\d{1,5})$/;
const HEX = /^(?:[0-9a-f]{2})+$/;

/**
 * Names and addresses recur in every message, so their encodings (and the
 * decoded name strings, which then hash once) are kept in small caches,
 * emptied when they grow past a bound a hostile peer cannot push us beyond.
 */
class BoundedCache<K, V> {
  private readonly m = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(k: K, make: (k: K) => V): V {
    let v = this.m.get(k);
    if (v === undefined) {
      if (this.m.size >= this.max) this.m.clear();
      this.m.set(k, (v = make(k)));
    }
    return v;
  }
}

const CACHE_ENTRIES = 50_000;
const addressBytes = new BoundedCache<string, Buffer>(CACHE_ENTRIES);
const nameBytesCache = new BoundedCache<PeerName, Buffer>(CACHE_ENTRIES);
/** By the name's high and low 24 bits (small integers make cheap map keys). */
const nameStrings = new Map<number, Map<number, PeerName>>();
let nameStringCount = 0;

/** 4 bytes and a port when the address is a canonical IPv4 host:port (so it decodes to the same string), else the string. */
function encodeAddress(address: string): Buffer {
  const w = new Writer();
  const m = IPV4.exec(address);
  const parts = m ? m.slice(1).map(Number) : [];
  if (m && parts.slice(0, 4).every((p, i) => p <= 255 && String(p) === m[i + 1]) && parts[4]! <= 65535 && String(parts[4]) === m[5]) {
    w.u8(4);
    for (const p of parts.slice(0, 4)) w.u8(p);
    w.u16(parts[4]!);
  } else {
    w.u8(1);
    w.string(address);
  }
  return Buffer.from(w.done());
}

function readAddress(r: Reader): string {
  const kind = r.u8();
  if (kind === 4) {
    r.need(6);
    const b = r.buf;
    const p = r.pos;
    r.pos += 4;
    return `${b[p]}.${b[p + 1]}.${b[p + 2]}.${b[p + 3]}:${r.u16()}`;
  }
  if (kind === 1) return r.string(300);
  throw new ProtocolError('malformed compact topology: address kind');
}

function nameBytes(name: PeerName): Buffer {
  return nameBytesCache.get(name, (n) => Buffer.from(n.replaceAll(':', ''), 'hex'));
}

function nameAt(buf: Buffer, at: number): PeerName {
  const hi = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
  const lo = (buf[at + 3]! << 16) | (buf[at + 4]! << 8) | buf[at + 5]!;
  let inner = nameStrings.get(hi);
  if (!inner) nameStrings.set(hi, (inner = new Map()));
  let s = inner.get(lo);
  if (s === undefined) {
    if (nameStringCount >= CACHE_ENTRIES) {
      nameStrings.clear();
      nameStringCount = 0;
      nameStrings.set(hi, (inner = new Map()));
    }
    const h = buf.toString('hex', at, at + 6);
    s = `${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}:${h.slice(6, 8)}:${h.slice(8, 10)}:${h.slice(10, 12)}`;
    inner.set(lo, s);
    nameStringCount++;
  }
  return s;
}

const NAME_ENTRY = 9;
const MAX_ADDRESSES = 0xfffffe;

/** Scratch space reused by every encode (encoding is synchronous); the result is copied out. */
const scratchEdges = new Writer();
const scratchBody = new Writer();
const scratchTable = new Writer();
const scratchOut = new Writer();

/**
 * Encoding without a map lookup per edge: each distinct name and address has
 * one slot, stamped with the message being encoded and its index there, and
 * each record (immutable) keeps the slots of its edges. A full mesh forwards
 * records of N edges N times over, so this is most of the encoder's work.
 */
interface Slot {
  bytes: Buffer;
  stamp: number;
  index: number;
  /** Names only: the address slot edges to this name usually carry, in the current message. */
  usual?: Slot;
}

const nameSlots = new BoundedCache<PeerName, Slot>(CACHE_ENTRIES);
const addressSlots = new BoundedCache<string, Slot>(CACHE_ENTRIES);
interface RecordSlots {
  owner: Slot;
  peers: Slot[];
  addresses: Slot[];
  /** The record's version, uid and nickname as encoded: the same in every message that carries it. */
  head: Buffer;
}
const recordSlots = new WeakMap<PeerRecord, RecordSlots>();
let stamp = 0;

function encodeHead(rec: PeerRecord): Buffer {
  const w = new Writer();
  w.f64(rec.version);
  const hex = HEX.test(rec.uid);
  const uid = Buffer.from(rec.uid, hex ? 'hex' : 'utf8');
  w.varint(uid.length * 2 + (hex ? 1 : 0));
  w.bytes(uid);
  w.string(rec.nickname);
  return Buffer.from(w.done());
}

function slotsOf(rec: PeerRecord): RecordSlots {
  let r = recordSlots.get(rec);
  if (!r) {
    const name = (n: PeerName) => nameSlots.get(n, () => ({ bytes: nameBytes(n), stamp: 0, index: 0 }));
    const addr = (a: string) => addressSlots.get(a, () => ({ bytes: addressBytes.get(a, encodeAddress), stamp: 0, index: 0 }));
    r = { owner: name(rec.name), peers: rec.conns.map((c) => name(c.peer)), addresses: rec.conns.map((c) => addr(c.address)), head: encodeHead(rec) };
    recordSlots.set(rec, r);
  }
  return r;
}

/**
 * A message's shared part (format, names, addresses) and each record's body
 * (offsets into one buffer): a message carrying only some of these records,
 * as a delta narrowed for one neighbour does, is assembled from them without
 * encoding again, its tables naming a few peers it does not use.
 */
export interface EncodedTopology {
  head: Buffer;
  body: Buffer;
  /** Record k's body is body[at[k], at[k + 1]). */
  at: number[];
}

export function encodeTopology(records: PeerRecord[]): Buffer {
  return assembleTopology(encodeTopologyParts(records));
}

/** The message carrying the records at indexes `keep` (ascending) of an encoding, or all of them. */
export function assembleTopology(enc: EncodedTopology, keep?: readonly number[]): Buffer {
  const count = keep ? keep.length : enc.at.length - 1;
  const w = scratchOut;
  w.length = 0;
  w.bytes(enc.head);
  w.varint(count);
  if (!keep) w.bytes(enc.body);
  else for (const k of keep) w.bytes(enc.body.subarray(enc.at[k]!, enc.at[k + 1]!));
  return Buffer.from(w.done());
}

export function encodeTopologyParts(records: PeerRecord[]): EncodedTopology {
  const now = ++stamp;
  const names: Slot[] = [];
  const addresses: Slot[] = [];
  const useName = (sl: Slot): void => {
    if (sl.stamp === now) return;
    sl.stamp = now;
    sl.index = names.length;
    sl.usual = undefined;
    names.push(sl);
  };
  const useAddress = (sl: Slot): void => {
    if (sl.stamp === now) return;
    if (addresses.length >= MAX_ADDRESSES) throw new RangeError('too many addresses for one topology message');
    sl.stamp = now;
    sl.index = addresses.length;
    addresses.push(sl);
  };
  // Index every name, with the address the first edge to it carries as its usual one.
  const slots = records.map(slotsOf);
  for (const rs of slots) {
    useName(rs.owner);
    for (let i = 0; i < rs.peers.length; i++) {
      const p = rs.peers[i]!;
      useName(p);
      if (!p.usual) useAddress((p.usual = rs.addresses[i]!));
    }
  }
  const edges = scratchEdges;
  const body = scratchBody;
  body.length = 0;
  const at: number[] = [];
  records.forEach((rec, k) => {
    at.push(body.length);
    const rs = slots[k]!;
    body.varint(rs.owner.index);
    body.bytes(rs.head);
    edges.length = 0;
    for (let i = 0; i < rs.peers.length; i++) {
      const p = rs.peers[i]!;
      const a = rs.addresses[i]!;
      const other = a !== p.usual;
      edges.varint(p.index * 4 + (other ? 2 : 0) + (rec.conns[i]!.outbound ? 1 : 0));
      if (other) {
        useAddress(a);
        edges.varint(a.index);
      }
    }
    body.lengthPrefixed(edges);
  });
  at.push(body.length);
  const table = scratchTable;
  table.length = 0;
  table.varint(addresses.length);
  for (const a of addresses) table.bytes(a.bytes);
  const w = scratchOut;
  w.length = 0;
  w.u8(FORMAT);
  w.varint(names.length);
  for (const n of names) {
    w.bytes(n.bytes);
    const a = n.usual ? n.usual.index + 1 : 0;
    w.u8(a >>> 16);
    w.u16(a & 0xffff);
  }
  w.lengthPrefixed(table);
  return { head: Buffer.from(w.done()), body: Buffer.from(body.done()), at };
}

export function decodeTopology(payload: Uint8Array, opts: DecodeOptions): PeerRecord[] {
  const r = new Reader(payload);
  const buf = r.buf;
  if (r.u8() !== FORMAT) throw new ProtocolError('malformed compact topology: unknown format');
  // The tables are only located here; a name or address is read when a record needs it.
  const nNames = r.varint();
  if (nNames * NAME_ENTRY > r.left) throw new ProtocolError('malformed compact topology: names');
  const namesAt = r.pos;
  r.skip(nNames * NAME_ENTRY);
  const tableBytes = r.varint();
  const tableAt = r.pos;
  r.skip(tableBytes);
  const name = (i: number): PeerName => {
    if (i >= nNames) throw new ProtocolError('compact topology refers to no name');
    return nameAt(buf, namesAt + i * NAME_ENTRY);
  };
  let addressStrings: string[] | undefined;
  const address = (i: number): string => {
    if (!addressStrings) {
      // First use in this message: read the whole table.
      const t = new Reader(buf.subarray(tableAt, tableAt + tableBytes));
      const n = t.varint();
      if (n > t.left) throw new ProtocolError('malformed compact topology: addresses');
      addressStrings = [];
      for (let k = 0; k < n; k++) addressStrings.push(readAddress(t));
      if (t.left !== 0) throw new ProtocolError('malformed compact topology: address table');
    }
    const a = addressStrings[i];
    if (a === undefined) throw new ProtocolError('compact topology edge refers to no address');
    return a;
  };
  const usualAddress = (i: number): string => {
    const at = namesAt + i * NAME_ENTRY + 6;
    return address(((buf[at]! << 16) | buf.readUInt16BE(at + 1)) - 1);
  };
  const nRecords = r.varint();
  if (nRecords > opts.maxRecords || nRecords > r.left) throw new ProtocolError('malformed compact topology: records');
  const out: PeerRecord[] = [];
  // The current record's uid, read only if asked for (a version tie, or a record kept).
  let uidHead = 0;
  let uidLen = 0;
  let uidAt = 0;
  let uidString: string | undefined;
  const uid = (): string => {
    if (uidString === undefined) {
      uidString = buf.toString(uidHead % 2 ? 'hex' : 'utf8', uidAt, uidAt + uidLen);
      if (uidString.length > 64) throw new ProtocolError('malformed compact topology: uid too long');
    }
    return uidString;
  };
  for (let k = 0; k < nRecords; k++) {
    const owner = name(r.varint());
    const version = r.f64();
    if (!Number.isFinite(version)) throw new ProtocolError('malformed compact topology: version');
    uidHead = r.varint();
    uidLen = Math.floor(uidHead / 2);
    uidAt = r.pos;
    uidString = undefined;
    r.skip(uidLen);
    const nickLen = r.varint();
    if (nickLen > 256) throw new ProtocolError('malformed compact topology: nickname too long');
    const nickAt = r.pos;
    r.skip(nickLen);
    const edgeBytes = r.varint();
    r.need(edgeBytes);
    if (opts.wants && !opts.wants(owner, version, uid)) {
      r.skip(edgeBytes);
      continue;
    }
    const pooled = opts.pool?.get(owner, uid(), version);
    if (pooled) {
      r.skip(edgeBytes);
      out.push(pooled);
      continue;
    }
    const nickname = buf.toString('utf8', nickAt, nickAt + nickLen);
    if (nickname.length > 64) throw new ProtocolError('malformed compact topology record');
    const end = r.pos + edgeBytes;
    const conns: ConnRecord[] = [];
    while (r.pos < end) {
      if (conns.length >= opts.maxConns) throw new ProtocolError('malformed compact topology: too many connections');
      const word = r.varint();
      const index = Math.floor(word / 4);
      const peer = name(index);
      conns.push({ peer, address: word & 2 ? address(r.varint()) : usualAddress(index), outbound: (word & 1) === 1 });
    }
    if (r.pos !== end) throw new ProtocolError('malformed compact topology: edges overrun');
    const rec: PeerRecord = { name: owner, nickname, uid: uid(), version, conns };
    opts.pool?.add(rec);
    out.push(rec);
  }
  if (r.left !== 0) throw new ProtocolError('malformed compact topology: trailing bytes');
  return out;
}
