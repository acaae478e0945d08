/**
 * DEL: undo ADD, idempotently. It succeeds when called twice, when the netns
 * or interface is already gone, and while the daemon is down: then the
 * release is queued on disk for the daemon to apply when it is back.
 */
import type { CniEnv, NetConf } from '../config.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { DaemonUnavailableError, ownerOf, type AttachmentRecord, type Deps } from '../ports.js';
import type { Logger } from '../../src/lib/logger.js';
import { hostVethName, retiredName } from '../../src/dataplane/names.js';

export async function cmdDel(env: CniEnv, _conf: NetConf, deps: Deps): Promise<void> {
  const record = await deps.store.get(env.containerId, env.ifname);
  const netns = env.netns || record?.netns || '';
  await removeAttachment(deps, { containerId: env.containerId, ifname: env.ifname, netns, hostVeth: record?.hostVeth });
}

/**
 * Shared by DEL and GC: take the port out of service, release its address (or queue the
 * release), then forget the record. Destroying a veth costs the kernel ~20 ms; the daemon
 * does that after answering, unless it cannot be reached.
 */
export async function removeAttachment(
  deps: Deps,
  a: Pick<AttachmentRecord, 'containerId' | 'ifname' | 'netns'> & { hostVeth?: string },
): Promise<void> {
  const owner = ownerOf(a.containerId, a.ifname);
  const log = deps.log.child({ owner });
  // Without a record the port's name is derived, as ADD derived it.
  const hostVeth = a.hostVeth ?? (a.netns ? hostVethName(a.netns, a.ifname) : undefined);
  const fail = (what: string, e: unknown) => new CniError(ErrorCode.Io, `${what} ${a.ifname} in ${a.netns || 'a deleted netns'} failed: ${(e as Error).message}`);
  let present = false;
  try {
    if (hostVeth) present = await deps.attacher.quiesce(hostVeth);
  } catch (e) {
    throw fail('taking down', e);
  }
  // The port passes nothing now, so its address may go; the daemon answers while the port is renamed.
  const retired = present ? retiredName(deps.random) : undefined;
  const release = releaseOrQueue(deps, owner, log, hostVeth ? { hostVeth, retired } : undefined);
  release.catch(() => undefined); // awaited below
  try {
    if (retired) await deps.attacher.retire(a.netns, a.ifname, hostVeth!, retired);
  } catch (e) {
    await release.catch(() => undefined);
    throw fail('retiring', e);
  }
  const handedOver = await release;
  try {
    if (retired && !handedOver) await deps.attacher.destroy(retired);
  } catch (e) {
    throw fail(`removing (retired as ${retired})`, e);
  }
  await deps.store.remove(a.containerId, a.ifname);
}

/** Release now (true), or queue it on disk for the daemon when it cannot be reached (false). */
export async function releaseOrQueue(deps: Deps, owner: string, log: Logger, port?: { hostVeth: string; retired?: string }): Promise<boolean> {
  try {
    await deps.daemon.release(owner, port);
    await deps.releases.remove(owner);
    return true;
  } catch (e) {
    if (!(e instanceof DaemonUnavailableError))
      throw new CniError(ErrorCode.Io, `releasing the address of ${owner} failed: ${(e as Error).message}`);
    log.warn('daemon unavailable, release queued', { reason: e.message });
    try {
      await deps.releases.enqueue(owner);
    } catch (qe) {
      throw new CniError(ErrorCode.Io, `daemon unavailable and queueing the release failed: ${(qe as Error).message}`);
    }
    return false;
  }
}
