/**
 * Encrypted against unencrypted throughput, container to container, 1 and 4
 * streams, in one lab and one run: hosts 1-2 run daemons without a password
 * (plain VXLAN), hosts 3-4 with one (VXLAN inside WireGuard; wireguard-go on a
 * kernel without the module). Also the CPU the WireGuard processes use while
 * the encrypted runs last, as a share of one core.
 */
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, waitFor, type DaemonHost } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { iperf, SECONDS, type Path } from './dataplane.js';
import { ratio } from './measure.js';

/** CPU time (user + system) of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

async function wireguardPids(ns: string): Promise<number[]> {
  const pids = (await execa('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
  return pids.filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'wireguard-go';
    } catch {
      return false;
    }
  });
}

async function pairOfContainers(lab: Lab, a: DaemonHost, b: DaemonHost, env: Record<string, string>): Promise<Path> {
  await launch(a, [b.host.ip], env);
  await launch(b, [a.host.ip], env);
  await ipamReady([a, b]);
  const c1 = await lab.addNamespace(`c${a.host.index}`);
  const c2 = await lab.addNamespace(`c${b.host.index}`);
  await overlay(a, ['attach', c1]);
  const ip2 = (await overlay(b, ['attach', c2])).stdout.trim().split('/')[0]!;
  await waitFor(async () => (await lab.exec(c1, 'ping', ['-c', '1', '-W', '1', ip2], { reject: false })).exitCode === 0, 20_000, 200);
  return { client: c1, server: c2, serverIp: ip2 };
}

export async function benchEncryption(): Promise<Record<string, number | string>> {
  const lab = await Lab.create({ hosts: 4, label: 'benchenc' });
  const d = [1, 2, 3, 4].map((i) => daemonHost(lab, i));
  try {
    const plain = await pairOfContainers(lab, d[0]!, d[1]!, {});
    const encrypted = await pairOfContainers(lab, d[2]!, d[3]!, { OVERLAY_PASSWORD: 'bench' });
    const wg = [...(await wireguardPids(lab.host(3).ns)), ...(await wireguardPids(lab.host(4).ns))];
    const row: Record<string, number | string> = { wireguard: wg.length ? 'wireguard-go' : 'kernel' };
    for (const streams of [1, 4]) {
      const p = await iperf(lab, plain, streams);
      const before = wg.reduce((s, pid) => s + cpuSeconds(pid), 0);
      const t0 = Date.now();
      const e = await iperf(lab, encrypted, streams);
      const cpu = (wg.reduce((s, pid) => s + cpuSeconds(pid), 0) - before) / ((Date.now() - t0) / 1000);
      Object.assign(row, {
        [`plainGbps_${streams}`]: p,
        [`encryptedGbps_${streams}`]: e,
        [`encryptedVsPlain_${streams}`]: ratio(e, p),
        [`wireguardCpuCores_${streams}`]: +cpu.toFixed(2),
      });
    }
    row['iperfSeconds'] = SECONDS;
    return row;
  } finally {
    await cleanupDaemons(d);
    await lab.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchEncryption().then((r) => console.log(JSON.stringify(r, null, 2)));
}
