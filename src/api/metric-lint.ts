/**
 * Prometheus naming rules, as a small lint over metric families (run by the
 * unit tests on every family the daemon can expose): valid names and labels,
 * the project's prefix, `_total` on counters and only there, base units
 * (seconds, bytes) spelt out at the end, ratios rather than shares or
 * percentages, and no label that Prometheus reserves.
 */
import type { MetricFamily } from './metrics.js';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const UNITS = ['seconds', 'bytes', 'ratio', 'celsius', 'volts', 'meters', 'grams', 'joules', 'amperes'];
/** Units that are not base units, and what to say instead. */
const NON_BASE: [RegExp, string][] = [
  [/_(milli|micro|nano)seconds(_|$)|_(ms|us|ns|millis|second|minutes?|hours?)(_|$)/, 'use _seconds'],
  [/_(kilo|mega|giga)bytes(_|$)|_(kb|mb|gb|kib|mib|gib)(_|$)/, 'use _bytes'],
  [/_(percent|percentage|share|fraction)(_|$)/, 'use _ratio (0..1)'],
];

export function lintMetricFamily(f: MetricFamily, prefixes = ['overlay_', 'process_']): string[] {
  const problems: string[] = [];
  const n = f.name;
  const say = (p: string) => problems.push(`${n}: ${p}`);
  if (!NAME.test(n)) say('not a valid metric name');
  if (n !== n.toLowerCase()) say('use snake_case');
  if (!prefixes.some((p) => n.startsWith(p))) say(`must start with ${prefixes.join(' or ')}`);
  if (f.type === 'counter' && !n.endsWith('_total')) say('a counter ends in _total');
  if (f.type !== 'counter' && n.endsWith('_total')) say('only counters end in _total');
  if (f.type === 'histogram' && !UNITS.some((u) => n.endsWith(`_${u}`))) say('a histogram names its unit last (e.g. _seconds)');
  for (const [re, fix] of NON_BASE) if (re.test(n)) say(fix);
  if (/_(seconds|bytes)_[a-z]/.test(n.replace(/_total$/, ''))) say('the unit goes last, before _total');
  if (!f.help.trim()) say('no help text');
  if (f.type !== 'histogram') {
    for (const s of f.samples) {
      for (const l of Object.keys(s.labels ?? {})) {
        if (!LABEL.test(l)) say(`label "${l}" is not a valid label name`);
        if (l.startsWith('__')) say(`label "${l}" is reserved`);
        if (l === 'le' || l === 'quantile') say(`label "${l}" is reserved for histograms and summaries`);
      }
      if (!Number.isFinite(s.value) && !Number.isNaN(s.value)) say('a sample is infinite');
    }
  }
  return problems;
}

/** The families in a scrape (text format 0.0.4), enough to lint them: name, type, help, label names. */
export function parseExposition(text: string): MetricFamily[] {
  const fams = new Map<string, { name: string; help: string; type: string; samples: { labels: Record<string, string>; value: number }[] }>();
  const fam = (name: string) => {
    let f = fams.get(name);
    if (!f) fams.set(name, (f = { name, help: '', type: 'untyped', samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') fam(meta[2]!).help = meta[3]!;
      else fam(meta[2]!).type = meta[3]!;
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const base = fams.has(m[1]!) ? m[1]! : m[1]!.replace(/_(bucket|sum|count)$/, '');
    const labels = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (fam(base).type !== 'histogram') fam(base).samples.push({ labels, value: Number(m[4]) });
  }
  return [...fams.values()].map((f) =>
    f.type === 'histogram' ? { name: f.name, help: f.help, type: 'histogram', histogram: undefined as never } : { name: f.name, help: f.help, type: f.type as 'gauge' | 'counter', samples: f.samples },
  );
}
