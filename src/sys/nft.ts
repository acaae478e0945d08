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

/** An `nft` command's result, or undefined when it failed because the table it names does not exist. */
async function unlessTableMissing<T>(command: Promise<T>): Promise<T | undefined> {
  try {
    return await command;
  } catch (e) {
    if (e instanceof SysError && /No such file or directory/.test(e.stderr)) return undefined;
    throw e;
  }
}

/** Delete a table; a missing table is not an error. */
export async function deleteTable(family: string, name: string, opts: RunOptions = {}): Promise<void> {
  await unlessTableMissing(run('nft', ['delete', 'table', family, name], opts));
}

/** One rule as `nft -j` lists it: where it is and its statements, the verdict last. */
export interface NftRule {
  family: string;
  table: string;
  chain: string;
  expr: Record<string, unknown>[];
}

/**
 * The rules of every table in `nft -j` output, by "family name" (a table without rules
 * maps to []). JSON, not text: `nft` prints text in one write per token (about 1,200
 * writes for one isolation table of 5 ports), and each write is a wake-up of the reader.
 */
export function rulesByTable(json: string): Map<string, NftRule[]> {
  const out = new Map<string, NftRule[]>();
  const items = (JSON.parse(json) as { nftables?: Record<string, Record<string, unknown>>[] }).nftables ?? [];
  for (const item of items) {
    if (item['table']) out.set(`${String(item['table']['family'])} ${String(item['table']['name'])}`, []);
    const r = item['rule'] as NftRule | undefined;
    if (r) out.get(`${r.family} ${r.table}`)?.push(r);
  }
  return out;
}

/** Every table's rules (one `nft` process). */
export async function listRuleset(opts: RunOptions = {}): Promise<Map<string, NftRule[]>> {
  return rulesByTable(await run('nft', ['-j', 'list', 'ruleset'], opts));
}

/** One table's rules, or undefined when the table does not exist. */
export async function listTableRules(family: string, name: string, opts: RunOptions = {}): Promise<NftRule[] | undefined> {
  const json = await unlessTableMissing(run('nft', ['-j', 'list', 'table', family, name], opts));
  return json === undefined ? undefined : (rulesByTable(json).get(`${family} ${name}`) ?? []);
}

/** Whether a rule's verdict is drop. */
export function drops(r: NftRule): boolean {
  return r.expr.length > 0 && 'drop' in r.expr[r.expr.length - 1]!;
}

/** The table as nft prints it (for people: `overlay report`), or undefined when it does not exist. */
export function listTable(family: string, name: string, opts: RunOptions = {}): Promise<string | undefined> {
  return unlessTableMissing(run('nft', ['list', 'table', family, name], opts));
}
