/**
 * GC (1.1.0): remove every attachment of this network that the runtime no
 * longer lists in cni.dev/valid-attachments. Like DEL, it works while the
 * daemon is down (releases are queued). One failure does not stop the rest;
 * the first is reported after all were tried.
 */
import type { Attachment, NetConf } from '../config.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { ownerOf, type AttachmentRecord, type Deps } from '../ports.js';
import { removeAttachment } from './del.js';

/** Pure selection: records of `network` whose (containerId, ifname) is not valid. */
export function selectStale(records: AttachmentRecord[], network: string, valid: Attachment[]): AttachmentRecord[] {
  const keep = new Set(valid.map((a) => ownerOf(a.containerId, a.ifname)));
  return records.filter((r) => r.network === network && !keep.has(ownerOf(r.containerId, r.ifname)));
}

export async function cmdGc(conf: NetConf, deps: Deps): Promise<{ removed: string[] }> {
  if (!conf.validAttachments)
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'GC needs "cni.dev/valid-attachments" in the network config');
  const stale = selectStale(await deps.store.list(), conf.name, conf.validAttachments);
  const removed: string[] = [];
  let firstError: CniError | undefined;
  for (const rec of stale) {
    try {
      await removeAttachment(deps, rec);
      removed.push(ownerOf(rec.containerId, rec.ifname));
    } catch (e) {
      deps.log.error('GC could not remove attachment', { containerId: rec.containerId, ifname: rec.ifname, error: (e as Error).message });
      firstError ??= e instanceof CniError ? e : new CniError(ErrorCode.Io, (e as Error).message);
    }
  }
  if (firstError) throw firstError;
  return { removed };
}
