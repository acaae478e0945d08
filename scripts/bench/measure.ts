/** Small measuring helpers shared by the benchmarks. */
import { readFileSync } from 'node:fs';

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** Resident memory of a process, in MB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * The anonymous part of a process's RSS (its heap and stacks), without the
 * pages of its executable: those are the page cache's, and how many of them a
 * process has mapped depends on what else read the file (fault-around maps
 * cached neighbours of a touched page), so the same binary's RSS moves by
 * ~3 MB between runs while this does not.
 */
export function anonRssMb(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export const ratio = (a: number, b: number): number => +(a / b).toFixed(2);
