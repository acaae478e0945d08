/** A classic BPF interpreter for the opcodes src/lib/cbpf.ts emits: filters are tested by running them. */
import { OP, type Insn } from '../../../src/lib/cbpf.js';

/** Runs a program on a frame (Ethernet header at offset 0) and returns its verdict; a load past the end returns 0, as the kernel does. */
export function runCbpf(prog: Insn[], frame: Uint8Array): number {
  let a = 0;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  for (let pc = 0; pc < prog.length; pc++) {
    const i = prog[pc]!;
    switch (i.code) {
      case OP.LD_W_ABS:
        if (i.k + 4 > frame.length) return 0;
        a = view.getUint32(i.k);
        break;
      case OP.LD_H_ABS:
        if (i.k + 2 > frame.length) return 0;
        a = view.getUint16(i.k);
        break;
      case OP.LD_W_LEN:
        a = frame.length;
        break;
      case OP.ALU_AND_K:
        a = (a & i.k) >>> 0;
        break;
      case OP.JEQ_K:
        pc += a === i.k ? i.jt : i.jf;
        break;
      case OP.JGE_K:
        pc += a >= i.k ? i.jt : i.jf;
        break;
      case OP.JA:
        pc += i.k;
        break;
      case OP.RET_K:
        return i.k;
      default:
        throw new Error(`opcode ${i.code} not supported`);
    }
  }
  throw new Error('program ran off its end');
}

const macBytes = (m: string) => m.split(':').map((x) => parseInt(x, 16));
const ipBytes = (ip: string) => ip.split('.').map(Number);

export function ipFrame(o: { dstMac: string; srcMac: string; src: string; dst: string }): Uint8Array {
  const ip = new Array(20).fill(0);
  ip[0] = 0x45;
  ip[9] = 1;
  ip.splice(12, 8, ...ipBytes(o.src), ...ipBytes(o.dst));
  return Uint8Array.from([...macBytes(o.dstMac), ...macBytes(o.srcMac), 0x08, 0x00, ...ip, ...new Array(8).fill(0)]);
}

export function arpFrame(o: { srcMac: string; sha?: string; spa: string; tpa: string; dstMac?: string }): Uint8Array {
  const arp = [0, 1, 8, 0, 6, 4, 0, 1, ...macBytes(o.sha ?? o.srcMac), ...ipBytes(o.spa), 0, 0, 0, 0, 0, 0, ...ipBytes(o.tpa)];
  return Uint8Array.from([...macBytes(o.dstMac ?? 'ff:ff:ff:ff:ff:ff'), ...macBytes(o.srcMac), 0x08, 0x06, ...arp]);
}
