/**
 * CNI ADD and DEL latency of our plugin binary against Debian's reference
 * `bridge` + `host-local`, in the same lab host and the same run, runs
 * interleaved so both see the same machine load. Each call is a fresh
 * process, as a runtime makes it; namespaces are created outside the timing.
 * Each call starts on a settled host: work one call leaves behind (our DEL
 * leaves the kernel's ~20 ms destruction of the veth to the daemon) must not
 * land on the next call, ours or the reference's.
 */
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupDaemons, daemonHost, ipamReady, launch } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { median, percentile, ratio } from './measure.js';

const RUNS = Number(process.env['BENCH_CNI_RUNS'] ?? 40);
const SETTLE_MS = 100;
const here = fileURLToPath(new URL('.', import.meta.url));
const PLUGIN = resolve(here, here.includes('/dist/') ? '../../cni/overlay' : '../../dist/cni/overlay');

export async function benchCni(): Promise<Record<string, number>> {
  const lab = await Lab.create({ hosts: 1, label: 'benchcni' });
  const d = daemonHost(lab, 1);
  try {
    await launch(d, ['--ipalloc-range', '10.32.0.0/16']);
    await ipamReady([d]);
    const ours = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'overlay', daemonSocket: d.apiSocket, stateDir: join(d.dataDir, 'cni') });
    const ref = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'refnet',
      type: 'bridge',
      bridge: 'refbr0',
      ipam: { type: 'host-local', subnet: '10.33.0.0/16', dataDir: join(d.dataDir, 'host-local') },
    });
    const call = async (bin: string, conf: string, command: string, id: string, ns: string) => {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const t = performance.now();
      const r = await execa('ip', ['netns', 'exec', d.host.ns, bin], {
        reject: false,
        input: conf,
        env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
      });
      const ms = performance.now() - t;
      if (r.exitCode !== 0) throw new Error(`${bin} ${command} failed: ${r.stdout} ${r.stderr}`);
      return ms;
    };
    const t = { oursAdd: [] as number[], oursDel: [] as number[], refAdd: [] as number[], refDel: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      const a = await lab.addNamespace(`o${i}`);
      const b = await lab.addNamespace(`r${i}`);
      t.oursAdd.push(await call(PLUGIN, ours, 'ADD', `o${i}`, a));
      t.refAdd.push(await call('/usr/lib/cni/bridge', ref, 'ADD', `r${i}`, b));
      t.oursDel.push(await call(PLUGIN, ours, 'DEL', `o${i}`, a));
      t.refDel.push(await call('/usr/lib/cni/bridge', ref, 'DEL', `r${i}`, b));
    }
    const r2 = (x: number) => +x.toFixed(1);
    return {
      runs: RUNS,
      oursAddMedianMs: r2(median(t.oursAdd)),
      oursAddP90Ms: r2(percentile(t.oursAdd, 90)),
      refAddMedianMs: r2(median(t.refAdd)),
      refAddP90Ms: r2(percentile(t.refAdd, 90)),
      addMedianVsRef: ratio(median(t.oursAdd), median(t.refAdd)),
      oursDelMedianMs: r2(median(t.oursDel)),
      oursDelP90Ms: r2(percentile(t.oursDel, 90)),
      refDelMedianMs: r2(median(t.refDel)),
      refDelP90Ms: r2(percentile(t.refDel, 90)),
      delMedianVsRef: ratio(median(t.oursDel), median(t.refDel)),
    };
  } finally {
    await cleanupDaemons([d]);
    await lab.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchCni().then((r) => console.log(JSON.stringify(r, null, 2)));
}
