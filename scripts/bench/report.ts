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

/** A round step for about `parts` ticks between 0 and max (1, 2, 2.5 or 5 times a power of ten). */
function tickStep(max: number, parts = 4): number {
  const raw = max / parts;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
}

const fmt = (x: number) => String(+x.toPrecision(6));

/** a as a multiple of b, as the benches print it (two decimals), without rounding a small ratio to 0. */
function times(a: number, b: number): string {
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r >= 0.01 ? r.toFixed(2) : r.toPrecision(1)}×`;
}

/**
 * Horizontal bars, grouped; all groups share one scale, drawn as a value axis
 * with the unit. In a group with `ratios`, the first bar is the one measured
 * and the others are its baselines from the same run: each baseline bar also
 * says how the measured value compares with it ("overlay 0.97×"), so the
 * number the bench prints is on the picture. Bars without a value (a field the
 * run did not produce) are left out rather than drawn as zero.
 */
export function barChart(title: string, unit: string, groups: { name: string; bars: Bar[]; ratios?: boolean }[]): string {
  // A ratio needs the measured value: without it the group's baselines are still drawn, without ratios.
  const shown = groups
    .map((g) => ({
      name: g.name,
      measured: g.ratios && Number.isFinite(g.bars[0]?.value) ? g.bars[0] : undefined,
      bars: g.bars.map((b, i) => ({ ...b, color: COLORS[i % COLORS.length]! })).filter((b) => Number.isFinite(b.value)),
    }))
    .filter((g) => g.bars.length > 0);
  const max = Math.max(1e-9, ...shown.flatMap((g) => g.bars.map((b) => b.value)));
  const step = tickStep(max);
  const axisMax = Math.ceil(max / step - 1e-9) * step;
  const barH = 18;
  const labelW = 220;
  const plotW = 420;
  const x = (v: number) => labelW + (v / axisMax) * plotW;
  let y = 30;
  const parts: string[] = [`<text x="0" y="18" font-weight="bold">${escape(title)}</text>`];
  for (const g of shown) {
    parts.push(`<text x="0" y="${y + 12}" font-style="italic">${escape(g.name)}</text>`);
    y += 18;
    const m = g.measured;
    for (const b of g.bars) {
      const w = Math.max(1, x(b.value) - labelW);
      const vs = m && b.label !== m.label && b.value > 0 ? `<tspan dx="10" font-weight="bold" fill="${COLORS[0]}">${escape(m.label)}: ${times(m.value, b.value)}</tspan>` : '';
      parts.push(
        `<text x="0" y="${y + 13}">${escape(b.label)}</text>`,
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 4}" fill="${b.color}"/>`,
        `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 13}">${fmt(b.value)} ${escape(unit)}${vs}</text>`,
      );
      y += barH;
    }
    y += 8;
  }
  // The value axis: a tick and a faint grid line per step (drawn first, under the bars), the unit below.
  const grid: string[] = [];
  for (let v = 0; v <= axisMax + 1e-9; v += step) {
    grid.push(
      `<line x1="${x(v).toFixed(1)}" y1="30" x2="${x(v).toFixed(1)}" y2="${y}" stroke="${v === 0 ? '#888' : '#e4e4e4'}"/>`,
      `<text x="${x(v).toFixed(1)}" y="${y + 14}" text-anchor="middle" fill="#555">${fmt(v)}</text>`,
    );
  }
  grid.push(`<line x1="${labelW}" y1="${y}" x2="${labelW + plotW}" y2="${y}" stroke="#888"/>`, `<text x="${labelW + plotW / 2}" y="${y + 30}" text-anchor="middle" fill="#555">${escape(unit)}</text>`);
  parts.splice(1, 0, ...grid);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 220}" height="${y + 40}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>`;
}

/** A tick label people read at a glance: 200, 5k, 10M. */
function si(v: number): string {
  const r = (x: number) => String(+x.toPrecision(3));
  return v >= 1e6 ? `${r(v / 1e6)}M` : v >= 1e3 ? `${r(v / 1e3)}k` : r(v);
}

/** The ticks of a log axis from 10^lo to 10^hi: every decade, and 2 and 5 between them when the axis spans two decades or less. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let d = lo; d <= hi; d++) for (const m of hi - lo <= 2 && d < hi ? [1, 2, 5] : [1]) ticks.push(m * 10 ** d);
  return ticks;
}

/** Lines on log-log axes: each series a list of (x, y) points; `note`, a line under the title (what the picture says, as a ratio). */
export function logChart(title: string, xLabel: string, yLabel: string, series: { name: string; points: [number, number][] }[], note?: string): string {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  if (pts.length === 0) return '';
  const lx = pts.map(([x]) => Math.log10(x));
  const ly = pts.map(([, y]) => Math.log10(y));
  const range = (ls: number[]) => {
    const lo = Math.floor(Math.min(...ls) + 1e-9);
    return [lo, Math.max(lo + 1, Math.ceil(Math.max(...ls) - 1e-9))] as const;
  };
  const [x0, x1] = range(lx);
  const [y0, y1] = range(ly);
  const W = 520;
  const H = 300;
  const L = 70;
  const T = note ? 62 : 30;
  const px = (x: number) => L + ((Math.log10(x) - x0) / (x1 - x0)) * W;
  const py = (y: number) => T + H - ((Math.log10(y) - y0) / (y1 - y0)) * H;
  const parts: string[] = [`<rect width="100%" height="100%" fill="#fff"/><text x="0" y="18" font-weight="bold">${escape(title)}</text>`];
  if (note) parts.push(`<text x="0" y="36">${escape(note)}</text>`);
  for (const t of logTicks(x0, x1)) parts.push(`<line x1="${px(t).toFixed(1)}" y1="${T}" x2="${px(t).toFixed(1)}" y2="${T + H}" stroke="#ddd"/><text x="${px(t).toFixed(1)}" y="${T + H + 16}" text-anchor="middle" fill="#555">${si(t)}</text>`);
  for (const t of logTicks(y0, y1)) parts.push(`<line x1="${L}" y1="${py(t).toFixed(1)}" x2="${L + W}" y2="${py(t).toFixed(1)}" stroke="#ddd"/><text x="${L - 8}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end" fill="#555">${si(t)}</text>`);
  parts.push(`<text x="${L + W / 2}" y="${T + H + 34}" text-anchor="middle">${escape(xLabel)}</text><text x="4" y="${T - 8}">${escape(yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const ps = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    if (ps.length > 1) parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${ps.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of ps) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="4" fill="${c}"/>`);
    parts.push(`<rect x="${L + W + 12}" y="${T + i * 18}" width="10" height="10" fill="${c}"/><text x="${L + W + 26}" y="${T + i * 18 + 10}">${escape(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${L + W + 330}" height="${T + H + 44}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`;
}

/** The results of one bench: its key is its name, alone or followed by its description ("ipam" is not "ipam-join"). */
function find(results: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(results).find((k) => k === name || k.startsWith(`${name} `));
  return key ? results[key] : undefined;
}

/** Every chart the results allow, each with a file name for docs/ (charts whose bench did not run are left out). */
export function reportCharts(results: Record<string, unknown>): { file: string; svg: string }[] {
  const charts: { file: string; svg: string }[] = [];
  const add = (file: string) => (svg: string) => charts.push({ file, svg });
  const dp = find(results, 'dataplane') as Row[] | undefined;
  if (Array.isArray(dp)) {
    add('bench-throughput.svg')(
      barChart('Container to container throughput (iperf3), the overlay against hand-made VXLAN and the wire', 'Gbit/s', [1, 4].flatMap((streams) => dp.map((r) => ({
        name: `${streams} stream${streams > 1 ? 's' : ''}, ${r['tsoGsoOn'] ? 'TSO/GSO on' : 'TSO/GSO off on the host links'}`,
        ratios: true,
        bars: [
          { label: 'overlay', value: r[`overlayGbps_${streams}`]! },
          { label: 'hand-made bridge + VXLAN', value: r[`handVxlanGbps_${streams}`]! },
          { label: 'host link (the wire)', value: r[`hostLinkGbps_${streams}`]! },
          { label: 'bare veth pair', value: r[`bareVethGbps_${streams}`]! },
        ],
      })))),
    );
  }
  const enc = find(results, 'encryption') as Row | undefined;
  if (enc && typeof enc === 'object') {
    add('bench-encryption.svg')(
      barChart(`Container to container throughput (iperf3), encrypted (${enc['wireguard'] ?? 'WireGuard'}) against plain VXLAN`, 'Gbit/s', [1, 4].map((streams) => ({
        name: `${streams} stream${streams > 1 ? 's' : ''}; the WireGuard processes use ${enc[`wireguardCpuCores_${streams}`]} cores`,
        ratios: true,
        bars: [
          { label: 'encrypted', value: enc[`encryptedGbps_${streams}`]! },
          { label: 'plain VXLAN', value: enc[`plainGbps_${streams}`]! },
        ],
      }))),
    );
  }
  const cni = find(results, 'cni') as Row | undefined;
  if (cni && typeof cni === 'object') {
    add('bench-cni-latency.svg')(
      barChart(`CNI plugin latency, median of ${cni['runs']} calls each, interleaved with the reference plugins`, 'ms', [
        { name: 'ADD', ratios: true, bars: [{ label: 'overlay plugin', value: cni['oursAddMedianMs']! }, { label: 'reference bridge + host-local', value: cni['refAddMedianMs']! }] },
        { name: 'DEL', ratios: true, bars: [{ label: 'overlay plugin', value: cni['oursDelMedianMs']! }, { label: 'reference bridge + host-local', value: cni['refDelMedianMs']! }] },
      ]),
    );
  }
  const sim = find(results, 'mesh-sim') as Row[] | undefined;
  if (Array.isArray(sim)) {
    const bySize = [...sim].sort((p, q) => p['peers']! - q['peers']!);
    const [first, last] = [bySize[0]!, bySize[bySize.length - 1]!];
    const growth = (k: string) => times(last[k]!, first[k]!);
    add('bench-gossip-convergence.svg')(
      logChart('Gossip convergence against peer count (simulated, 3 targets per peer; log-log)', 'peers', 'ms until every peer agrees', [
        { name: 'after a join', points: bySize.map((r) => [r['peers']!, r['joinConvergenceSimMs']!]) },
        { name: 'after a death', points: bySize.map((r) => [r['peers']!, r['deathConvergenceSimMs']!]) },
      ], bySize.length > 1 ? `${first['peers']} → ${last['peers']} peers (${times(last['peers']!, first['peers']!)}): a join takes ${growth('joinConvergenceSimMs')} as long, a death ${growth('deathConvergenceSimMs')}` : undefined),
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
  const scaleRows = find(results, 'scale') as Row[] | undefined; // exact name: not 'scale-real'
  if (Array.isArray(scaleRows)) {
    // A case the wall-clock budget stopped has no figures past the point it reached.
    const scale = scaleRows.filter((r) => r['finished'] !== 0);
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
  const real = find(results, 'scale-real') as Row[] | undefined;
  if (Array.isArray(real) && real.some((r) => r['hosts'])) {
    const bySize = [...real].filter((r) => r['hosts']).sort((p, q) => p['hosts']! - q['hosts']!);
    const pts = (k: string): [number, number][] => bySize.map((r) => [r['hosts']!, r[k] ?? 0]);
    add('bench-scale-real.svg')(
      logChart('Real daemons in namespaces, launched at once: convergence against host count (log-log)', 'hosts', 'ms after the last launch (or the kill; launching: from the first)', [
        // On a saturated machine most of the time goes here, before the last launch returns.
        { name: 'launching all (first start to last return)', points: bySize.map((r) => [r['hosts']!, (r['launchAllS'] ?? 0) * 1000]) },
        { name: 'full topology on every host', points: pts('lastLaunchToTopologyMs') },
        { name: 'every pair\'s data path verified', points: pts('lastLaunchToPathsVerifiedMs') },
        { name: 'IPAM ready everywhere', points: pts('lastLaunchToIpamReadyMs') },
        { name: 'kill -9: removed everywhere', points: pts('killToRemovedEverywhereMs') },
        { name: 'kill -9: FDB clean everywhere', points: pts('killToFdbCleanEverywhereMs') },
      ], 'targets at 100 hosts: topology <= 15 s, data paths <= 30 s, IPAM <= 10 s'),
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
        { name: 'daemon start-up', ratios: true, bars: [{ label: 'scrypt key', value: sec['daemonStartHardenedMs'] ?? 0 }, { label: 'v1 hash', value: sec['daemonStartLegacyMs'] ?? 0 }] },
        { name: 'one handshake on loopback', ratios: true, bars: [{ label: 'scrypt key', value: sec['handshakeHardenedMs'] ?? 0 }, { label: 'v1 hash', value: sec['handshakeLegacyMs'] ?? 0 }] },
      ]),
    );
  }
  const exe = find(results, 'executable') as Row | undefined;
  if (exe && typeof exe === 'object') {
    const nodeKey = Object.keys(exe).find((k) => k.startsWith('versionMs_node')) ?? '';
    const both = (what: string) => [{ label: 'executable (Bun)', value: exe[`${what}_executable`] ?? 0 }, { label: 'node dist/...', value: exe[what === 'versionMs' ? nodeKey : `${what}_node`] ?? 0 }];
    add('bench-executable-startup.svg')(
      barChart('CLI start-up: the overlay executable against node dist/src/cli/main.js', 'ms', [
        { name: 'overlay version', ratios: true, bars: both('versionMs') },
        { name: 'overlay status (daemon running)', ratios: true, bars: both('statusMs') },
      ]),
    );
    add('bench-executable-rss.svg')(barChart('Idle daemon memory (RSS)', 'MB', [{ name: 'a few seconds after launch', ratios: true, bars: both('idleDaemonRssMb') }]));
  }
  return charts;
}

export function renderReport(results: Record<string, unknown>, when: string): string {
  const charts = reportCharts(results).map((c) => c.svg);
  const body = charts.length ? charts.map((c) => `<div style="margin:16px 0">${c}</div>`).join('\n') : '<p>No chartable results in this run.</p>';
  return `<!doctype html><html><head><meta charset="utf-8"><title>overlay benchmarks ${escape(when)}</title></head><body style="font-family:sans-serif"><h1>overlay benchmarks</h1><p>${escape(when)}; every number has its baseline from the same run. Raw numbers: the JSON file beside this page.</p>\n${body}\n</body></html>\n`;
}
