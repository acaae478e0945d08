/**
 * A small, strict argument parser: every flag must be declared, values are
 * typed, and mistakes produce one clear UsageError (exit code 2).
 */
export class UsageError extends Error {}

export type FlagType = 'string' | 'number' | 'boolean';
export type FlagSpec = Record<string, FlagType>;
export type FlagValues = Record<string, string | number | boolean | undefined>;

export interface ParsedArgs {
  positionals: string[];
  flags: FlagValues;
}

export function parseArgs(argv: string[], spec: FlagSpec, command: string): ParsedArgs {
  const positionals: string[] = [];
  const flags: FlagValues = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) throw new UsageError(`unknown option "${arg}" for "${command}"`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq > 0 ? eq : undefined);
    const type = spec[name];
    if (!type) throw new UsageError(`unknown option "--${name}" for "${command}"`);
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (type === 'boolean') {
      if (value !== undefined && !['true', 'false'].includes(value)) throw new UsageError(`--${name} takes no value`);
      flags[name] = value !== 'false';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    }
    if (type === 'number') {
      const n = Number(value);
      if (!Number.isInteger(n)) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
      flags[name] = n;
    } else {
      flags[name] = value;
    }
  }
  return { positionals, flags };
}
