import { describe, expect, it } from 'vitest';
import { barChart, logChart, renderReport, reportCharts } from '../../../scripts/bench/report.js';

describe('benchmark report', () => {
  it('draws one bar per value, scaled to the largest, with labels escaped', () => {
    const svg = barChart('T <1>', 'ms', [{ name: 'g', bars: [{ label: 'a&b', value: 10 }, { label: 'c', value: 5 }] }]);
    expect(svg).toContain('T &lt;1&gt;');
    expect(svg).toContain('a&amp;b');
    expect(svg.match(/<rect x="220"/g)).toHaveLength(2);
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
    expect(html).toMatch(/CNI plugin latency, median of 40 calls each/);
    expect(html).toMatch(/Container to container throughput \(iperf3\), the overlay against/);
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
    expect(svg).toContain('>100<');
    expect(svg).toContain('>10M<');
    expect(svg).toContain('Weave');
    const html = renderReport({ 'scale (…)': [{ peers: 100, connLimit: 10, restBytesPerPeerPerMin: 500, v1BaselineRestBytesPerPeerPerMin: 90_000, joinBytesPerPeer: 3000, largestMessageBytes: 9000 }] }, 'now');
    expect(html).toMatch(/Gossip bytes per peer against N/);
  });

  it('draws a value axis with the unit, and on each baseline bar the measured value as a ratio of it', () => {
    const svg = barChart('T', 'Gbit/s', [{ name: 'g', ratios: true, bars: [{ label: 'overlay', value: 9.7 }, { label: 'by hand', value: 10 }, { label: 'wire', value: 19.4 }] }]);
    for (const tick of ['>0<', '>5<', '>10<', '>15<', '>20<']) expect(svg).toContain(tick);
    expect(svg).toContain('>Gbit/s</text>');
    expect(svg).toMatch(/10 Gbit\/s<tspan[^>]*>overlay: 0\.97×<\/tspan>/);
    expect(svg).toMatch(/19\.4 Gbit\/s<tspan[^>]*>overlay: 0\.50×<\/tspan>/);
    expect(svg).toMatch(/9\.7 Gbit\/s<\/text>/); // the measured bar itself carries no ratio
  });

  it('leaves out a bar the run did not produce instead of drawing a zero, and draws no ratio without the measured value', () => {
    const svg = barChart('T', 'ms', [
      { name: 'g', ratios: true, bars: [{ label: 'ours', value: Number.NaN }, { label: 'ref', value: 4 }] },
      { name: 'h', bars: [{ label: 'x', value: undefined as unknown as number }] },
    ]);
    expect(svg.match(/<rect x="220"/g)).toHaveLength(1);
    expect(svg).not.toContain('×');
    expect(svg).not.toContain('>h<');
  });

  const sample: Record<string, unknown> = {
    'dataplane (…)': [
      { tsoGsoOn: 1, overlayGbps_1: 11.7, handVxlanGbps_1: 11.4, hostLinkGbps_1: 13.4, bareVethGbps_1: 14.1, overlayGbps_4: 14.7, handVxlanGbps_4: 15.4, hostLinkGbps_4: 23.4, bareVethGbps_4: 24.1 },
      { tsoGsoOn: 0, overlayGbps_1: 3.7, handVxlanGbps_1: 3.4, hostLinkGbps_1: 4.4, bareVethGbps_1: 14.1, overlayGbps_4: 4.7, handVxlanGbps_4: 4.4, hostLinkGbps_4: 5.4, bareVethGbps_4: 24.1 },
    ],
    'encryption (…)': { wireguard: 'wireguard-go', plainGbps_1: 12.1, encryptedGbps_1: 0.32, wireguardCpuCores_1: 1.2, plainGbps_4: 15.2, encryptedGbps_4: 0.33, wireguardCpuCores_4: 1.45 },
    'cni (…)': { runs: 40, oursAddMedianMs: 23.3, refAddMedianMs: 17.6, oursDelMedianMs: 18.7, refDelMedianMs: 32.8 },
    'mesh-sim (…)': [
      { peers: 1000, joinConvergenceSimMs: 260, deathConvergenceSimMs: 1290, joinBytesPerPeer: 900, deathBytesPerPeer: 700, fullStateBytes: 90_000 },
      { peers: 100, joinConvergenceSimMs: 160, deathConvergenceSimMs: 1180, joinBytesPerPeer: 800, deathBytesPerPeer: 600, fullStateBytes: 9000 },
    ],
    'scale (…)': [{ peers: 100, connLimit: 10, restBytesPerPeerPerMin: 818, v1BaselineRestBytesPerPeerPerMin: 1_800_000, joinBytesPerPeer: 3000, largestMessageBytes: 11_000 }],
    'ipam (…)': { launchToIpamReadyMs: 900, launchToFullMeshMs: 700, allocP50Ms: 3, noopApiP50Ms: 2 },
    'security (…)': { daemonStartHardenedMs: 890, daemonStartLegacyMs: 270, handshakeHardenedMs: 2.56, handshakeLegacyMs: 2.53 },
    'executable (…)': { versionMs_executable: 24.9, versionMs_node20: 223.9, statusMs_executable: 52.9, statusMs_node: 175.5, idleDaemonRssMb_executable: 61.4, idleDaemonRssMb_node: 66.1 },
  };

  it('makes every named chart file the README shows from a full set of results, each an SVG with its ratios', () => {
    const charts = new Map(reportCharts(sample).map((c) => [c.file, c.svg]));
    expect([...charts.keys()].sort()).toEqual([
      'bench-cni-latency.svg',
      'bench-encryption.svg',
      'bench-executable-rss.svg',
      'bench-executable-startup.svg',
      'bench-gossip-bytes-vs-peers.svg',
      'bench-gossip-bytes.svg',
      'bench-gossip-convergence.svg',
      'bench-ipam.svg',
      'bench-security.svg',
      'bench-throughput.svg',
    ]);
    for (const svg of charts.values()) expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg".*<\/svg>$/s);
    const throughput = charts.get('bench-throughput.svg')!;
    expect(throughput).toContain('1 stream, TSO/GSO on');
    expect(throughput).toContain('4 streams, TSO/GSO off on the host links');
    expect(throughput).toMatch(/11\.4 Gbit\/s<tspan[^>]*>overlay: 1\.03×/); // against hand-made VXLAN
    expect(throughput).toMatch(/4\.4 Gbit\/s<tspan[^>]*>overlay: 0\.84×/); // against the host link, offloads off
    expect(charts.get('bench-encryption.svg')).toMatch(/12\.1 Gbit\/s<tspan[^>]*>encrypted: 0\.03×/);
    expect(charts.get('bench-encryption.svg')).toContain('use 1.45 cores');
    expect(charts.get('bench-cni-latency.svg')).toMatch(/17\.6 ms<tspan[^>]*>overlay plugin: 1\.32×/);
    expect(charts.get('bench-cni-latency.svg')).toMatch(/32\.8 ms<tspan[^>]*>overlay plugin: 0\.57×/);
    const convergence = charts.get('bench-gossip-convergence.svg')!;
    expect(convergence).toContain('100 → 1000 peers (10×): a join takes 1.63× as long, a death 1.09×');
    expect(convergence.match(/<circle /g)).toHaveLength(4);
    expect(convergence).toContain('>peers<');
    expect(charts.get('bench-executable-startup.svg')).toMatch(/223\.9 ms<tspan[^>]*>executable \(Bun\): 0\.11×/);
  });

  it('draws the real scale run against host count, one point per size and measure', () => {
    const row = (hosts: number, ms: number) => ({ hosts, lastLaunchToTopologyMs: ms, lastLaunchToPathsVerifiedMs: 2 * ms, lastLaunchToIpamReadyMs: ms, killToRemovedEverywhereMs: 1500, killToFdbCleanEverywhereMs: 1600 });
    const svg = reportCharts({ 'scale-real (…)': [row(100, 9000), row(10, 700)] }).find((c) => c.file === 'bench-scale-real.svg')!.svg;
    expect(svg.match(/<circle /g)).toHaveLength(10);
    expect(svg).toContain('>hosts<');
    expect(svg).toContain("every pair's data path verified");
  });

  it('tells a bench from another whose name starts the same (ipam-join is not ipam)', () => {
    expect(reportCharts({ 'ipam-join (…)': { firstAllocOnJoinedMs: 5 } }).map((c) => c.file)).toEqual([]);
    expect(reportCharts({ 'scale-real (…)': [{ peers: 10 }] }).map((c) => c.file)).toEqual([]);
  });
});
