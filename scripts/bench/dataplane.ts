/**
 * Container-to-container throughput and RTT over the overlay, against two
 * baselines built on the same lab in the same run:
 *  (a) the host link itself: host namespace to host namespace over the lab
 *      underlay, the wire the overlay runs on (and, for reference, a bare veth
 *      pair between two namespaces, with no switch in between);
 *  (b) a bridge + kernel VXLAN set up by hand between the same two hosts, with
 *      the same MTU and the same kind of veth-attached "containers".
 * iperf3 with 1 and 4 streams; ping for RTT. Then again with TSO/GSO off on
 * the host links (a realistic wire that segments in software). Each path is
 * measured in ROUNDS short runs, the paths taking turns in a rotating order,
 * and the median is kept: on a shared machine the load drifts within seconds,
 * and one long run per path, one path after the other, let that drift decide
 * the ratio (the same bench gave the overlay 1.06× and 1.56× the hand-made
 * VXLAN in two runs ten minutes apart, because the baseline's run fell on a
 * busy moment).
 */
import { execa } from 'execa';
import { cleanupDaemons, daemonHost, ipamReady, launch, overlay, waitFor } from '../lab/daemons.js';
import { ipBatch, Lab } from '../lab/lab.js';
import { median, ratio } from './measure.js';

export const SECONDS = Number(process.env['BENCH_IPERF_SECONDS'] ?? 10);
const ROUNDS = Number(process.env['BENCH_IPERF_ROUNDS'] ?? 3);
const ROUND_SECONDS = Math.max(2, Math.ceil(SECONDS / ROUNDS));
const MTU = 1450;

export interface Path {
  client: string;
  server: string;
  serverIp: string;
}

export async function iperf(lab: Lab, p: Path, streams: number, seconds = SECONDS): Promise<number> {
  const srv = lab.spawn(p.server, 'iperf3', ['-s', '-1']);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const r = await lab.exec(p.client, 'iperf3', ['-c', p.serverIp, '-t', String(seconds), '-P', String(streams), '-J'], { timeoutMs: (seconds + 20) * 1000 });
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return +(j.end.sum_received.bits_per_second / 1e9).toFixed(2);
  } finally {
    await lab.stopProcess(srv);
  }
}

async function rttMs(lab: Lab, p: Path): Promise<number> {
  const r = await lab.exec(p.client, 'ping', ['-c', '50', '-i', '0.02', '-q', p.serverIp]);
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  return m ? +Number(m[1]).toFixed(3) : NaN;
}

async function offloads(lab: Lab, on: boolean): Promise<void> {
  const v = on ? 'on' : 'off';
  const set = (ns: string, dev: string) => execa('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tso', v, 'gso', v], { reject: false });
  for (const i of [1, 2]) {
    await set(lab.host(i).ns, 'eth0');
    await set(lab.switchNs, `p${i}`);
  }
  await set(`${lab.prefix}-da`, 'veth0');
  await set(`${lab.prefix}-db`, 'veth0');
}

export async function benchDataplane(): Promise<Record<string, number>[]> {
  const lab = await Lab.create({ hosts: 2, label: 'benchdp' });
  const d = [1, 2].map((i) => daemonHost(lab, i));
  try {
    // The overlay: two daemons, one attached container each.
    await launch(d[0]!, ['198.51.100.2']);
    await launch(d[1]!, ['198.51.100.1']);
    await ipamReady(d);
    const c1 = await lab.addNamespace('c1');
    const c2 = await lab.addNamespace('c2');
    await overlay(d[0]!, ['attach', c1]);
    const ip2 = (await overlay(d[1]!, ['attach', c2])).stdout.trim().split('/')[0]!;
    const overlayPath: Path = { client: c1, server: c2, serverIp: ip2 };
    await waitFor(async () => (await lab.exec(c1, 'ping', ['-c', '1', '-W', '1', ip2], { reject: false })).exitCode === 0, 10_000);

    // (b) bridge + VXLAN by hand, same hosts, same MTU, another VNI and port.
    const hand: Path = { client: await lab.addNamespace('hc1'), server: await lab.addNamespace('hc2'), serverIp: '10.200.0.2' };
    for (const i of [1, 2]) {
      const ns = lab.host(i).ns;
      const cns = i === 1 ? hand.client : hand.server;
      await ipBatch(ns, [
        `link add hbr type bridge`,
        `link add hvx mtu ${MTU} type vxlan id 99 dstport 4789 nolearning df set`,
        `link set hvx master hbr up`,
        `link set hbr mtu ${MTU} up`,
        `link add hv${i} mtu ${MTU} type veth peer name eth0 mtu ${MTU} netns ${cns}`,
        `link set hv${i} master hbr up`,
      ]);
      await execa('ip', ['netns', 'exec', ns, 'bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'hvx', 'dst', `198.51.100.${3 - i}`]);
      await ipBatch(cns, [`addr add 10.200.0.${i}/24 dev eth0`, 'link set eth0 up']);
    }

    // (a) a direct veth between two namespaces.
    const da = `${lab.prefix}-da`;
    const db = `${lab.prefix}-db`;
    await lab.addNamespace('da');
    await lab.addNamespace('db');
    await ipBatch(da, [`link add veth0 type veth peer name veth0 netns ${db}`, 'addr add 198.51.100.201/24 dev veth0', 'link set veth0 up']);
    await ipBatch(db, ['addr add 198.51.100.202/24 dev veth0', 'link set veth0 up']);
    const direct: Path = { client: da, server: db, serverIp: '198.51.100.202' };
    const hostLink: Path = { client: lab.host(1).ns, server: lab.host(2).ns, serverIp: '198.51.100.2' };

    const rows: Record<string, number>[] = [];
    for (const offload of [true, false]) {
      await offloads(lab, offload);
      const row: Record<string, number> = { tsoGsoOn: offload ? 1 : 0, rounds: ROUNDS, secondsPerRound: ROUND_SECONDS };
      for (const streams of [1, 4]) {
        const paths = [overlayPath, hostLink, direct, hand];
        const samples: number[][] = paths.map(() => []);
        for (let round = 0; round < ROUNDS; round++) {
          for (let k = 0; k < paths.length; k++) {
            const i = (k + round) % paths.length;
            samples[i]!.push(await iperf(lab, paths[i]!, streams, ROUND_SECONDS));
          }
        }
        const [o, a, v, b] = samples.map(median) as [number, number, number, number];
        Object.assign(row, {
          [`overlayGbps_${streams}`]: o,
          [`hostLinkGbps_${streams}`]: a,
          [`bareVethGbps_${streams}`]: v,
          [`handVxlanGbps_${streams}`]: b,
          [`overlayVsHandVxlan_${streams}`]: ratio(o, b),
          [`overlayVsHostLink_${streams}`]: ratio(o, a),
          [`overlayVsBareVeth_${streams}`]: ratio(o, v),
        });
      }
      const ro = await rttMs(lab, overlayPath);
      const ra = await rttMs(lab, hostLink);
      const rb = await rttMs(lab, hand);
      Object.assign(row, { overlayRttMs: ro, hostLinkRttMs: ra, handVxlanRttMs: rb, rttOverlayVsHandVxlan: ratio(ro, rb), rttOverlayVsHostLink: ratio(ro, ra) });
      rows.push(row);
    }
    return rows;
  } finally {
    await cleanupDaemons(d);
    await lab.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchDataplane().then((r) => console.log(JSON.stringify(r, null, 2)));
}
