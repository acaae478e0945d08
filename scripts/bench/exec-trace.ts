/**
 * Reading `strace -f -e trace=execve` output: which programs a daemon started,
 * and whether those include its slow safety pass.
 */

/** The argv of one execve line, joined by spaces ("" for a line that is not an execve). */
export function execArgv(straceLine: string): string {
  const list = /execve\("[^"]*", \[(.*?)\]/.exec(straceLine)?.[1] ?? '';
  return [...list.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join(' ');
}

/**
 * A whole-kernel dump, as only the safety pass reads (src/dataplane/snapshot.ts:
 * every address, every FDB entry, the whole ruleset). Reads and writes caused
 * by a change name a device or a table, so they do not count.
 */
const WHOLE_DUMP = /^(nsenter \S+ )?((ip|bridge) (-\S+ )*(addr|link|fdb) show|nft (-\S+ )*list ruleset)$/;

/** Whether these execs hold a safety pass. */
export function holdsSafetyPass(execs: string[]): boolean {
  return execs.some((c) => WHOLE_DUMP.test(c));
}
