/**
 * sysctl reads and writes through /proc/sys. /proc/sys/net belongs to the
 * network namespace of the process that opens it, so inside another netns
 * this goes through nsenter.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { run, type RunOptions } from './exec.js';

/** Keys use slashes (net/ipv4/conf/eth0.1/arp_notify), so interface names with dots stay intact. */
const path = (key: string) => `/proc/sys/${key}`;

export async function setSysctl(key: string, value: string, opts: RunOptions = {}): Promise<void> {
  if (opts.netns) await run('sysctl', ['-q', '-w', `${key}=${value}`], opts);
  else await writeFile(path(key), value);
}

export async function getSysctl(key: string): Promise<string | undefined> {
  try {
    return (await readFile(path(key), 'utf8')).trim();
  } catch {
    return undefined;
  }
}
