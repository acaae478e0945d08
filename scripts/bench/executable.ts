/**
 * The `overlay` executable (Bun --compile) against the baseline it replaces,
 * `node dist/src/cli/main.js`, in the same run: CLI start-up (`overlay
 * version`, and `overlay status` answered by a running daemon) and the idle
 * daemon's RSS a few seconds after launch, one namespaced host per runtime.
 */
import { execa } from 'execa';
import { cleanupDaemons, daemonHost, daemonPid, ipamReady, launch, overlay } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { median, ratio, rssMb } from './measure.js';

type Runtime = 'executable' | 'node';

async function measure(runtime: Runtime, runs: number): Promise<{ versionMs: number; statusMs: number; idleRssMb: number }> {
  const before = process.env['OVERLAY_RUNTIME'];
  process.env['OVERLAY_RUNTIME'] = runtime;
  const lab = await Lab.create({ hosts: 1, label: `bexe${runtime[0]}` });
  const d = daemonHost(lab, 1);
  try {
    const timed = async (args: string[]) => {
      const xs: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        const r = await overlay(d, args);
        xs.push(performance.now() - t);
        if (r.exitCode !== 0) throw new Error(`overlay ${args.join(' ')} (${runtime}) failed: ${r.stderr}`);
      }
      return median(xs);
    };
    // `ip netns exec` costs the same for both; it is part of both numbers.
    const versionMs = await timed(['version']);
    await launch(d, []);
    if (!(await ipamReady([d]))) throw new Error(`the ${runtime} daemon did not get ready`);
    const statusMs = await timed(['status']);
    await new Promise((r) => setTimeout(r, 3000)); // idle a moment before measuring memory
    return { versionMs, statusMs, idleRssMb: rssMb(daemonPid(d)!) };
  } finally {
    await cleanupDaemons([d]);
    await lab.destroy();
    if (before === undefined) delete process.env['OVERLAY_RUNTIME'];
    else process.env['OVERLAY_RUNTIME'] = before;
  }
}

export async function benchExecutable(runs = 10): Promise<Record<string, number>> {
  const node = await measure('node', runs);
  const exe = await measure('executable', runs);
  const nodeVersion = (await execa(process.execPath, ['--version'])).stdout;
  return {
    [`versionMs_node_${nodeVersion}`]: +node.versionMs.toFixed(1),
    versionMs_executable: +exe.versionMs.toFixed(1),
    versionExecutableVsNode: ratio(exe.versionMs, node.versionMs),
    statusMs_node: +node.statusMs.toFixed(1),
    statusMs_executable: +exe.statusMs.toFixed(1),
    statusExecutableVsNode: ratio(exe.statusMs, node.statusMs),
    idleDaemonRssMb_node: +node.idleRssMb.toFixed(1),
    idleDaemonRssMb_executable: +exe.idleRssMb.toFixed(1),
    idleRssExecutableVsNode: ratio(exe.idleRssMb, node.idleRssMb),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchExecutable().then((r) => console.log(JSON.stringify(r, null, 2)));
}
