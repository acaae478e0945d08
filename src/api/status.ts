/**
 * The daemon's status as data, and its text renderings in the style of
 * `weave status`. The daemon builds DaemonStatus; the API serves it as JSON or
 * as text, so the CLI and curl users see the same thing.
 */
import type { ConnectionStatus, TargetStatus, TopologyPeerStatus } from '../mesh/router-types.js';

/** A block of "Key: value" lines contributed by a later layer (IPAM, data plane). */
export interface StatusSection {
  title: string;
  lines: [string, string][];
}

export interface DaemonStatus {
  version: string;
  protocol: { name: string; minVersion: number; maxVersion: number };
  name: string;
  nickname: string;
  uid: string;
  port: number;
  encryption: boolean;
  /** Salts the password key; shown so that peers refusing each other can compare it. */
  clusterName?: string;
  discovery: boolean;
  connLimit: number;
  targets: TargetStatus[];
  connections: ConnectionStatus[];
  peers: TopologyPeerStatus[];
  sections: StatusSection[];
}

function align(rows: [string, string][]): string {
  const w = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padStart(w + 8)}: ${v}`).join('\n');
}

function countBy<T extends string>(items: { state: T }[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const i of items) m.set(i.state, (m.get(i.state) ?? 0) + 1);
  return m;
}

/** One section on its own (`overlay status dataplane`), with a table of per-peer rows under it. */
export function formatSection(sec: StatusSection, rows: { header: string[]; rows: string[][] } | undefined): string {
  let out = align([['Service', sec.title], ...sec.lines]);
  if (rows && rows.rows.length) {
    const all = [rows.header, ...rows.rows];
    const widths = rows.header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
    out += '\n\n' + all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
  }
  return out;
}

export function formatSummary(s: DaemonStatus): string {
  // Like Weave: every established connection (dialled, accepted or discovered), plus targets still being tried.
  const established = s.connections.filter((c) => c.state === 'established').length;
  const pending = countBy(s.targets.filter((t) => t.state !== 'established'));
  const parts: [string, number][] = [['established', established], ...(['connecting', 'retrying', 'failed'] as const).map((k) => [k, pending.get(k as never) ?? 0] as [string, number])];
  const connParts = parts.filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  const total = parts.reduce((n, [, k]) => n + k, 0);
  const edges = s.peers.reduce((n, p) => n + p.connections.length, 0);
  const rows: [string, string][] = [
    ['Version', `${s.version} (protocol ${s.protocol.name} ${s.protocol.minVersion}..${s.protocol.maxVersion})`],
    ['Service', 'router'],
    ['Name', `${s.name}(${s.nickname})`],
    ['Encryption', s.encryption ? 'enabled' : 'disabled'],
    ['PeerDiscovery', s.discovery ? 'enabled' : 'disabled'],
    ['Targets', String(s.targets.length)],
    ['Connections', `${total}${connParts.length ? ` (${connParts.join(', ')})` : ''}`],
    ['Peers', `${s.peers.length} (with ${edges} established connections)`],
  ];
  let out = align(rows);
  for (const sec of s.sections) out += `\n\n${align([['Service', sec.title], ...sec.lines])}`;
  return out;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** One line per target and connection, like `weave status connections`. */
export function formatConnections(s: DaemonStatus): string {
  const lines: string[] = [];
  const byTarget = new Set<string>();
  for (const c of s.connections) {
    const arrow = c.outbound ? '->' : '<-';
    const who = c.peer ? `${c.peer}(${c.nickname})` : '';
    const info = c.info.length ? ` ${c.info.join(' ')}` : '';
    const up = c.state === 'established' ? ` up ${duration(c.upMs)}` : '';
    lines.push(`${arrow} ${c.address.padEnd(21)} ${c.state.padEnd(11)} ${who}${up}${info}`);
    if (c.outbound) byTarget.add(c.address);
  }
  for (const t of s.targets) {
    if (t.state === 'established' || byTarget.has(t.address)) continue;
    const retry = t.retryInMs !== undefined ? `, retry in ${duration(t.retryInMs)}` : '';
    const err = t.lastError ? ` ${t.lastError}` : '';
    lines.push(`-> ${t.address.padEnd(21)} ${t.state.padEnd(11)}${err}${retry}`);
  }
  return lines.join('\n');
}

export function formatPeers(s: DaemonStatus): string {
  const nick = new Map(s.peers.map((p) => [p.name, p.nickname]));
  const lines: string[] = [];
  for (const p of [...s.peers].sort((a, b) => a.name.localeCompare(b.name))) {
    lines.push(`${p.name}(${p.nickname})${p.name === s.name ? ' [this peer]' : ''}${p.reachable ? '' : ' unreachable!'}`);
    for (const c of p.connections) {
      lines.push(`   ${c.outbound ? '->' : '<-'} ${c.address.padEnd(21)} ${c.peer}(${nick.get(c.peer) ?? '?'})`);
    }
  }
  return lines.join('\n');
}

export function formatTargets(s: DaemonStatus): string {
  return s.targets.map((t) => t.address).join('\n');
}
