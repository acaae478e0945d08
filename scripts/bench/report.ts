/**
 * The benchmark results at a glance: one self-contained HTML page with SVG
 * bar charts (throughput against baselines, CNI latency against the
 * reference plugins, gossip convergence against peer count), written next to
 * the JSON results. Charts whose bench did not run are left out.
 */

type Row = Record<string, number>;

interface Bar {
  label: string;
  value: number;
}

const COLORS = ['#2f6fb0', '#e07b39', '#59a14f', '#9c755f', '#b07aa1', '#76b7b2'];

function escape(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** Horizontal bars, grouped: each group is a row of bars sharing one scale. */
export function barChart(title: string, unit: string, groups: { name: string; bars: Bar[] }[]): string {
  const max = Math.max(1e-9, ...groups.flatMap((g) => g.bars.map((b) => b.value)));
  const barH = 18;
  const labelW = 220;
  const plotW = 420;
  let y = 30;
  const parts: string[] = [`<text x="0" y="18" font-weight="bold">${escape(title)}</text>`];
  for (const g of groups) {
    parts.push(`<text x="0" y="${y + 12}" font-style="italic">${escape(g.name)}</text>`);
    y += 18;
    g.bars.forEach((b, i) => {
      const w = Math.max(1, (b.value / max) * plotW);
      parts.push(
        `<text x="0" y="${y + 13}">${escape(b.label)}</text>`,
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 4}" fill="${COLORS[i % COLORS.length]}"/>`,
        `<text x="${labelW + w + 6}" y="${y + 13}">${b.value} ${escape(unit)}</text>`,
      );
      y += barH;
    });
    y += 8;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 120}" height="${y}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`;
}

function find(results: Record<string, unknown>, prefix: string): unknown {
  const key = Object.keys(results).find((k) => k.startsWith(prefix));
  return key ? results[key] : undefined;
}

export function renderReport(results: Record<string, unknown>, when: string): string {
  const charts: string[] = [];
  const dp = find(results, 'dataplane') as Row[] | undefined;
  if (Array.isArray(dp)) {
    for (const streams of [1, 4]) {
      charts.push(
        barChart(`Container to container throughput, ${streams} stream${streams > 1 ? 's' : ''} (iperf3)`, 'Gbit/s', dp.map((r) => ({
          name: r['tsoGsoOn'] ? 'TSO/GSO on' : 'TSO/GSO off on the host links',
          bars: [
            { label: 'overlay', value: r[`overlayGbps_${streams}`] ?? 0 },
            { label: 'hand-made bridge + VXLAN', value: r[`handVxlanGbps_${streams}`] ?? 0 },
            { label: 'host link', value: r[`hostLinkGbps_${streams}`] ?? 0 },
            { label: 'bare veth pair', value: r[`bareVethGbps_${streams}`] ?? 0 },
          ],
        }))),
      );
    }
  }
  const cni = find(results, 'cni') as Row | undefined;
  if (cni && typeof cni === 'object') {
    charts.push(
      barChart('CNI latency, median over ' + cni['runs'] + ' runs', 'ms', [
        { name: 'ADD', bars: [{ label: 'overlay plugin', value: cni['oursAddMedianMs'] ?? 0 }, { label: 'reference bridge + host-local', value: cni['refAddMedianMs'] ?? 0 }] },
        { name: 'DEL', bars: [{ label: 'overlay plugin', value: cni['oursDelMedianMs'] ?? 0 }, { label: 'reference bridge + host-local', value: cni['refDelMedianMs'] ?? 0 }] },
      ]),
    );
  }
  const sim = find(results, 'mesh-sim') as Row[] | undefined;
  if (Array.isArray(sim)) {
    charts.push(
      barChart('Gossip convergence against peer count (simulated ms)', 'ms', sim.map((r) => ({
        name: `${r['peers']} peers`,
        bars: [
          { label: 'after a join', value: r['joinConvergenceSimMs'] ?? 0 },
          { label: 'after a death', value: r['deathConvergenceSimMs'] ?? 0 },
        ],
      }))),
    );
  }
  const ipam = find(results, 'ipam') as Row | undefined;
  if (ipam && typeof ipam === 'object') {
    charts.push(
      barChart('IPAM', 'ms', [
        { name: 'launch of 3 peers to ready', bars: [{ label: 'IPAM ready', value: ipam['launchToIpamReadyMs'] ?? 0 }, { label: 'full mesh', value: ipam['launchToFullMeshMs'] ?? 0 }] },
        { name: 'API call p50', bars: [{ label: 'allocate', value: ipam['allocP50Ms'] ?? 0 }, { label: 'no-op', value: ipam['noopApiP50Ms'] ?? 0 }] },
      ]),
    );
  }
  const sec = find(results, 'security') as Row | undefined;
  if (sec && typeof sec === 'object') {
    charts.push(
      barChart('Password key: scrypt (hardened) against the v1 hash', 'ms', [
        { name: 'daemon start-up', bars: [{ label: 'scrypt key', value: sec['daemonStartHardenedMs'] ?? 0 }, { label: 'v1 hash', value: sec['daemonStartLegacyMs'] ?? 0 }] },
        { name: 'one handshake on loopback', bars: [{ label: 'scrypt key', value: sec['handshakeHardenedMs'] ?? 0 }, { label: 'v1 hash', value: sec['handshakeLegacyMs'] ?? 0 }] },
      ]),
    );
  }
  const body = charts.length ? charts.map((c) => `<div style="margin:16px 0">${c}</div>`).join('\n') : '<p>No chartable results in this run.</p>';
  return `<!doctype html><html><head><meta charset="utf-8"><title>overlay benchmarks ${escape(when)}</title></head><body style="font-family:sans-serif"><h1>overlay benchmarks</h1><p>${escape(when)}; every number has its baseline from the same run. Raw numbers: the JSON file beside this page.</p>\n${body}\n</body></html>\n`;
}
