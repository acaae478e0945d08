/**
 * The first allocation on a peer that has just joined an initialised ring,
 * against an allocation on a peer that already owns space, in the same runs
 * (real daemons in namespaces, over the API socket). Target ratio <= 1.
 *
 * "Newly joined" is the first moment after `overlay launch` at which the new
 * host's `overlay status` shows IPAM ready (GET /ipam/status answers 200:
 * what the CNI plugin waits for). A peer that joins owning nothing asks the
 * peer that handed it the ring for space at once and reports "joined with no
 * space: asking a peer for some" until the answer is on its disk, so that
 * donation is not hidden: it is measured on its own, from the moment the ring
 * is known (status shows any state but consensus) to ready. Also measured,
 * for information: an ADD sent the moment the ring is known, which waits for
 * the rest of that donation.
 */
import { apiRequest } from '../../src/api/client.js';
import { cleanupDaemons, daemonHost, launch, type DaemonHost } from '../lab/daemons.js';
import { Lab } from '../lab/lab.js';
import { median, ratio } from './measure.js';

const POLL_MS = 2;

async function ipamState(d: DaemonHost): Promise<string | undefined> {
  const r = await apiRequest(d.apiSocket, 'GET', '/status/ipam?format=json', undefined, { timeoutMs: 2000 }).catch(() => undefined);
  if (r?.status !== 200) return undefined;
  try {
    return (JSON.parse(r.body) as { state?: { state?: string } }).state?.state;
  } catch {
    return undefined;
  }
}

async function until(check: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (await check()) return performance.now();
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
}

const isReady = (d: DaemonHost) => async () => (await apiRequest(d.apiSocket, 'GET', '/ipam/status', undefined, { timeoutMs: 2000 }).catch(() => undefined))?.status === 200;
const hasRing = (d: DaemonHost) => async () => ['ready', 'awaiting-space'].includes((await ipamState(d)) ?? '');

async function timedAllocation(d: DaemonHost, owner: string): Promise<number> {
  const t = performance.now();
  const r = await apiRequest(d.apiSocket, 'POST', '/ipam/allocate', { owner });
  if (r.status !== 200) throw new Error(r.body);
  return performance.now() - t;
}

export async function benchIpamJoin(runs = 7): Promise<Record<string, number>> {
  const joined: number[] = [];
  const owning: number[] = [];
  const ringToReady: number[] = [];
  const atRing: number[] = [];
  for (let run = 0; run < runs; run++) {
    const lab = await Lab.create({ hosts: 3, label: 'benchjoin' });
    const [h1, h2, h3] = [1, 2, 3].map((i) => daemonHost(lab, i)) as [DaemonHost, DaemonHost, DaemonHost];
    try {
      await launch(h1, []); // seeds the ring alone
      await until(isReady(h1));
      // Both sides measure their first allocation once ready: the same cold paths (first write of an allocation).
      owning.push(await timedAllocation(h1, `owner-${run}:eth0`));
      await launch(h2, ['198.51.100.1']);
      const ring = await until(hasRing(h2));
      ringToReady.push((await until(isReady(h2))) - ring);
      joined.push(await timedAllocation(h2, `joined-${run}:eth0`));
      // The strict case: an ADD the moment the ring is known, while the first donation may be in flight.
      await launch(h3, ['198.51.100.1']);
      await until(hasRing(h3));
      atRing.push(await timedAllocation(h3, `at-ring-${run}:eth0`));
    } finally {
      await cleanupDaemons([h1, h2, h3]);
      await lab.destroy();
    }
  }
  return {
    joinedPeerFirstAllocMs: +median(joined).toFixed(2),
    owningPeerAllocMs: +median(owning).toFixed(2),
    joinedFirstVsOwning: ratio(median(joined), median(owning)),
    joinedRingToReadyMs: +median(ringToReady).toFixed(2),
    addAtRingArrivalMs: +median(atRing).toFixed(2),
    addAtRingArrivalVsOwning: ratio(median(atRing), median(owning)),
    runs,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchIpamJoin().then((r) => console.log(JSON.stringify(r, null, 2)));
}
