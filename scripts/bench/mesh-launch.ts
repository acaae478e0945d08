/**
 * Launch-to-mesh time of 3 namespaced daemons, and idle daemon RSS, each
 * printed with a baseline measured in the same run: the CLI's own start-up
 * (`overlay version`) for time, and an idle bare Node process for memory.
 */
import { execa } from 'execa';
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, overlayCommand, daemonPid, launch, type DaemonHost } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { median, rssMb } from './measure.js';


async function meshed(hosts: DaemonHost[]): Promise<boolean> {
  for (const d of hosts) {
    const r = await apiRequest(d.apiSocket, 'GET', '/status/peers?format=json', undefined, { timeoutMs: 2000 });
    const peers = r.json<{ connections: unknown[] }[]>();
    if (peers.length !== hosts.length || peers.some((p) => p.connections.length !== hosts.length - 1)) return false;
  }
  return true;
}

export async function benchMeshLaunch(runs = 5): Promise<Record<string, number>> {
  const meshMs: number[] = [];
  const launchMs: number[] = [];
  const rss: number[] = [];
  for (let run = 0; run < runs; run++) {
    const lab = await Lab.create({ hosts: 3, label: 'benchlaunch' });
    const hosts = [1, 2, 3].map((i) => daemonHost(lab, i));
    try {
      await launch(hosts[0]!, []);
      await launch(hosts[1]!, ['198.51.100.1']);
      const t0 = performance.now();
      await launch(hosts[2]!, ['198.51.100.1', '198.51.100.2']);
      launchMs.push(performance.now() - t0);
      while (!(await meshed(hosts))) await new Promise((r) => setTimeout(r, 5));
      meshMs.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 3000)); // idle a moment before measuring memory
      rss.push(rssMb(daemonPid(hosts[0]!)!));
    } finally {
      await cleanupDaemons(hosts);
      await lab.destroy();
    }
  }
  // Baselines in the same run: CLI start-up, and a bare idle Node process.
  const cli: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const [file, ...args] = overlayCommand();
    await execa(file!, [...args, 'version']);
    cli.push(performance.now() - t);
  }
  const bare = execa(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  await new Promise((r) => setTimeout(r, 1000));
  const bareRss = rssMb(bare.pid!);
  bare.kill();
  await bare.catch(() => undefined);
  const result = {
    launchToFullMeshMs: Math.round(median(meshMs)),
    lastLaunchCommandMs: Math.round(median(launchMs)),
    meshAfterLaunchReturnsMs: Math.round(median(meshMs) - median(launchMs)),
    cliStartupBaselineMs: Math.round(median(cli)),
    launchToMeshVsCliStartup: +(median(meshMs) / median(cli)).toFixed(2),
    idleDaemonRssMb: +median(rss).toFixed(1),
    bareNodeRssMb: +bareRss.toFixed(1),
    idleRssVsBareNode: +(median(rss) / bareRss).toFixed(2),
  };
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchMeshLaunch().then((r) => console.log(JSON.stringify(r, null, 2)));
}
