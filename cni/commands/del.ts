/**
 * DEL: undo ADD, idempotently. It succeeds when called twice, when the netns
 * or interface is already gone, and while the daemon is down: then the
 * release is queued on disk for the daemon to apply when it is back.
 */
import type { CniEnv, NetConf } from '../config.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { DaemonUnavailableError, ownerOf, type AttachmentRecord, type Deps } from '../ports.js';
import type { Logger } from '../../src/lib/logger.js';

export async function cmdDel(env: CniEnv, _conf: NetConf, deps: Deps): Promise<void> {
  const record = await deps.store.get(env.containerId, env.ifname);
  const netns = env.netns || record?.netns || '';
  await removeAttachment(deps, { containerId: env.containerId, ifname: env.ifname, netns, hostVeth: record?.hostVeth });
}

/** Shared by DEL and GC: detach, release (or queue it), then forget the record. */
export async function removeAttachment(
  deps: Deps,
  a: Pick<AttachmentRecord, 'containerId' | 'ifname' | 'netns'> & { hostVeth?: string },
): Promise<void> {
  const owner = ownerOf(a.containerId, a.ifname);
  const log = deps.log.child({ owner });
  try {
    if (a.netns || a.hostVeth) await deps.attacher.detach(a.netns, a.ifname, a.hostVeth);
  } catch (e) {
    throw new CniError(ErrorCode.Io, `detaching ${a.ifname} from ${a.netns} failed: ${(e as Error).message}`);
  }
  await releaseOrQueue(deps, owner, log);
  await deps.store.remove(a.containerId, a.ifname);
}

/** Release now, or queue it on disk for the daemon when it cannot be reached. */
export async function releaseOrQueue(deps: Deps, owner: string, log: Logger): Promise<void> {
  try {
    await deps.ipam.release(owner);
    await deps.releases.remove(owner);
  } catch (e) {
    if (!(e instanceof DaemonUnavailableError))
      throw new CniError(ErrorCode.Io, `releasing the address of ${owner} failed: ${(e as Error).message}`);
    log.warn('daemon unavailable, release queued', { reason: e.message });
    try {
      await deps.releases.enqueue(owner);
    } catch (qe) {
      throw new CniError(ErrorCode.Io, `daemon unavailable and queueing the release failed: ${(qe as Error).message}`);
    }
  }
}
