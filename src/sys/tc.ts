/** Traffic control (`tc`) through one `tc -batch` process per call. */
import { run, runUnchecked, type RunOptions } from './exec.js';

/**
 * Run every command even if some fail (a device deleted meanwhile, say) and
 * return what they printed, failures ("Cannot find device …") in `errors`.
 */
export async function tcBatchAll(lines: string[], opts: RunOptions = {}): Promise<{ stdout: string; errors: string }> {
  if (lines.length === 0) return { stdout: '', errors: '' };
  const r = await runUnchecked('tc', ['-force', '-batch', '-'], { ...opts, input: lines.join('\n') + '\n' });
  return { stdout: r.stdout, errors: r.stderr };
}

/**
 * An `ip` batch and, only if it succeeds, a `tc` batch, in one process: a
 * device and its filters are set up with one process start instead of two in
 * a row (each costs the daemon ~4 ms on a busy host).
 */
export async function ipThenTcBatch(ipLines: string[], tcLines: string[], opts: RunOptions = {}): Promise<void> {
  await run('sh', ['-c', 'ip -batch - && printf %s "$1" | tc -batch -', 'sh', tcLines.join('\n') + '\n'], { ...opts, input: ipLines.join('\n') + '\n' });
}
