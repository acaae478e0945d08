/**
 * The first allocation on a peer that has just joined an initialised ring,
 * against an allocation on a peer that already owns space, in the same runs
 * (real daemons in namespaces, over the API socket). A joining peer asks for
 * space in the background as soon as it has the ring, so its first
 * allocation should not wait for a donation round trip: target ratio <= 1.
 * Measured twice: at once when the joined peer reports IPAM ready (the
 * worst case: the background request may still be in flight), and a second
 * later, as a container usually starts.
 */
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, launch, type DaemonHost } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { median, ratio } from './measure.js';

async function ready(d: DaemonHost): Promise<void> {
  for (;;) {
    const r = await apiRequest(d.apiSocket, 'GET', '/ipam/status', undefined, { timeoutMs: 2000 }).catch(() => undefined);
    if (r?.status === 200) return;
    await new Promise((res) => setTimeout(res, 5));
  }
}

async function timedAllocation(d: DaemonHost, owner: string): Promise<number> {
  const t = performance.now();
  const r = await apiRequest(d.apiSocket, 'POST', '/ipam/allocate', { owner });
  if (r.status !== 200) throw new Error(r.body);
  return performance.now() - t;
}

export async function benchIpamJoin(runs = 5): Promise<Record<string, number>> {
  const joined: number[] = [];
  const joinedLater: number[] = [];
  const owning: number[] = [];
  for (let run = 0; run < runs; run++) {
    const lab = await Lab.create({ hosts: 3, label: 'benchjoin' });
    const [h1, h2, h3] = [1, 2, 3].map((i) => daemonHost(lab, i)) as [DaemonHost, DaemonHost, DaemonHost];
    try {
      await launch(h1, []); // seeds the ring alone
      await ready(h1);
      // Both sides measure their first allocation after IPAM is ready: same cold paths (first write of an allocation).
      owning.push(await timedAllocation(h1, `owner-${run}:eth0`));
      await launch(h2, ['198.51.100.1']);
      await ready(h2); // it has the ring, and no space of its own yet
      joined.push(await timedAllocation(h2, `joined-${run}:eth0`));
      // A container that starts a second after its host joined (the usual case): the background request is done by then.
      await launch(h3, ['198.51.100.1']);
      await ready(h3);
      await new Promise((res) => setTimeout(res, 1_000));
      joinedLater.push(await timedAllocation(h3, `later-${run}:eth0`));
    } finally {
      await cleanupDaemons([h1, h2, h3]);
      await lab.destroy();
    }
  }
  return {
    joinedPeerFirstAllocMs: +median(joined).toFixed(2),
    owningPeerAllocMs: +median(owning).toFixed(2),
    joinedFirstVsOwning: ratio(median(joined), median(owning)),
    joinedAfter1sFirstAllocMs: +median(joinedLater).toFixed(2),
    joinedAfter1sVsOwning: ratio(median(joinedLater), median(owning)),
    runs,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchIpamJoin().then((r) => console.log(JSON.stringify(r, null, 2)));
}
