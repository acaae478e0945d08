import { describe, expect, it } from 'vitest';
import { assemble, bytecode, OP } from '../../../src/lib/cbpf.js';
import { runCbpf } from './cbpf-run.js';

describe('classic BPF assembler', () => {
  it('resolves labels into forward jump offsets and prints tc bytecode', () => {
    const prog = assemble([
      { loadHalf: 12 },
      { ifEqual: 0x0800, then: 'yes', else: 'next' },
      { goto: 'no' },
      { label: 'yes' },
      { ret: 0 },
      { label: 'no' },
      { ret: 2 },
    ]);
    expect(prog).toEqual([
      { code: OP.LD_H_ABS, jt: 0, jf: 0, k: 12 },
      { code: OP.JEQ_K, jt: 1, jf: 0, k: 0x800 },
      { code: OP.JA, jt: 0, jf: 0, k: 1 },
      { code: OP.RET_K, jt: 0, jf: 0, k: 0 },
      { code: OP.RET_K, jt: 0, jf: 0, k: 2 },
    ]);
    expect(bytecode(prog)).toBe('5,40 0 0 12,21 1 0 2048,5 0 0 1,6 0 0 0,6 0 0 2');
    const frame = new Uint8Array(14);
    expect(runCbpf(prog, frame)).toBe(2);
    frame[12] = 8;
    expect(runCbpf(prog, frame)).toBe(0);
  });

  it('keeps 32-bit constants unsigned', () => {
    expect(assemble([{ loadWord: 0 }, { and: 0xffffff00 }, { ifEqual: 0xc0a80100, then: 'next', else: 'next' }, { ret: 0 }])[1]!.k).toBe(0xffffff00);
  });

  it('refuses unknown or backward labels, duplicates, and a program without a final return', () => {
    expect(() => assemble([{ goto: 'nowhere' }, { ret: 0 }])).toThrow(/not defined/);
    expect(() => assemble([{ label: 'a' }, { ret: 0 }, { goto: 'a' }, { ret: 0 }])).toThrow(/forward/);
    expect(() => assemble([{ label: 'a' }, { label: 'a' }, { ret: 0 }])).toThrow(/twice/);
    expect(() => assemble([{ loadLength: true }])).toThrow(/end with a return/);
  });
});
