/**
 * The plugin's stdin and stdout, in the installed (Bun) executable: stdin is
 * read with plain read(2) calls (libc.ts) and stdout written through Bun's
 * native handle. Node-style process streams cost the plugin ~14 ms to set up
 * there, as much as the reference plugin's whole ADD.
 */
import { address, EINTR, errno, errnoText, libc } from '../src/sys/libc.js';
import { readBounded } from './stdin.js';

declare const Bun: { stdout: unknown; write(dest: unknown, data: string): Promise<number> };

function* stdinChunks(): Generator<Uint8Array> {
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = libc().read(0, address(buf), buf.length);
    if (n === 0) return;
    if (n < 0) {
      const e = errno();
      if (e === EINTR) continue;
      throw new Error(errnoText(e));
    }
    yield buf.slice(0, n);
  }
}

export function readStdin(limit: number): string {
  return readBounded(stdinChunks(), limit);
}

export async function writeStdout(text: string): Promise<void> {
  await Bun.write(Bun.stdout, text);
}
