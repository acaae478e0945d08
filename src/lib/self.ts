/**
 * Where this program is, whether it runs as the `overlay` executable (Bun
 * --compile: the code lives inside the file, under /$bunfs/) or as
 * `node dist/src/cli/main.js`.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function isExecutable(): boolean {
  return (process.argv[1] ?? '').startsWith('/$bunfs/');
}

/** The command line that runs this same program again with `args`. */
export function selfCommand(args: string[]): { file: string; args: string[] } {
  return isExecutable() ? { file: process.execPath, args } : { file: process.execPath, args: [process.argv[1]!, ...args] };
}

/**
 * The CNI plugin binary that belongs to this build: dist/cni/overlay beside
 * dist/overlay or dist/src/cli/main.js, or, as installed by the package,
 * /opt/cni/bin/overlay.
 */
export function builtPluginPath(): string {
  if (!isExecutable()) return resolve(dirname(fileURLToPath(import.meta.url)), '../../cni/overlay');
  const beside = join(dirname(process.execPath), 'cni', 'overlay');
  return existsSync(beside) ? beside : '/opt/cni/bin/overlay';
}
