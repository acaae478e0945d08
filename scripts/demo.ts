/**
 * The demo: three "hosts" as network namespaces on this machine, each running
 * an overlay daemon. h1 starts alone, h2 knows h1, h3 knows only h2; gossip
 * discovery turns the chain into a full mesh. IPAM splits the range, a
 * "container" namespace on h1 pings one on h3 over kernel VXLAN, and h1
 * exposes itself on the overlay. Everything is removed at the end
 * (with --keep, when you press Ctrl-C).
 */
import { cleanupDaemons, daemonHost, fullMesh, ipamReady, launch, overlay, waitFor, type DaemonHost } from './lab/daemons.js';
import { Lab } from './lab/lab.js';

async function main(): Promise<void> {
  // A closed pipe (`demo | head`) must not skip the teardown.
  process.stdout.on('error', () => undefined);
  const keep = process.argv.includes('--keep');
  const lab = await Lab.create({ hosts: 3, label: 'demo' });
  const hosts: DaemonHost[] = [1, 2, 3].map((i) => daemonHost(lab, i));
  const teardown = async () => {
    await cleanupDaemons(hosts);
    await lab.destroy();
  };
  try {
    console.log(`lab ${lab.prefix}: hosts ${hosts.map((d) => `${d.host.ns} (${d.host.ip})`).join(', ')}\n`);
    const t0 = Date.now();
    for (const d of hosts) {
      const peers = d.host.index === 1 ? [] : [`198.51.100.${d.host.index - 1}`];
      const name = await launch(d, peers);
      console.log(`$ overlay launch ${peers.join(' ')}   # on h${d.host.index}\n${name}`);
    }
    const meshed = await waitFor(() => fullMesh(hosts), 20_000);
    console.log(`\nfull mesh ${meshed ? 'formed' : 'NOT formed'} ${Date.now() - t0} ms after the first launch\n`);
    const ready = await ipamReady(hosts);
    console.log(`IPAM ${ready ? 'ready' : 'NOT ready'} on every host ${Date.now() - t0} ms after the first launch\n`);

    // One "container" (a network namespace) on h1 and one on h3, attached to the overlay.
    const containers: { ns: string; ip: string }[] = [];
    for (const d of [hosts[0]!, hosts[2]!]) {
      const ns = await lab.addNamespace(`c${d.host.index}`);
      const r = await overlay(d, ['attach', ns]);
      console.log(`$ overlay attach ${ns}   # on h${d.host.index}\n${r.stdout}${r.stderr}`);
      containers.push({ ns, ip: r.stdout.trim().split('/')[0]! });
    }
    const ping = async (ns: string, ip: string, what: string) => {
      const r = await lab.exec(ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', ip], { reject: false });
      console.log(`\n$ ping ${ip}   # ${what}\n${r.stdout.split('\n').slice(-2).join('\n')}`);
      return r.exitCode === 0;
    };
    let ok = await ping(containers[0]!.ns, containers[1]!.ip, 'from the container on h1 to the one on h3, through kernel VXLAN');
    const exposed = await overlay(hosts[0]!, ['expose']);
    console.log(`\n$ overlay expose   # on h1\n${exposed.stdout}${exposed.stderr}`);
    ok = (await ping(hosts[0]!.host.ns, containers[1]!.ip, 'from host h1 itself to the container on h3')) && ok;
    await new Promise((r) => setTimeout(r, 2_000)); // let the first data path probes finish
    console.log('');
    for (const d of hosts) {
      for (const args of [['status'], ['status', 'connections'], ['status', 'ipam']]) {
        const r = await overlay(d, args);
        console.log(`$ overlay ${args.join(' ')}   # on h${d.host.index}\n${r.stdout}${r.stderr}\n`);
      }
    }
    if (!meshed || !ready || !ok) process.exitCode = 1;
    if (keep) {
      console.log(`Lab kept. Try: OVERLAY_DATA_DIR=${hosts[0]!.dataDir} OVERLAY_API_SOCKET=${hosts[0]!.apiSocket} node dist/src/cli/main.js status peers`);
      console.log('Press Ctrl-C to tear it down.');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    await teardown();
    console.log('demo lab removed');
  }
}

main().catch((e) => {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exitCode = 1;
});
