import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../../../src/api/metrics.js';
import { formatConnections, formatPeers, formatSummary, type DaemonStatus } from '../../../src/api/status.js';

const status: DaemonStatus = {
  version: '0.1.0',
  protocol: { name: 'overlay', minVersion: 1, maxVersion: 1 },
  name: '02:00:00:00:00:01',
  nickname: 'h1',
  uid: 'u',
  port: 6783,
  encryption: true,
  discovery: true,
  connLimit: 100,
  targets: [
    { address: '198.51.100.2:6783', origin: 'user', state: 'established', attempts: 1, peer: '02:00:00:00:00:02' },
    { address: '198.51.100.9:6783', origin: 'user', state: 'retrying', attempts: 3, lastError: 'connect ECONNREFUSED', retryInMs: 4000 },
  ],
  connections: [
    { peer: '02:00:00:00:00:02', nickname: 'h2', address: '198.51.100.2:6783', outbound: true, state: 'established', upMs: 65_000, connectionId: 'c', info: ['encrypted'] },
  ],
  peers: [
    { name: '02:00:00:00:00:01', nickname: 'h1', uid: 'u', version: 1, reachable: true, connections: [{ peer: '02:00:00:00:00:02', address: '198.51.100.2:6783', outbound: true }] },
    { name: '02:00:00:00:00:02', nickname: 'h2', uid: 'v', version: 1, reachable: true, connections: [{ peer: '02:00:00:00:00:01', address: '198.51.100.1:6783', outbound: false }] },
  ],
  sections: [{ title: 'ipam', lines: [['Status', 'ready']] }],
};

describe('status rendering', () => {
  it('renders a weave-style summary with aligned keys and sections', () => {
    const s = formatSummary(status);
    expect(s).toMatch(/^\s+Name: 02:00:00:00:00:01\(h1\)$/m);
    expect(s).toMatch(/Encryption: enabled/);
    expect(s).toMatch(/Connections: 2 \(1 established, 1 retrying\)/);
    expect(s).toMatch(/Peers: 2 \(with 2 established connections\)/);
    expect(s).toMatch(/Service: ipam\n\s+Status: ready/);
  });

  it('lists connections and failing targets with their last error', () => {
    const c = formatConnections(status);
    expect(c).toMatch(/-> 198\.51\.100\.2:6783\s+established 02:00:00:00:00:02\(h2\) up 1m5s encrypted/);
    expect(c).toMatch(/-> 198\.51\.100\.9:6783\s+retrying\s+connect ECONNREFUSED, retry in 4s/);
  });

  it('lists peers with their connections', () => {
    expect(formatPeers(status)).toMatch(/02:00:00:00:00:01\(h1\) \[this peer\]\n\s+-> 198\.51\.100\.2:6783\s+02:00:00:00:00:02\(h2\)/);
  });

  it('renders Prometheus text with labels escaped', () => {
    const t = renderMetrics([{ name: 'm', help: 'h', type: 'gauge', samples: [{ labels: { a: 'x"y' }, value: 2 }, { value: 3 }] }]);
    expect(t).toBe('# HELP m h\n# TYPE m gauge\nm{a="x\\"y"} 2\nm 3\n');
  });
});
