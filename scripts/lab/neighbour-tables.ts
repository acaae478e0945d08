/**
 * A scale lab's neighbour tables. `net.ipv4/ipv6.neigh.default.gc_thresh1/2/3`
 * are global: every namespace's ARP and NDP entries count against the same
 * 1,024, which a lab of about 40 hosts (or 30 hosts with a container each, whose
 * containers all talk to each other) overflows; entries are then evicted and
 * pings and probes fail until ARP is redone. Only a scale lab raises them, and
 * it restores the old values afterwards, whatever happens.
 */
import { writeFileSync } from 'node:fs';
import { getSysctl, setSysctl } from '../../src/sys/sysctl.js';

const NEIGH_KEYS = ['ipv4', 'ipv6'].flatMap((f) => [1, 2, 3].map((i) => `net/${f}/neigh/default/gc_thresh${i}`));
const RAISED: Record<string, string> = { gc_thresh1: '8192', gc_thresh2: '32768', gc_thresh3: '65536' };

/** Raise the tables; the returned function puts the old values back (call it in a finally or afterAll). */
export async function raiseNeighbourTables(): Promise<() => Promise<void>> {
  const saved = new Map<string, string>();
  for (const k of NEIGH_KEYS) {
    const v = await getSysctl(k);
    if (v !== undefined) saved.set(k, v);
  }
  // On a signal, restored synchronously, before anything else: the lab's own handler
  // (scripts/lab/lab.ts) removes the namespaces and then exits the process, and an
  // asynchronous restore could lose that race.
  const onSignal = () => {
    for (const [k, v] of saved) {
      try {
        writeFileSync(`/proc/sys/${k}`, v);
      } catch {
        // keep restoring the others
      }
    }
  };
  process.prependOnceListener('SIGINT', onSignal);
  process.prependOnceListener('SIGTERM', onSignal);
  const restore = async () => {
    await Promise.all([...saved].map(([k, v]) => setSysctl(k, v).catch(() => undefined)));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  try {
    for (const k of saved.keys()) await setSysctl(k, RAISED[k.slice(k.lastIndexOf('/') + 1)]!);
  } catch (e) {
    await restore();
    throw e;
  }
  return restore;
}

export async function withNeighbourTablesRaised<T>(fn: () => Promise<T>): Promise<T> {
  const restore = await raiseNeighbourTables();
  try {
    return await fn();
  } finally {
    await restore();
  }
}
