/** Traffic control (`tc`) through one `tc -batch` process per call. */
import { run, runUnchecked, type RunOptions } from './exec.js';

/** Run several `tc` commands in one process; stops at the first failure. */
export async function tcBatch(lines: string[], opts: RunOptions = {}): Promise<void> {
  if (lines.length === 0) return;
  await run('tc', ['-batch', '-'], { ...opts, input: lines.join('\n') + '\n' });
}

/**
 * Run every command even if some fail (a device deleted meanwhile, say) and
 * return what they printed, failures ("Cannot find device …") in `errors`.
 */
export async function tcBatchAll(lines: string[], opts: RunOptions = {}): Promise<{ stdout: string; errors: string }> {
  if (lines.length === 0) return { stdout: '', errors: '' };
  const r = await runUnchecked('tc', ['-force', '-batch', '-'], { ...opts, input: lines.join('\n') + '\n' });
  return { stdout: r.stdout, errors: r.stderr };
}
