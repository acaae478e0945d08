/**
 * The CLI's argument parsing: node:util's parseArgs (in Node and Bun alike)
 * splits the command line; this module holds the flag tables' shape and turns
 * every mistake into one clear UsageError (exit code 2). Each flag is
 * declared once, with its type and its help text, so `overlay <command>
 * --help` and the bash completion are generated from the same table the
 * parser reads, and a flag cannot exist without help.
 */
import { parseArgs as splitArgs } from 'node:util';

export class UsageError extends Error {}

export type FlagType = 'string' | 'number' | 'boolean';
export interface FlagDef {
  type: FlagType;
  /** One line for `--help`. */
  help: string;
  /** The value's placeholder in `--help` (e.g. CIDR, SECONDS); defaults to the type. */
  value?: string;
}
export type FlagSpec = Record<string, FlagDef>;
export type FlagValues = Record<string, string | number | boolean | undefined>;

export interface ParsedArgs {
  positionals: string[];
  flags: FlagValues;
}

/** `--help` and `-h` are accepted by every command. */
export const HELP_FLAG = 'help';

export function parseArgs(argv: string[], spec: FlagSpec, command: string): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { [HELP_FLAG]: { type: 'boolean', short: 'h' } };
  for (const [name, def] of Object.entries(spec)) options[name] = { type: def.type === 'boolean' ? 'boolean' : 'string' };
  // Not strict: every token is checked below, so each mistake gets this CLI's own message.
  const { tokens } = splitArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const positionals: string[] = [];
  const flags: FlagValues = {};
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    // A negative number is a value, not a short option.
    if (/^-\d/.test(t.rawName)) {
      positionals.push(argv[t.index]!);
      continue;
    }
    if (t.name === HELP_FLAG) {
      flags[HELP_FLAG] = true;
      continue;
    }
    const def = spec[t.name];
    if (!def || !t.rawName.startsWith('--')) throw new UsageError(`unknown option "${t.rawName}" for "${command}"`);
    if (def.type === 'boolean') {
      if (t.inlineValue && !['true', 'false'].includes(t.value ?? '')) throw new UsageError(`--${t.name} takes no value`);
      flags[t.name] = t.value !== 'false';
      continue;
    }
    if (t.value === undefined) throw new UsageError(`--${t.name} needs a value`);
    if (def.type === 'number') {
      const n = Number(t.value);
      if (t.value.trim() === '' || !Number.isInteger(n)) throw new UsageError(`--${t.name} must be a whole number, got "${t.value}"`);
      flags[t.name] = n;
    } else {
      flags[t.name] = t.value;
    }
  }
  return { positionals, flags };
}
