/**
 * The chaos soak: five namespaced hosts with their daemons; containers come
 * and go through the real CNI binary on three subnets, while faults are
 * injected at random under a printed seed. Invariants are checked as it goes
 * and at the end; the summary says what was done, what broke and how long
 * recovery took. `npm run soak` runs it for SOAK_MINUTES (default 30); a
 * short run is part of the test suite.
 */
import { execa } from 'execa';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiRequest } from '../../src/api/client.js';
import { seededRandom } from '../../src/lib/random.js';
import { rssMb } from '../bench/measure.js';
import { cleanupDaemons, daemonHost, daemonPid, ipamReady, launch, statusJson, waitFor } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { FAULT_KINDS, injectFault, type ActiveFault } from './faults.js';

const SUBNETS = ['10.32.1.0/24', '10.32.2.0/24', '10.32.3.0/24'];
/** A daemon idles at ~70 MB and holds ~110 MB with 100,000 allocations; far above that is a leak. */
const RSS_BOUND_MB = 400;
const here = fileURLToPath(new URL('.', import.meta.url));
const PLUGIN = resolve(here, here.includes('/dist/') ? '../../cni/overlay' : '../../dist/cni/overlay');

export interface SoakOptions {
  seed: number;
  durationMs: number;
  hosts?: number;
  /** Chance per operation that a fault starts (when none is active). */
  faultRate?: number;
  log?: (line: string) => void;
}

export interface SoakSummary {
  seed: number;
  wallMs: number;
  hosts: number;
  ops: { add: number; addRefused: number; del: number };
  faults: Record<string, number>;
  faultLog: string[];
  checks: number;
  violations: string[];
  /** After each heal of a fault that split the mesh: time until every daemon saw all peers and the same ring. */
  convergenceMs: number[];
  /** After `nft flush ruleset`: time until the isolation rules were back (measured from the flush command's return). */
  isolationRestoreMs: number[];
  rssMb: Record<string, { first: number; peak: number; final: number }>;
}

interface Container {
  id: string;
  host: number;
  subnet: string;
  ns: string;
  ip: string;
}

interface IpamPeerRow {
  name: string;
  owned: number;
}

