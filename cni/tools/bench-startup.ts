/**
 * Startup cost of the built plugin: runs `dist/cni/overlay` with
 * CNI_COMMAND=VERSION N times and `node -e 0` N times, sequentially, and
 * prints the median and p90 wall time of each. A benchmark, not a test.
 * Usage: npx bun cni/tools/bench-startup.ts [runs=50] [binary=dist/cni/overlay]
 */
import { spawnSync } from 'node:child_process';

const runs = Number(process.argv[2] ?? 50);
const binary = process.argv[3] ?? 'dist/cni/overlay';

function time(cmd: string, args: string[], env: Record<string, string>, input: string): number[] {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, input, stdio: ['pipe', 'ignore', 'ignore'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}`);
    samples.push(ms);
  }
  return samples.sort((a, b) => a - b);
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const plugin = time(binary, [], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
const node = time('node', ['-e', '0'], { PATH: process.env.PATH ?? '/usr/bin:/bin' }, '');
for (const [name, s] of [
  [`${binary} VERSION`, plugin],
  ['node -e 0', node],
] as const) {
  console.log(`${name.padEnd(30)} runs=${runs} median=${quantile(s, 0.5).toFixed(1)}ms p90=${quantile(s, 0.9).toFixed(1)}ms min=${s[0]!.toFixed(1)}ms`);
}
