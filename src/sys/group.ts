/**
 * Resolving a group for the API socket. Node has no getgrnam, so ask getent:
 * it goes through NSS, so LDAP or systemd-userdb groups resolve as `ls -l` would.
 */
import { execa } from 'execa';

export class UnknownGroup extends Error {}

/** The gid of a group name (or a numeric gid, taken as is); UnknownGroup when there is no such group. */
export async function resolveGroupId(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const r = await execa('getent', ['group', group], { reject: false });
  const gid = r.exitCode === 0 ? Number(r.stdout.split('\n')[0]!.split(':')[2]) : NaN;
  if (!Number.isInteger(gid)) throw new UnknownGroup(`--api-group ${group}: no such group on this host (getent group ${group} found nothing); create it or name another`);
  return gid;
}
