/** iproute2 `bridge fdb`: forwarding database entries of bridges and VXLAN devices. */
import { parseJsonList, run, type RunOptions } from './exec.js';

export interface FdbEntry {
  mac: string;
  ifname: string;
  /** VXLAN remote (the device's own table). */
  dst?: string;
  /** Set for entries of the bridge's table. */
  master?: string;
  flags: string[];
  state?: string;
}

/** Entries of one device, or of every port of a bridge (`br`). */
export async function fdbShow(sel: { dev?: string; br?: string }, opts: RunOptions = {}): Promise<FdbEntry[]> {
  const args = ['-j', 'fdb', 'show', ...(sel.br ? ['br', sel.br] : []), ...(sel.dev ? ['dev', sel.dev] : [])];
  return parseJsonList<FdbEntry>(await run('bridge', args, opts));
}

/** Several `bridge` commands in one process; -force keeps going past one failure. */
export async function bridgeBatch(lines: string[], opts: RunOptions = {}): Promise<void> {
  if (lines.length === 0) return;
  await run('bridge', ['-force', '-batch', '-'], { ...opts, input: lines.join('\n') + '\n' });
}
