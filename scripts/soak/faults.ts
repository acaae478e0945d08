/**
 * The faults the soak injects into a lab of daemons, each as "inject now,
 * heal later": the soak keeps working (CNI ADD/DEL) while a fault is active.
 * Everything happens inside the lab's own namespaces.
 */
import { execa } from 'execa';
import type { Random } from '../../src/lib/random.js';
import { killDaemon, launch, overlay, type DaemonHost } from '../lab/daemons.js';
import type { Lab } from '../lab/lab.js';

export type FaultKind = 'kill9' | 'stop-launch' | 'link-flap' | 'packet-loss' | 'partition' | 'nft-flush' | 'device-deleted' | 'add-killed';

export const FAULT_KINDS: FaultKind[] = ['kill9', 'stop-launch', 'link-flap', 'packet-loss', 'partition', 'nft-flush', 'device-deleted', 'add-killed'];

export interface ActiveFault {
  kind: FaultKind;
  /** The host it hit (for a partition, one host of the first group). */
  host: number;
  what: string;
  /** Undo it (restart, link up, rules removed); undefined for instant faults. */
  heal?: () => Promise<void>;
  /** Whether healing it changes topology, so the soak measures convergence afterwards. */
  partitionsMesh: boolean;
}

const SOAK_TABLE = 'soakfault';

/** nftables rules in a host namespace, in a table of our own (removed on heal). */
async function nftInHost(lab: Lab, host: number, rules: string[]): Promise<void> {
  const t = `inet ${SOAK_TABLE}`;
  const script = [
    `table ${t} {}`,
    `delete table ${t}`,
    `table ${t} {`,
    '  chain in { type filter hook input priority -300; policy accept; }',
    '  chain out { type filter hook output priority -300; policy accept; }',
    '}',
    ...rules.map((r) => `add rule ${t} ${r}`),
  ].join('\n');
  await lab.exec(lab.host(host).ns, 'nft', ['-f', '-'], { input: script + '\n' });
}

async function clearNft(lab: Lab, host: number): Promise<void> {
  await lab.exec(lab.host(host).ns, 'nft', ['delete', 'table', 'inet', SOAK_TABLE], { reject: false });
}

export async function injectFault(
  kind: FaultKind,
  ctx: { lab: Lab; daemons: DaemonHost[]; rand: Random; launchArgs: (i: number) => string[]; addKilled: (host: number) => Promise<void> },
): Promise<ActiveFault> {
  const { lab, daemons, rand } = ctx;
  const n = daemons.length;
  const pick = () => 1 + Math.floor(rand() * n);
  const h = pick();
  const d = daemons[h - 1]!;
  switch (kind) {
    case 'kill9':
      await killDaemon(d, 'SIGKILL');
      return { kind, host: h, what: `kill -9 the daemon of h${h}`, heal: async () => void (await launch(d, ctx.launchArgs(h))), partitionsMesh: true };
    case 'stop-launch':
      await overlay(d, ['stop']);
      return { kind, host: h, what: `overlay stop on h${h}`, heal: async () => void (await launch(d, ctx.launchArgs(h))), partitionsMesh: true };
    case 'link-flap':
      await lab.setLink(h, false);
      return { kind, host: h, what: `link of h${h} down`, heal: () => lab.setLink(h, true), partitionsMesh: true };
    case 'packet-loss': {
      const pct = 20 + Math.floor(rand() * 21);
      await nftInHost(lab, h, [`in numgen random mod 100 < ${pct} drop`, `out numgen random mod 100 < ${pct} drop`]);
      return { kind, host: h, what: `${pct}% packet loss on h${h}`, heal: () => clearNft(lab, h), partitionsMesh: false };
    }
    case 'partition': {
      const all = Array.from({ length: n }, (_, i) => i + 1);
      const a = all.filter(() => rand() < 0.5);
      const groupA = a.length === 0 || a.length === n ? [1, 2] : a;
      const groupB = all.filter((x) => !groupA.includes(x));
      const ips = (g: number[]) => g.map((x) => lab.host(x).ip).join(', ');
      for (const x of groupA) await nftInHost(lab, x, [`in ip saddr { ${ips(groupB)} } drop`, `out ip daddr { ${ips(groupB)} } drop`]);
      for (const x of groupB) await nftInHost(lab, x, [`in ip saddr { ${ips(groupA)} } drop`, `out ip daddr { ${ips(groupA)} } drop`]);
      return {
        kind,
        host: groupA[0]!,
        what: `partition {${groupA.map((x) => `h${x}`).join(',')}} | {${groupB.map((x) => `h${x}`).join(',')}}`,
        heal: async () => {
          for (const x of all) await clearNft(lab, x);
        },
        partitionsMesh: true,
      };
    }
    case 'nft-flush':
      await lab.exec(lab.host(h).ns, 'nft', ['flush', 'ruleset']);
      return { kind, host: h, what: `nft flush ruleset on h${h}`, partitionsMesh: false };
    case 'device-deleted': {
      const dev = rand() < 0.5 ? 'overlay' : 'overlay-vx';
      await execa('ip', ['-n', lab.host(h).ns, 'link', 'del', dev], { reject: false });
      return { kind, host: h, what: `${dev} deleted on h${h}`, partitionsMesh: false };
    }
    case 'add-killed':
      await ctx.addKilled(h);
      return { kind, host: h, what: `a CNI ADD killed half-way on h${h}`, partitionsMesh: false };
  }
}
