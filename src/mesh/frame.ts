/**
 * Length-prefixed frames: a 4-byte big-endian body length, then the body.
 * The decoder is streaming (TCP may split or join frames anywhere) and refuses
 * a length above the maximum before buffering it, so a peer cannot make us
 * allocate arbitrary memory.
 */
export const MAX_FRAME_BYTES = 1024 * 1024;
const HEADER = 4;

export class FrameError extends Error {}

export function encodeFrame(body: Uint8Array, max = MAX_FRAME_BYTES): Buffer {
  if (body.length > max) throw new FrameError(`frame of ${body.length} bytes exceeds maximum ${max}`);
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, HEADER);
  return out;
}

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly max = MAX_FRAME_BYTES) {}

  /** Feed bytes; returns the complete frame bodies. Throws FrameError on an oversized length. */
  push(data: Uint8Array): Buffer[] {
    this.chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.buffered += data.byteLength;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffered < HEADER) break;
      const head = this.peek(HEADER);
      const len = head.readUInt32BE(0);
      if (len > this.max) throw new FrameError(`frame length ${len} exceeds maximum ${this.max}`);
      if (this.buffered < HEADER + len) break;
      const all = this.take(HEADER + len);
      frames.push(all.subarray(HEADER));
    }
    return frames;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    // A chunk that is exactly one frame is handed on as it is; otherwise the frame is copied so it does not pin the rest.
    const out = joined.length === n ? joined : Buffer.from(joined.subarray(0, n));
    const rest = joined.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered -= n;
    return out;
  }
}
