import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from '../../../src/mesh/frame.js';
import { seededRandom } from '../../../src/lib/random.js';

describe('frames', () => {
  it('round-trips frames split at every possible byte boundary', () => {
    const bodies = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(3000, 7)];
    const wire = Buffer.concat(bodies.map((b) => encodeFrame(b)));
    for (let cut = 0; cut <= wire.length; cut += 7) {
      const d = new FrameDecoder();
      const got = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
      expect(got.map((b) => b.toString('hex'))).toEqual(bodies.map((b) => b.toString('hex')));
      expect(d.pending).toBe(0);
    }
  });

  it('delivers one byte at a time', () => {
    const wire = encodeFrame(Buffer.from('{"t":"hb"}'));
    const d = new FrameDecoder();
    const got: Buffer[] = [];
    for (const byte of wire) got.push(...d.push(Buffer.from([byte])));
    expect(got.map(String)).toEqual(['{"t":"hb"}']);
  });

  it('refuses an oversized length before buffering the body', () => {
    const d = new FrameDecoder();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME_BYTES + 1);
    expect(() => d.push(head)).toThrow(FrameError);
    expect(() => encodeFrame(Buffer.alloc(MAX_FRAME_BYTES + 1))).toThrow(/exceeds maximum/);
  });

  it('holds a truncated frame without emitting it', () => {
    const d = new FrameDecoder();
    const wire = encodeFrame(Buffer.from('truncated'));
    expect(d.push(wire.subarray(0, wire.length - 1))).toEqual([]);
    expect(d.pending).toBe(wire.length - 1);
  });

  it('fuzz: random bytes never crash the decoder, only FrameError or frames', () => {
    const seed = Number(process.env['SEED'] ?? 1234);
    const rand = seededRandom(seed);
    for (let i = 0; i < 5000; i++) {
      const d = new FrameDecoder(4096);
      const len = Math.floor(rand() * 64);
      const buf = Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
      try {
        for (const f of d.push(buf)) expect(f.length).toBeLessThanOrEqual(4096);
      } catch (e) {
        expect(e, `seed ${seed} case ${i}`).toBeInstanceOf(FrameError);
      }
    }
  });
});
