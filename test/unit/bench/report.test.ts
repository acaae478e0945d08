import { describe, expect, it } from 'vitest';
import { barChart, logChart, renderReport } from '../../../scripts/bench/report.js';

describe('benchmark report', () => {
  it('draws one bar per value, scaled to the largest, with labels escaped', () => {
    const svg = barChart('T <1>', 'ms', [{ name: 'g', bars: [{ label: 'a&b', value: 10 }, { label: 'c', value: 5 }] }]);
    expect(svg).toContain('T &lt;1&gt;');
    expect(svg).toContain('a&amp;b');
    expect(svg.match(/<rect /g)).toHaveLength(2);
    expect(svg).toContain('width="420.0"');
    expect(svg).toContain('width="210.0"');
  });

  it('renders the charts of the benches that ran, and says so when none did', () => {
    const html = renderReport(
      {
        'cni (…)': { runs: 40, oursAddMedianMs: 124, refAddMedianMs: 16, oursDelMedianMs: 100, refDelMedianMs: 30 },
        'dataplane (…)': [{ tsoGsoOn: 1, overlayGbps_1: 11.7, handVxlanGbps_1: 11.4, hostLinkGbps_1: 13.4, bareVethGbps_1: 14.1 }],
        'security (…)': { daemonStartHardenedMs: 890, daemonStartLegacyMs: 270, handshakeHardenedMs: 2.56, handshakeLegacyMs: 2.53 },
      },
      '2026-11-25T00:00:00Z',
    );
    expect(html).toMatch(/CNI latency, median over 40 runs/);
    expect(html).toMatch(/Container to container throughput, 1 stream/);
    expect(html).toMatch(/Password key: scrypt \(hardened\) against the v1 hash/);
    expect(html).not.toMatch(/Gossip convergence/);
    expect(renderReport({}, 'now')).toMatch(/No chartable results/);
  });

  it('draws log-log lines with one dot per point and a legend, skipping non-positive values', () => {
    const svg = logChart('bytes', 'peers', 'B', [
      { name: 'ours', points: [[100, 1000], [1000, 10_000], [5000, 0]] },
      { name: 'Weave', points: [[300, 8_000_000]] },
    ]);
    expect(svg.match(/<circle /g)).toHaveLength(3);
    expect(svg.match(/<polyline /g)).toHaveLength(1);
    expect(svg).toContain('1e2');
    expect(svg).toContain('1e7');
    expect(svg).toContain('Weave');
    const html = renderReport({ 'scale (…)': [{ peers: 100, connLimit: 10, restBytesPerPeerPerMin: 500, v1BaselineRestBytesPerPeerPerMin: 90_000, joinBytesPerPeer: 3000, largestMessageBytes: 9000 }] }, 'now');
    expect(html).toMatch(/Gossip bytes per peer against N/);
  });
});
