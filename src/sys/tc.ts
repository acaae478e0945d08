/** Traffic control (`tc`) through one `tc -batch` process per call. */
import { runUnchecked, type RunOptions } from './exec.js';

/**
 * Run every command even if some fail (a device deleted meanwhile, say) and
 * return what they printed, failures ("Cannot find device …") in `errors`.
 */
export async function tcBatchAll(lines: string[], opts: RunOptions = {}): Promise<{ stdout: string; errors: string }> {
  if (lines.length === 0) return { stdout: '', errors: '' };
  const r = await runUnchecked('tc', ['-force', '-batch', '-'], { ...opts, input: lines.join('\n') + '\n' });
  return { stdout: r.stdout, errors: r.stderr };
}
