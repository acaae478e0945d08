/** nftables through `nft -f`: whole tables are replaced atomically, and only tables we name. */
import { run, SysError, type RunOptions } from './exec.js';

/**
 * Replace a table with `body` (its chains and rules) in one transaction: the
 * add-then-delete idiom makes it work whether or not the table exists.
 */
export async function replaceTable(family: string, name: string, body: string, opts: RunOptions = {}): Promise<void> {
  const script = `table ${family} ${name} {}\ndelete table ${family} ${name}\ntable ${family} ${name} {\n${body}\n}\n`;
  await run('nft', ['-f', '-'], { ...opts, input: script });
}

/** Delete a table; a missing table is not an error. */
export async function deleteTable(family: string, name: string, opts: RunOptions = {}): Promise<void> {
  try {
    await run('nft', ['delete', 'table', family, name], opts);
  } catch (e) {
    if (e instanceof SysError && /No such file or directory/.test(e.stderr)) return;
    throw e;
  }
}

/** The table as nft prints it, or undefined when it does not exist. */
export async function listTable(family: string, name: string, opts: RunOptions = {}): Promise<string | undefined> {
  try {
    return await run('nft', ['list', 'table', family, name], opts);
  } catch (e) {
    if (e instanceof SysError && /No such file or directory/.test(e.stderr)) return undefined;
    throw e;
  }
}
