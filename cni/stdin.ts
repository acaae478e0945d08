import { CniError, ErrorCode } from './spec/errors.js';

/**
 * Join what a reader yields, refusing more than `limit` bytes, so a runaway
 * writer cannot make the plugin buffer without bound.
 */
export function readBounded(chunks: Iterable<Uint8Array>, limit: number): string {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const chunk of chunks) {
    size += chunk.length;
    if (size > limit) throw new CniError(ErrorCode.Decode, `network config on stdin exceeds ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString('utf8');
}
