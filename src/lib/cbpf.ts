/**
 * A tiny assembler for classic BPF, the packet filter language `tc … bpf
 * bytecode "…"` loads. It knows the handful of instructions a fixed-offset
 * frame filter needs (loads, AND, equality and >= jumps, goto, return) and resolves
 * jump labels, so filters are written as readable steps and unit-tested by
 * running them (see test/unit/lib/cbpf-run.ts).
 */

/** Where a conditional jump goes: a label, or the next step. */
export type Target = string | 'next';

export type Step =
  | { label: string }
  | { loadWord: number }
  | { loadHalf: number }
  | { loadLength: true }
  | { and: number }
  | { ifEqual: number; then: Target; else: Target }
  | { ifAtLeast: number; then: Target; else: Target }
  | { goto: string }
  | { ret: number };

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// Opcodes from linux/filter.h.
export const OP = {
  LD_W_ABS: 0x20,
  LD_H_ABS: 0x28,
  LD_W_LEN: 0x80,
  ALU_AND_K: 0x54,
  JEQ_K: 0x15,
  JGE_K: 0x35,
  JA: 0x05,
  RET_K: 0x06,
} as const;

/** Steps to instructions; throws on an unknown label or a jump longer than classic BPF allows (255). */
export function assemble(steps: Step[]): Insn[] {
  const labels = new Map<string, number>();
  let n = 0;
  for (const s of steps) {
    if ('label' in s) {
      if (labels.has(s.label)) throw new Error(`cBPF label "${s.label}" defined twice`);
      labels.set(s.label, n);
    } else n++;
  }
  const out: Insn[] = [];
  const offset = (t: Target, at: number): number => {
    if (t === 'next') return 0;
    const to = labels.get(t);
    if (to === undefined) throw new Error(`cBPF label "${t}" is not defined`);
    const off = to - (at + 1);
    if (off < 0 || off > 255) throw new Error(`cBPF jump to "${t}" is ${off} steps: only 0..255 forward`);
    return off;
  };
  for (const s of steps) {
    const at = out.length;
    if ('label' in s) continue;
    if ('loadWord' in s) out.push({ code: OP.LD_W_ABS, jt: 0, jf: 0, k: s.loadWord });
    else if ('loadHalf' in s) out.push({ code: OP.LD_H_ABS, jt: 0, jf: 0, k: s.loadHalf });
    else if ('loadLength' in s) out.push({ code: OP.LD_W_LEN, jt: 0, jf: 0, k: 0 });
    else if ('and' in s) out.push({ code: OP.ALU_AND_K, jt: 0, jf: 0, k: s.and >>> 0 });
    else if ('ifEqual' in s) out.push({ code: OP.JEQ_K, jt: offset(s.then, at), jf: offset(s.else, at), k: s.ifEqual >>> 0 });
    else if ('ifAtLeast' in s) out.push({ code: OP.JGE_K, jt: offset(s.then, at), jf: offset(s.else, at), k: s.ifAtLeast >>> 0 });
    else if ('goto' in s) out.push({ code: OP.JA, jt: 0, jf: 0, k: offset(s.goto, at) });
    else out.push({ code: OP.RET_K, jt: 0, jf: 0, k: s.ret >>> 0 });
  }
  if (out.length === 0 || out[out.length - 1]!.code !== OP.RET_K) throw new Error('a cBPF program must end with a return');
  return out;
}

/** The text `tc … bpf bytecode` takes: "<count>,<code> <jt> <jf> <k>,…". */
export function bytecode(insns: Insn[]): string {
  return [String(insns.length), ...insns.map((i) => `${i.code} ${i.jt} ${i.jf} ${i.k}`)].join(',');
}

/** The instructions as the kernel takes them over netlink: struct sock_filter[] (8 bytes each, host byte order). */
export function sockFilter(insns: Insn[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach((i, n) => {
    view.setUint16(n * 8, i.code, true);
    view.setUint8(n * 8 + 2, i.jt);
    view.setUint8(n * 8 + 3, i.jf);
    view.setUint32(n * 8 + 4, i.k >>> 0, true);
  });
  return out;
}
