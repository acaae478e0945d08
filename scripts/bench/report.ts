/**
 * The benchmark results at a glance: one self-contained HTML page with SVG
 * bar charts (throughput against baselines, CNI latency against the
 * reference plugins, gossip convergence and idle CPU against peer count), written next to
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

/** Lines on log-log axes: each series a list of (x, y) points. */
export function logChart(title: string, xLabel: string, yLabel: string, series: { name: string; points: [number, number][] }[]): string {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  if (pts.length === 0) return '';
  const lx = pts.map(([x]) => Math.log10(x));
  const ly = pts.map(([, y]) => Math.log10(y));
  const [x0, x1] = [Math.floor(Math.min(...lx)), Math.ceil(Math.max(...lx) + 0.01)];
  const [y0, y1] = [Math.floor(Math.min(...ly)), Math.ceil(Math.max(...ly) + 0.01)];
  const W = 520;
  const H = 300;
  const L = 70;
  const T = 30;
  const px = (x: number) => L + ((Math.log10(x) - x0) / (x1 - x0)) * W;
  const py = (y: number) => T + H - ((Math.log10(y) - y0) / (y1 - y0)) * H;
  const parts: string[] = [`<text x="0" y="18" font-weight="bold">${escape(title)}</text>`];
  for (let d = x0; d <= x1; d++) parts.push(`<line x1="${px(10 ** d)}" y1="${T}" x2="${px(10 ** d)}" y2="${T + H}" stroke="#ddd"/><text x="${px(10 ** d) - 10}" y="${T + H + 16}">1e${d}</text>`);
  for (let d = y0; d <= y1; d++) parts.push(`<line x1="${L}" y1="${py(10 ** d)}" x2="${L + W}" y2="${py(10 ** d)}" stroke="#ddd"/><text x="${L - 40}" y="${py(10 ** d) + 4}">1e${d}</text>`);
  parts.push(`<text x="${L + W / 2 - 40}" y="${T + H + 34}">${escape(xLabel)}</text><text x="4" y="${T - 8}">${escape(yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const ps = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    if (ps.length > 1) parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${ps.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of ps) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="4" fill="${c}"/>`);
    parts.push(`<rect x="${L + W + 12}" y="${T + i * 18}" width="10" height="10" fill="${c}"/><text x="${L + W + 26}" y="${T + i * 18 + 10}">${escape(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${L + W + 330}" height="${T + H + 44}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`;
}

function find(results: Record<string, unknown>, prefix: string): unknown {
  const key = Object.keys(results).find((k) => k.startsWith(prefix));
  return key ? results[key] : undefined;
}

/** Every chart the results allow, each with a file name for docs/ (charts whose bench did not run are left out). */
export function reportCharts(results: Record<string, unknown>): { file: string; svg: string }[] {
  const charts: { file: string; svg: string }[] = [];
  const add = (file: string) => (svg: string) => charts.push({ file, svg });
  const dp = find(results, 'dataplane') as Row[] | undefined;
  if (Array.isArray(dp)) {
    for (const streams of [1, 4]) {
      add(`bench-throughput-${streams}-stream${streams > 1 ? 's' : ''}.svg`)(
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
    add('bench-cni-latency.svg')(
      barChart('CNI latency, median over ' + cni['runs'] + ' runs', 'ms', [
        { name: 'ADD', bars: [{ label: 'overlay plugin', value: cni['oursAddMedianMs'] ?? 0 }, { label: 'reference bridge + host-local', value: cni['refAddMedianMs'] ?? 0 }] },
        { name: 'DEL', bars: [{ label: 'overlay plugin', value: cni['oursDelMedianMs'] ?? 0 }, { label: 'reference bridge + host-local', value: cni['refDelMedianMs'] ?? 0 }] },
      ]),
    );
  }
  const sim = find(results, 'mesh-sim') as Row[] | undefined;
  if (Array.isArray(sim)) {
    add('bench-gossip-convergence.svg')(
      barChart('Gossip convergence against peer count (simulated ms)', 'ms', sim.map((r) => ({
        name: `${r['peers']} peers`,
        bars: [
          { label: 'after a join', value: r['joinConvergenceSimMs'] ?? 0 },
          { label: 'after a death', value: r['deathConvergenceSimMs'] ?? 0 },
        ],
      }))),
    );
    add('bench-gossip-bytes.svg')(
      barChart('Gossip bytes per peer against peer count (simulated)', 'bytes', sim.map((r) => ({
        name: `${r['peers']} peers`,
        bars: [
          { label: 'after a join', value: r['joinBytesPerPeer'] ?? 0 },
          { label: 'after a death', value: r['deathBytesPerPeer'] ?? 0 },
          { label: 'one full state', value: r['fullStateBytes'] ?? 0 },
        ],
      }))),
    );
  }
  const scale = find(results, 'scale') as Row[] | undefined;
  if (Array.isArray(scale)) {
    const limited = scale.filter((r) => (r['connLimit'] ?? 0) < (r['peers'] ?? 0));
    const full = scale.filter((r) => (r['connLimit'] ?? 0) >= (r['peers'] ?? 0));
    const pts = (rows: Row[], k: string): [number, number][] => rows.map((r) => [r['peers'] ?? 0, r[k] ?? 0]);
    add('bench-gossip-bytes-vs-peers.svg')(
      logChart('Gossip bytes per peer against N (log-log), beside Weave', 'peers', 'bytes', [
        { name: 'at rest, per min (conn-limit 10)', points: pts(limited, 'restBytesPerPeerPerMin') },
        { name: 'at rest, per min (full mesh)', points: pts(full, 'restBytesPerPeerPerMin') },
        { name: 'main\'s full-state anti-entropy, per min (same mesh)', points: pts(scale, 'v1BaselineRestBytesPerPeerPerMin') },
        { name: 'per join (conn-limit 10)', points: pts(limited, 'joinBytesPerPeer') },
        { name: 'largest message', points: pts(scale, 'largestMessageBytes') },
        { name: 'Weave: one topology message at 300 nodes', points: [[300, 8_000_000]] },
      ]),
    );
  }
  const rest = find(results, 'rest') as (Row & { build?: unknown })[] | undefined;
  if (Array.isArray(rest)) {
    // One group per lab size; a bar per build and container count, so the growth with peers shows.
    const sizes = [...new Set(rest.map((r) => r['hosts'] ?? 0))].sort((a, b) => a - b);
    const series = [...new Set(rest.map((r) => `${String(r.build)}|${r['containersPerHost']}`))];
    const label = (s: string) => {
      const [build, containers] = s.split('|');
      return `${build === 'this' ? 'this build' : build === 'baseline' ? 'baseline build' : build}, ${containers} containers/host`;
    };
    const byHosts = (k: string) =>
      sizes.map((n) => ({
        name: `${n} hosts (${n - 1} peers each)`,
        bars: series.flatMap((s) => {
          const r = rest.find((x) => x['hosts'] === n && `${String(x.build)}|${x['containersPerHost']}` === s);
          return r ? [{ label: label(s), value: r[k] ?? 0 }] : [];
        }),
      }));
    add('bench-rest-idle-cpu.svg')(barChart('Idle CPU per daemon against peer count (target <= 0.2 % at 50 hosts)', '% of a core', byHosts('cpuPercentPerDaemon')));
    add('bench-rest-rss.svg')(barChart('Idle daemon RSS against peer count (target <= 70 MB at 50 hosts)', 'MB', byHosts('rssMbPerDaemon')));
  }
  const ipam = find(results, 'ipam') as Row | undefined;
  if (ipam && typeof ipam === 'object') {
    add('bench-ipam.svg')(
      barChart('IPAM', 'ms', [
        { name: 'launch of 3 peers to ready', bars: [{ label: 'IPAM ready', value: ipam['launchToIpamReadyMs'] ?? 0 }, { label: 'full mesh', value: ipam['launchToFullMeshMs'] ?? 0 }] },
        { name: 'API call p50', bars: [{ label: 'allocate', value: ipam['allocP50Ms'] ?? 0 }, { label: 'no-op', value: ipam['noopApiP50Ms'] ?? 0 }] },
      ]),
    );
  }
  const sec = find(results, 'security') as Row | undefined;
  if (sec && typeof sec === 'object') {
    add('bench-security.svg')(
      barChart('Password key: scrypt (hardened) against the v1 hash', 'ms', [
        { name: 'daemon start-up', bars: [{ label: 'scrypt key', value: sec['daemonStartHardenedMs'] ?? 0 }, { label: 'v1 hash', value: sec['daemonStartLegacyMs'] ?? 0 }] },
        { name: 'one handshake on loopback', bars: [{ label: 'scrypt key', value: sec['handshakeHardenedMs'] ?? 0 }, { label: 'v1 hash', value: sec['handshakeLegacyMs'] ?? 0 }] },
      ]),
    );
  }
  const exe = find(results, 'executable') as Row | undefined;
  if (exe && typeof exe === 'object') {
    const nodeKey = Object.keys(exe).find((k) => k.startsWith('versionMs_node')) ?? '';
    const both = (what: string) => [{ label: 'executable (Bun)', value: exe[`${what}_executable`] ?? 0 }, { label: 'node dist/...', value: exe[what === 'versionMs' ? nodeKey : `${what}_node`] ?? 0 }];
    add('bench-executable-startup.svg')(
      barChart('CLI start-up: the overlay executable against node dist/src/cli/main.js', 'ms', [
        { name: 'overlay version', bars: both('versionMs') },
        { name: 'overlay status (daemon running)', bars: both('statusMs') },
      ]),
    );
    add('bench-executable-rss.svg')(barChart('Idle daemon memory (RSS)', 'MB', [{ name: 'a few seconds after launch', bars: both('idleDaemonRssMb') }]));
  }
  return charts;
}

export function renderReport(results: Record<string, unknown>, when: string): string {
  const charts = reportCharts(results).map((c) => c.svg);
  const body = charts.length ? charts.map((c) => `<div style="margin:16px 0">${c}</div>`).join('\n') : '<p>No chartable results in this run.</p>';
  return `<!doctype html><html><head><meta charset="utf-8"><title>overlay benchmarks ${escape(when)}</title></head><body style="font-family:sans-serif"><h1>overlay benchmarks</h1><p>${escape(when)}; every number has its baseline from the same run. Raw numbers: the JSON file beside this page.</p>\n${body}\n</body></html>\n`;
}
