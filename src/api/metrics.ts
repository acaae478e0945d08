/**
 * Prometheus text exposition for the daemon (format 0.0.4), written here
 * rather than with prom-client: the daemon's families are built from state it
 * already holds at scrape time, which a registry of live metric objects would
 * only duplicate. Later layers append their own families through the daemon's
 * components. Names follow Prometheus conventions, checked by metric-lint.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { DaemonStatus } from './status.js';
import type { MeshCounters } from '../mesh/router-types.js';
import { processesStarted } from '../sys/exec.js';

export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

export type MetricFamily =
  | { name: string; help: string; type: 'gauge' | 'counter'; samples: Sample[] }
  | { name: string; help: string; type: 'histogram'; histogram: Histogram };

/** A label value as the exposition format wants it: backslash, double quote and newline escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Record<string, string> | undefined): string {
  if (!labels || !Object.keys(labels).length) return '';
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
    .join(',')}}`;
}

/** HELP text escapes backslash and newline. */
const helpText = (h: string) => h.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** A cumulative histogram with fixed upper bounds (seconds), for latencies observed in the daemon. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]!) this.counts[i]!++;
  }

  /** Time `f` and observe its duration in seconds, whether it succeeds or throws. */
  async time<T>(f: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.observe((performance.now() - t0) / 1000);
    }
  }

  lines(name: string): string[] {
    return [
      ...this.bounds.map((b, i) => `${name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ];
  }
}

/** Buckets for request latencies from a millisecond to the longest allocation wait (600 s). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600] as const;

export function renderMetrics(families: MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${helpText(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === 'histogram') out.push(...f.histogram.lines(f.name));
    else for (const s of f.samples) out.push(`${f.name}${labelText(s.labels)} ${s.value}`);
  }
  return out.join('\n') + '\n';
}

/** overlay_build_info: a constant 1 whose labels say what is running. */
export function buildInfo(version: string): MetricFamily {
  const runtime = process.versions['bun'] ? `bun ${process.versions['bun']}` : `node ${process.versions.node}`;
  return { name: 'overlay_build_info', help: 'The running overlay build: always 1, with its version and runtime as labels.', type: 'gauge', samples: [{ labels: { version, runtime }, value: 1 }] };
}

const CLOCK_TICKS = 100;
/** The standard process_* metrics, read from /proc/self (CPU, memory, open files, start time). */
export function processMetrics(): MetricFamily[] {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name, which may hold spaces: utime is field 14, stime 15, starttime 22.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  const bootTime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0);
  const start = bootTime + Number(f[19]) / CLOCK_TICKS;
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0) * 1024;
  const maxFds = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 0);
  const g = (name: string, help: string, value: number, type: 'gauge' | 'counter' = 'gauge'): MetricFamily => ({ name, help, type, samples: [{ value }] });
  const mem = process.memoryUsage();
  return [
    g('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', cpu, 'counter'),
    g('process_resident_memory_bytes', 'Resident memory size in bytes.', kb('VmRSS')),
    g('process_virtual_memory_bytes', 'Virtual memory size in bytes.', kb('VmSize')),
    g('process_open_fds', 'Number of open file descriptors.', readdirSync('/proc/self/fd').length),
    g('process_max_fds', 'Maximum number of open file descriptors.', maxFds),
    g('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', start),
    // What of the resident memory is the JS heap (the rest: the executable's pages, the allocator, buffers).
    g('overlay_js_heap_used_bytes', 'JavaScript heap in use, in bytes.', mem.heapUsed),
    g('overlay_js_heap_total_bytes', 'JavaScript heap reserved, in bytes.', mem.heapTotal),
    g('overlay_js_external_bytes', 'Memory held outside the JavaScript heap by its objects (buffers), in bytes.', mem.external),
  ];
}

export function meshMetrics(s: DaemonStatus, c: MeshCounters): MetricFamily[] {
  const states = ['established', 'connecting', 'retrying', 'failed'] as const;
  return [
    {
      name: 'overlay_connections',
      help: 'Connection targets by state.',
      type: 'gauge',
      samples: states.map((state) => ({ labels: { state }, value: s.targets.filter((t) => t.state === state).length })),
    },
    { name: 'overlay_established_connections', help: 'Established control connections.', type: 'gauge', samples: [{ value: s.connections.filter((x) => x.state === 'established').length }] },
    { name: 'overlay_peers', help: 'Peers in the topology, this one included.', type: 'gauge', samples: [{ value: s.peers.length }] },
    { name: 'overlay_reachable_peers', help: 'Peers in the topology that this one has a route to, itself included (below overlay_peers: some are unreachable).', type: 'gauge', samples: [{ value: s.peers.filter((p) => p.reachable).length }] },
    { name: 'overlay_gossip_messages_sent_total', help: 'Gossip and unicast messages sent.', type: 'counter', samples: [{ value: c.gossipMessagesSent }] },
    { name: 'overlay_gossip_messages_received_total', help: 'Gossip and unicast messages received.', type: 'counter', samples: [{ value: c.gossipMessagesReceived }] },
    { name: 'overlay_gossip_sent_bytes_total', help: 'Gossip bytes sent, framing included.', type: 'counter', samples: [{ value: c.gossipBytesSent }] },
    {
      name: 'overlay_gossip_channel_sent_bytes_total',
      help: 'Gossip bytes sent per channel, framing included (an anti-entropy hash message is shared among the channels it names).',
      type: 'counter',
      samples: Object.entries(c.gossipBytesSentByChannel ?? {}).map(([channel, v]) => ({ labels: { channel }, value: Math.round(v) })),
    },
    { name: 'overlay_gossip_received_bytes_total', help: 'Gossip bytes received, framing included.', type: 'counter', samples: [{ value: c.gossipBytesReceived }] },
    { name: 'overlay_handshakes_rejected_total', help: 'Connections refused during or right after the handshake.', type: 'counter', samples: [{ value: c.handshakesRejected }] },
    { name: 'overlay_handshakes_throttled_total', help: 'Inbound connections closed at once because their address kept failing handshakes.', type: 'counter', samples: [{ value: c.handshakesThrottled }] },
    { name: 'overlay_frames_rejected_total', help: 'Established connections closed for a bad frame or message.', type: 'counter', samples: [{ value: c.framesRejected }] },
  ];
}

/** Processes the daemon started (ip, bridge, nft, tc, ...), by program: at rest this stays still. */
export function childProcessMetrics(): MetricFamily {
  return {
    name: 'overlay_processes_started_total',
    help: 'Processes the daemon started, by program.',
    type: 'counter',
    samples: [...processesStarted()].map(([program, value]) => ({ labels: { program }, value })),
  };
}
