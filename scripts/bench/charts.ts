/**
 * `node dist/scripts/bench/charts.js <results.json>... [--out docs]`: the
 * benchmark charts as SVG files (the README shows the ones in docs/). Later
 * files win for a bench present in several, so the results of separate runs
 * (`npm run bench <name>`) can be combined.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reportCharts } from './report.js';

const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args[outAt + 1]! : 'docs';
const files = args.filter((_, i) => outAt < 0 || (i !== outAt && i !== outAt + 1));
const results: Record<string, unknown> = {};
for (const f of files) Object.assign(results, JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>);
mkdirSync(out, { recursive: true });
for (const c of reportCharts(results)) {
  writeFileSync(join(out, c.file), c.svg + '\n');
  console.log(join(out, c.file));
}
