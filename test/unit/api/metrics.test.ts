/** The metrics exposition: escaping, histograms, build and process metrics, and the naming lint over every name. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildInfo, escapeLabelValue, Histogram, meshMetrics, processMetrics, renderMetrics, type MetricFamily } from '../../../src/api/metrics.js';
import { lintMetricFamily, parseExposition } from '../../../src/api/metric-lint.js';
import type { DaemonStatus } from '../../../src/api/status.js';

const SRC = resolve(__dirname, '../../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const status = { targets: [], connections: [], peers: [] } as unknown as DaemonStatus;
const counters = { gossipMessagesSent: 1, gossipMessagesReceived: 2, gossipBytesSent: 3, gossipBytesReceived: 4, handshakesRejected: 0, handshakesThrottled: 0, framesRejected: 0 };

describe('metrics exposition', () => {
  it('escapes backslash, double quote and newline in label values', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const text = renderMetrics([{ name: 'overlay_x', help: 'x', type: 'gauge', samples: [{ labels: { nickname: 'h"1\n' }, value: 1 }] }]);
    expect(text).toContain('overlay_x{nickname="h\\"1\\n"} 1');
    expect(parseExposition(text)[0]).toMatchObject({ name: 'overlay_x', type: 'gauge' });
  });

  it('renders a histogram with cumulative buckets, +Inf, sum and count', () => {
    const h = new Histogram([0.01, 0.1, 1]);
    for (const v of [0.005, 0.05, 0.05, 5]) h.observe(v);
    const text = renderMetrics([{ name: 'overlay_t_seconds', help: 't', type: 'histogram', histogram: h }]);
    expect(text).toContain('# TYPE overlay_t_seconds histogram');
    expect(text).toContain('overlay_t_seconds_bucket{le="0.01"} 1\noverlay_t_seconds_bucket{le="0.1"} 3\noverlay_t_seconds_bucket{le="1"} 3\noverlay_t_seconds_bucket{le="+Inf"} 4');
    expect(text).toMatch(/overlay_t_seconds_sum 5\.105\d*\noverlay_t_seconds_count 4/);
  });

  it('times a failing call too', async () => {
    const h = new Histogram([1]);
    await expect(h.time(async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(h.lines('x')).toContain('x_count 1');
  });

  it('counts the peers in the topology and, apart, those reachable (a peer awaiting removal is in the first only)', () => {
    const peers = [{ name: 'a', reachable: true }, { name: 'b', reachable: true }, { name: 'c', reachable: false }];
    const text = renderMetrics(meshMetrics({ ...status, peers } as unknown as DaemonStatus, counters));
    expect(text).toMatch(/^overlay_peers 3$/m);
    expect(text).toMatch(/^overlay_reachable_peers 2$/m);
  });

  it('has overlay_build_info and the process metrics, with real values', () => {
    const fams = [buildInfo('1.2.3'), ...processMetrics()];
    const text = renderMetrics(fams);
    expect(text).toMatch(/^overlay_build_info\{version="1\.2\.3",runtime="(node|bun) [^"]+"\} 1$/m);
    const value = (n: string) => Number(new RegExp(`^${n} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(value('process_open_fds')).toBeGreaterThan(2);
    expect(value('overlay_js_heap_used_bytes')).toBeGreaterThan(1e5);
    expect(value('overlay_js_heap_used_bytes')).toBeLessThan(value('process_resident_memory_bytes'));
    expect(value('overlay_js_heap_total_bytes')).toBeGreaterThanOrEqual(value('overlay_js_heap_used_bytes'));
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(Math.abs(value('process_start_time_seconds') - (Date.now() / 1000 - process.uptime()))).toBeLessThan(5);
  });
});

describe('metric naming lint', () => {
  it('passes every family built here', () => {
    const fams: MetricFamily[] = [buildInfo('1'), ...processMetrics(), ...meshMetrics(status, counters)];
    expect(fams.flatMap((f) => lintMetricFamily(f))).toEqual([]);
  });

  it('catches the usual mistakes', () => {
    const g = (name: string, type: 'gauge' | 'counter' = 'gauge', labels?: Record<string, string>): MetricFamily => ({ name, help: 'h', type, samples: [{ value: 1, labels }] });
    expect(lintMetricFamily(g('overlay_requests', 'counter'))).toEqual(['overlay_requests: a counter ends in _total']);
    expect(lintMetricFamily(g('overlay_up_total'))).toEqual(['overlay_up_total: only counters end in _total']);
    expect(lintMetricFamily(g('overlay_latency_ms'))[0]).toMatch(/use _seconds/);
    expect(lintMetricFamily(g('overlay_free_share'))[0]).toMatch(/use _ratio/);
    expect(lintMetricFamily(g('overlay_bytes_sent_total', 'counter'))[0]).toMatch(/unit goes last/);
    expect(lintMetricFamily(g('weave_x'))[0]).toMatch(/must start with/);
    expect(lintMetricFamily(g('overlay_x', 'gauge', { le: '1' }))[0]).toMatch(/reserved/);
    expect(lintMetricFamily({ name: 'overlay_wait', help: 'h', type: 'histogram', histogram: new Histogram([1]) })[0]).toMatch(/names its unit/);
  });

  it('passes every metric name written in src/ (the components build theirs at scrape time)', () => {
    const names = new Set<string>();
    for (const f of sourceFiles(SRC)) for (const m of readFileSync(f, 'utf8').matchAll(/(?:name: |gauge\()'((?:overlay|process)_[a-z0-9_]+)'/g)) names.add(m[1]!);
    expect(names.size).toBeGreaterThan(20);
    const problems = [...names].flatMap((name) => lintMetricFamily({ name, help: 'h', type: name.endsWith('_total') ? 'counter' : 'gauge', samples: [] }));
    expect(problems).toEqual([]);
  });
});
