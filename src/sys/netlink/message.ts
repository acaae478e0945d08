/**
 * Netlink message encoding and decoding (linux/netlink.h): a header, a fixed
 * family header, then type-length-value attributes aligned to 4 bytes.
 * Pure byte work, so it runs (and is tested) anywhere; sending is the
 * socket's job.
 */

export const NLM_F = {
  REQUEST: 0x1,
  ACK: 0x4,
  ECHO: 0x8,
  ROOT: 0x100,
  MATCH: 0x200,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
} as const;
export const NLM_F_DUMP = NLM_F.ROOT | NLM_F.MATCH;
/** Attributes holding attributes carry this flag in their type. */
export const NLA_F_NESTED = 0x8000;

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_HDRLEN = 16;

const align4 = (n: number) => (n + 3) & ~3;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Appends little-endian (host order on the machines we run on) fields and attributes. */
export class NlWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  get length(): number {
    return this.len;
  }

  u8(v: number): this {
    this.room(1);
    this.view.setUint8(this.len, v);
    this.len += 1;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.view.setUint16(this.len, v, true);
    this.len += 2;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.len, v >>> 0, true);
    this.len += 4;
    return this;
  }

  i32(v: number): this {
    this.room(4);
    this.view.setInt32(this.len, v, true);
    this.len += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** Zeros up to the next 4-byte boundary. */
  pad(): this {
    const to = align4(this.len);
    this.room(to - this.len);
    this.buf.fill(0, this.len, to);
    this.len = to;
    return this;
  }

  attr(type: number, payload: Uint8Array): this {
    this.u16(4 + payload.length).u16(type).bytes(payload);
    return this.pad();
  }

  attrU8(type: number, v: number): this {
    return this.attr(type, Uint8Array.of(v));
  }

  attrU16(type: number, v: number): this {
    return this.attr(type, new NlWriter().u16(v).done());
  }

  attrU32(type: number, v: number): this {
    return this.attr(type, new NlWriter().u32(v).done());
  }

  /** A NUL-terminated string, as the kernel expects names and kinds. */
  attrStr(type: number, s: string): this {
    return this.attr(type, encoder.encode(s + '\0'));
  }

  /** An attribute whose payload is written by `fill`; its length is patched in afterwards. */
  nest(type: number, fill: (w: this) => void): this {
    const start = this.len;
    this.u16(0).u16(type | NLA_F_NESTED);
    fill(this);
    this.view.setUint16(start, this.len - start, true);
    return this.pad();
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }
}

/**
 * One request: the netlink header (its length filled in; sequence number 0,
 * set by the socket as it sends), the family header, then the attributes.
 */
export function nlRequest(type: number, flags: number, body: (w: NlWriter) => void): Uint8Array {
  const w = new NlWriter();
  w.u32(0).u16(type).u16(flags).u32(0).u32(0);
  body(w);
  const msg = w.done();
  new DataView(msg.buffer).setUint32(0, msg.length, true);
  return msg;
}

export function setSequence(msg: Uint8Array, seq: number): void {
  new DataView(msg.buffer, msg.byteOffset).setUint32(8, seq, true);
}

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  /** Everything after the netlink header. */
  payload: Uint8Array;
}

/** The messages in one datagram; a truncated tail is an error, not a silent stop. */
export function parseMessages(data: Uint8Array): NlMessage[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= data.length) {
    const len = view.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > data.length) throw new Error(`malformed netlink message (length ${len} at ${off} of ${data.length})`);
    out.push({ type: view.getUint16(off + 4, true), flags: view.getUint16(off + 6, true), seq: view.getUint32(off + 8, true), payload: data.subarray(off + NLMSG_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/** The errno of an NLMSG_ERROR message (0 is an acknowledgement). */
export function errnoOf(m: NlMessage): number {
  const e = new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, true);
  return e === 0 ? 0 : -e;
}

/** Attributes after a fixed header of `skip` bytes, by type (the nested flag masked off). */
export function parseAttrs(payload: Uint8Array, skip = 0): Map<number, Uint8Array> {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = new Map<number, Uint8Array>();
  let off = skip;
  while (off + 4 <= payload.length) {
    const len = view.getUint16(off, true);
    if (len < 4 || off + len > payload.length) break;
    out.set(view.getUint16(off + 2, true) & ~NLA_F_NESTED & 0xffff, payload.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export function readU32(b: Uint8Array, off = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}

export function readStr(b: Uint8Array): string {
  const end = b.indexOf(0);
  return decoder.decode(end < 0 ? b : b.subarray(0, end));
}
