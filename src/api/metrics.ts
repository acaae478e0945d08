/**
 * Prometheus text exposition for the daemon. Later layers append their own
 * families through the daemon's components.
 */
import type { DaemonStatus } from './status.js';
import type { MeshCounters } from '../mesh/router-types.js';
import { processesStarted } from '../sys/exec.js';

export interface MetricFamily {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: { labels?: Record<string, string>; value: number }[];
}

export function renderMetrics(families: MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = s.labels && Object.keys(s.labels).length
        ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')}}`
        : '';
      out.push(`${f.name}${labels} ${s.value}`);
    }
  }
  return out.join('\n') + '\n';
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
    { name: 'overlay_gossip_messages_sent_total', help: 'Gossip and unicast messages sent.', type: 'counter', samples: [{ value: c.gossipMessagesSent }] },
    { name: 'overlay_gossip_messages_received_total', help: 'Gossip and unicast messages received.', type: 'counter', samples: [{ value: c.gossipMessagesReceived }] },
    { name: 'overlay_gossip_bytes_sent_total', help: 'Gossip bytes sent, framing included.', type: 'counter', samples: [{ value: c.gossipBytesSent }] },
    { name: 'overlay_gossip_bytes_received_total', help: 'Gossip bytes received, framing included.', type: 'counter', samples: [{ value: c.gossipBytesReceived }] },
    { name: 'overlay_handshakes_rejected_total', help: 'Connections refused during or right after the handshake.', type: 'counter', samples: [{ value: c.handshakesRejected }] },
    { name: 'overlay_handshakes_throttled_total', help: 'Inbound connections closed at once because their address kept failing handshakes.', type: 'counter', samples: [{ value: c.handshakesThrottled }] },
    { name: 'overlay_frames_rejected_total', help: 'Established connections closed for a bad frame or message.', type: 'counter', samples: [{ value: c.framesRejected }] },
  ];
}

/** Processes the daemon started (ip, bridge, nft, tc, ...), by program: at rest this stays still. */
export function processMetrics(): MetricFamily {
  return {
    name: 'overlay_processes_started_total',
    help: 'Processes the daemon started, by program.',
    type: 'counter',
    samples: [...processesStarted()].map(([program, value]) => ({ labels: { program }, value })),
  };
}