export async function runSoak(opts: SoakOptions): Promise<SoakSummary> {
  const t0 = Date.now();
  const n = opts.hosts ?? 5;
  const rand = seededRandom(opts.seed);
  const log = opts.log ?? (() => undefined);
  const lab = await Lab.create({ hosts: n, label: 'soak' });
  const daemons = Array.from({ length: n }, (_, i) => daemonHost(lab, i + 1));
  const s: SoakSummary = { seed: opts.seed, wallMs: 0, hosts: n, ops: { add: 0, addRefused: 0, del: 0 }, faults: {}, faultLog: [], checks: 0, violations: [], convergenceMs: [], isolationRestoreMs: [], rssMb: {} };
  const live = new Map<string, Container>();
  let seq = 0;
  const violation = (v: string) => {
    s.violations.push(v);
    log(`VIOLATION ${v}`);
  };
  const launchArgs = (i: number) => Array.from({ length: n }, (_, j) => j + 1).filter((j) => j !== i).map((j) => lab.host(j).ip);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;

  const cni = (host: number, command: string, c: { id: string; ns: string; subnet: string }) => {
    const d = daemons[host - 1]!;
    return execa('ip', ['netns', 'exec', d.host.ns, PLUGIN], {
      reject: false,
      timeout: 60_000,
      input: JSON.stringify({ cniVersion: '1.0.0', name: `net${c.subnet.split('.')[2]}`, type: 'overlay', subnet: c.subnet, daemonSocket: d.apiSocket, stateDir: join(d.dataDir, 'cni') }),
      env: { CNI_COMMAND: command, CNI_CONTAINERID: c.id, CNI_NETNS: `/run/netns/${c.ns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
    });
  };

  /** DEL must always succeed; then the container's namespace goes. */
  const del = async (c: { id: string; host: number; ns: string; subnet: string }) => {
    const r = await cni(c.host, 'DEL', c);
    s.ops.del++;
    if (r.exitCode !== 0) violation(`DEL of ${c.id} on h${c.host} failed: ${r.stdout || r.stderr}`);
    live.delete(c.id);
    await execa('ip', ['netns', 'del', c.ns], { reject: false });
  };

  const add = async () => {
    const host = 1 + Math.floor(rand() * n);
    const subnet = pick(SUBNETS);
    const id = `k${++seq}`;
    const ns = await lab.addNamespace(id);
    const r = await cni(host, 'ADD', { id, ns, subnet });
    if (r.exitCode !== 0) {
      // Refused (daemon down, IPAM busy, a device being repaired): the runtime cleans up with DEL.
      s.ops.addRefused++;
      return del({ id, host, ns, subnet });
    }
    s.ops.add++;
    const ip = (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    const clash = [...live.values()].find((c) => c.ip === ip);
    if (clash) violation(`${ip} given to ${id} on h${host} while ${clash.id} on h${clash.host} holds it`);
    live.set(id, { id, host, subnet, ns, ip });
  };

  /** A CNI ADD killed half-way, then the runtime's DEL. */
  const addKilled = async (host: number) => {
    const id = `k${++seq}`;
    const ns = await lab.addNamespace(id);
    const subnet = pick(SUBNETS);
    const p = cni(host, 'ADD', { id, ns, subnet });
    await new Promise((r) => setTimeout(r, 5 + Math.floor(rand() * 60)));
    p.kill('SIGKILL');
    await p;
    await del({ id, host, ns, subnet });
  };

  const sampleRss = () => {
    for (const d of daemons) {
      const pid = daemonPid(d);
      if (!pid) continue;
      let mb: number;
      try {
        mb = +rssMb(pid).toFixed(1);
      } catch {
        continue;
      }
      const key = `h${d.host.index}`;
      const r = (s.rssMb[key] ??= { first: mb, peak: mb, final: mb });
      r.peak = Math.max(r.peak, mb);
      r.final = mb;
    }
  };

  /** No address on two interfaces; every container has the address the plugin reported; other subnets unreachable. */
  const check = async () => {
    s.checks++;
    const seen = new Map<string, string>();
    for (const c of live.values()) {
      const out = (await execa('ip', ['-n', c.ns, '-j', 'addr', 'show', 'dev', 'eth0'], { reject: false })).stdout;
      const addrs = out.trim() ? (JSON.parse(out) as { addr_info: { family: string; local: string }[] }[]).flatMap((l) => l.addr_info).filter((a) => a.family === 'inet').map((a) => a.local) : [];
      if (!addrs.includes(c.ip)) violation(`${c.id} on h${c.host} lost its address ${c.ip} (has ${addrs.join(',') || 'none'})`);
      for (const a of addrs) {
        if (seen.has(a)) violation(`${a} is configured in both ${seen.get(a)} and ${c.id}`);
        seen.set(a, c.id);
      }
    }
    const cs = [...live.values()];
    const a = cs.length ? pick(cs) : undefined;
    const b = a ? cs.find((x) => x.subnet !== a.subnet) : undefined;
    if (a && b && (await crossPing(a, b))) violation(`${a.id} (${a.subnet}) reached ${b.id} (${b.subnet}) across subnets`);
    sampleRss();
  };

  /** Two containers of different subnets try hard: each adds a route to the other, as a root process inside could. */
  const crossPing = async (a: Container, b: Container) => {
    await execa('ip', ['-n', a.ns, 'route', 'replace', `${b.ip}/32`, 'dev', 'eth0'], { reject: false });
    await execa('ip', ['-n', b.ns, 'route', 'replace', `${a.ip}/32`, 'dev', 'eth0'], { reject: false });
    try {
      return await ping(a, b.ip);
    } finally {
      await execa('ip', ['-n', a.ns, 'route', 'del', `${b.ip}/32`], { reject: false });
      await execa('ip', ['-n', b.ns, 'route', 'del', `${a.ip}/32`], { reject: false });
    }
  };

  /** Right after `nft flush ruleset` on a host: do its containers reach another subnet before the rules are back? */
  const probeAfterFlush = async (host: number) => {
    const cs = [...live.values()];
    const a = cs.find((x) => x.host === host);
    const b = a && cs.find((x) => x.subnet !== a.subnet);
    const start = Date.now();
    const rulesBack = async () =>
      ((await execa('ip', ['netns', 'exec', lab.host(host).ns, 'nft', 'list', 'table', 'bridge', 'overlay-isolation'], { reject: false })).stdout.match(/ drop$/gm) ?? []).length > 0;
    const [reached, back] = await Promise.all([a && b ? crossPing(a, b) : false, waitFor(rulesBack, 10_000, 20).then((ok) => ok && Date.now() - start)]);
    if (reached) violation(`${a!.id} (${a!.subnet}) reached ${b!.id} (${b!.subnet}) right after nft flush ruleset on h${host}`);
    if (back !== false) s.isolationRestoreMs.push(back);
    else if ([...live.values()].some((x) => x.host === host)) violation(`isolation rules on h${host} not back within 10 s of nft flush ruleset`);
  };

  const ping = async (from: Container, ip: string) => (await execa('ip', ['netns', 'exec', from.ns, 'ping', '-c', '1', '-W', '1', ip], { reject: false })).exitCode === 0;

  /** Every daemon answers, sees all peers, and all hold the same ring. */
  const converged = async () => {
    const rings: string[] = [];
    for (const d of daemons) {
      const peers = await statusJson<{ name: string; connections: unknown[] }[]>(d, 'peers');
      if (peers.length !== n || peers.some((p) => p.connections.length !== n - 1)) return false;
      const ipam = await statusJson<{ status: string; peers: IpamPeerRow[] }>(d, 'ipam');
      if (ipam.status !== 'ready') return false;
      rings.push(JSON.stringify(ipam.peers.map((p) => [p.name, p.owned]).sort()));
    }
    return rings.every((r) => r === rings[0]);
  };

  const heal = async (f: ActiveFault) => {
    await f.heal?.();
    if (!f.partitionsMesh) return;
    const start = Date.now();
    if (await waitFor(converged, 90_000, 250)) s.convergenceMs.push(Date.now() - start);
    else violation(`no agreement on topology and ring within 90 s after healing: ${f.what}`);
  };

  try {
    for (let i = 1; i <= n; i++) await launch(daemons[i - 1]!, launchArgs(i));
    if (!(await ipamReady(daemons, 60_000))) throw new Error('IPAM never became ready');
    log(`soak: seed ${opts.seed}, ${n} hosts, ${Math.round(opts.durationMs / 1000)} s`);
    sampleRss();
    let active: { f: ActiveFault; until: number } | undefined;
    let ops = 0;
    while (Date.now() - t0 < opts.durationMs) {
      if (!active && rand() < (opts.faultRate ?? 0.08)) {
        const kind = pick(FAULT_KINDS);
        const f = await injectFault(kind, { lab, daemons, rand, launchArgs, addKilled });
        s.faults[kind] = (s.faults[kind] ?? 0) + 1;
        s.faultLog.push(`${Math.round((Date.now() - t0) / 1000)}s ${f.what}`);
        log(`fault: ${f.what}`);
        if (f.heal) active = { f, until: Date.now() + 2_000 + Math.floor(rand() * 6_000) };
        if (kind === 'nft-flush') await probeAfterFlush(f.host);
      }
      if (live.size > 0 && (live.size > 24 || rand() < 0.45)) await del(pick([...live.values()]));
      else await add();
      if (active && Date.now() > active.until) {
        await heal(active.f);
        active = undefined;
      }
      if (++ops % 15 === 0) await check();
    }
    if (active) await heal(active.f);

    // Recovery: every daemon up and agreeing, then same-subnet reachability, other subnets never.
    const start = Date.now();
    if (!(await waitFor(converged, 90_000, 250))) violation('no agreement on topology and ring within 90 s at the end');
    else s.convergenceMs.push(Date.now() - start);
    await check();
    const cs = [...live.values()];
    for (const a of cs.slice(0, 8)) {
      const same = cs.find((x) => x !== a && x.subnet === a.subnet);
      if (same && !(await waitFor(() => ping(a, same.ip), 20_000, 250))) violation(`${a.id} cannot reach ${same.id} in its subnet ${a.subnet} after recovery`);
      const other = cs.find((x) => x.subnet !== a.subnet);
      if (other && (await crossPing(a, other))) violation(`${a.id} (${a.subnet}) reached ${other.id} (${other.subnet}) after recovery`);
    }

    // Everything removed: nothing may remain anywhere once the daemons have settled.
    for (const c of [...live.values()]) await del(c);
    const leftovers = async () => {
      const left: string[] = [];
      for (const d of daemons) {
        const links = (await execa('ip', ['-n', d.host.ns, '-o', 'link', 'show'])).stdout.match(/ov[lr][0-9a-f]{12}/g) ?? [];
        if (links.length) left.push(`h${d.host.index}: veths ${links.join(' ')}`);
        const rules = (await execa('ip', ['netns', 'exec', d.host.ns, 'nft', 'list', 'table', 'bridge', 'overlay-isolation'], { reject: false })).stdout.match(/ovl[0-9a-f]{12}/g) ?? [];
        if (rules.length) left.push(`h${d.host.index}: isolation rules for ${[...new Set(rules)].join(' ')}`);
        const allocs = (await apiRequest(d.apiSocket, 'GET', '/ipam/allocations')).json<{ owner: string; address: string }[]>().filter((a) => !a.owner.startsWith('expose:'));
        if (allocs.length) left.push(`h${d.host.index}: allocations ${allocs.map((a) => `${a.owner}=${a.address}`).join(' ')}`);
      }
      return left;
    };
    let left: string[] = [];
    await waitFor(async () => (left = await leftovers()).length === 0, 30_000, 500);
    for (const l of left) violation(`left behind after the last DEL: ${l}`);
    sampleRss();
    for (const [host, r] of Object.entries(s.rssMb)) if (r.peak > RSS_BOUND_MB) violation(`the daemon of ${host} grew to ${r.peak} MB (bound ${RSS_BOUND_MB} MB)`);
  } finally {
    s.wallMs = Date.now() - t0;
    await cleanupDaemons(daemons);
    await lab.destroy();
  }
  return s;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const seed = process.env['SEED'] === 'random' || process.env['SEED'] === undefined ? Math.floor(Math.random() * 1e6) : Number(process.env['SEED']);
  const minutes = Number(process.env['SOAK_MINUTES'] ?? 30);
  runSoak({ seed, durationMs: minutes * 60_000, log: (l) => console.log(`${new Date().toISOString().slice(11, 19)} ${l}`) }).then((s) => {
    mkdirSync('bench-results', { recursive: true });
    const file = join('bench-results', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(s, null, 2));
    console.log(JSON.stringify(s, null, 2));
    console.log(`summary written to ${file}; ${s.violations.length} violations`);
    process.exitCode = s.violations.length ? 1 : 0;
  });
}
