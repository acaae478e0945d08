import { CniError, ErrorCode } from './spec/errors.js';

/**
 * Read all of a stream, refusing more than `limit` bytes, so a runaway
 * writer cannot make the plugin buffer without bound.
 */
export async function readBounded(stream: AsyncIterable<Uint8Array | string>, limit: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf: Uint8Array = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > limit) throw new CniError(ErrorCode.Decode, `network config on stdin exceeds ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}
