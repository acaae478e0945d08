/**
 * The plugin's stdin and stdout. In the installed (Bun) executable they go
 * through Bun's native handles: Node's process.stdin stream costs ~14 ms to
 * set up there, as much as the reference plugin's whole ADD. Under Node
 * (tests) the process streams are used.
 */
import { readBounded } from './stdin.js';

declare const Bun: { stdin: { stream(): AsyncIterable<Uint8Array> }; stdout: unknown; write(dest: unknown, data: string): Promise<number> } | undefined;

export function readStdin(limit: number): Promise<string> {
  return readBounded(typeof Bun !== 'undefined' ? Bun.stdin.stream() : process.stdin, limit);
}

/** True when stdin is a terminal: then there is no config to wait for. */
export function stdinIsTerminal(): boolean {
  return typeof Bun === 'undefined' ? process.stdin.isTTY === true : false;
}

export async function writeStdout(text: string): Promise<void> {
  if (typeof Bun !== 'undefined') {
    await Bun.write(Bun.stdout, text);
    return;
  }
  await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
}
