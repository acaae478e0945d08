/**
 * `overlay <command> --help` for every command exits 0 and names every flag
 * the parser accepts for it, read from the parser's own table: a flag added
 * without help text fails here (and does not compile: FlagDef needs `help`).
 */
import { execa } from 'execa';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, type CommandSpec } from '../../../src/cli/commands.js';
import { bashCompletion } from '../../../src/cli/help.js';

// The executable (npm run build makes it): what users run, and it starts in milliseconds.
const CLI = resolve(__dirname, '../../../dist/overlay');
const run = (args: string[]) => execa(CLI, args, { reject: false });
const commands = Object.entries(COMMANDS) as [string, CommandSpec][];

describe('overlay <command> --help', () => {
  it.each(commands)('%s --help and -h list every flag with its help, and an example', async (name, spec) => {
    for (const asked of [[name, '--help'], [name, '-h'], ['help', name]]) {
      const r = await run(asked);
      expect(r.exitCode, `${asked.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: overlay ${name}`));
      for (const [flag, def] of Object.entries(spec.flags)) {
        expect(def.help.trim(), `--${flag} of ${name} has no help text`).not.toBe('');
        expect(r.stdout, `--${flag} of ${name}`).toContain(`--${flag}`);
        expect(r.stdout).toContain(def.help);
      }
      expect(r.stdout).toMatch(/Examples:\n {2}overlay /);
    }
  });

  it('overlay help lists every command', async () => {
    const r = await run(['help']);
    expect(r.exitCode).toBe(0);
    for (const [name] of commands) expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
  });

  it('a mistake names the command whose help to read', async () => {
    const r = await run(['status', '--bogus']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('unknown option "--bogus" for "status"');
    expect(r.stderr).toContain('overlay status --help');
  });

  it('the bash completion offers every command and every flag of each', async () => {
    const script = bashCompletion();
    for (const [name, spec] of commands) {
      const line = new RegExp(`^    ${name}\\) words="([^"]*)"`, 'm').exec(script)?.[1]?.split(' ') ?? [];
      for (const flag of Object.keys(spec.flags)) expect(line, `${name} --${flag}`).toContain(`--${flag}`);
    }
    // It is valid bash, and completes "overlay st" to status and stop.
    const r = await execa('bash', ['-c', `${script}\nCOMP_WORDS=(overlay st); COMP_CWORD=1; _overlay; echo "\${COMPREPLY[@]}"`]);
    expect(r.stdout.split(' ').sort()).toEqual(['status', 'stop']);
  });
});
