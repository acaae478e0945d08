/**
 * Telling systemd that the daemon is up (Type=notify): a datagram "READY=1"
 * to the unix socket named in NOTIFY_SOCKET (sd_notify(3)). Without
 * NOTIFY_SOCKET (not started by systemd) it does nothing.
 *
 * Under Bun (the `overlay` executable) the daemon sends it itself, through
 * libc (sd-notify-bun.ts), so the message comes from the main PID. Node has no
 * unix datagram sockets, so under Node `systemd-notify --ready` sends it; the
 * unit's NotifyAccess=all lets systemd accept it from that child.
 */
import { execa } from 'execa';

export async function notifyReady(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const socket = env['NOTIFY_SOCKET'];
  if (!socket) return;
  const message = `READY=1\nMAINPID=${process.pid}\n`;
  if (process.versions['bun']) return (await import('./sd-notify-bun.js')).sendNotify(socket, message);
  const r = await execa('systemd-notify', ['--ready', `MAINPID=${process.pid}`], { env: { NOTIFY_SOCKET: socket }, reject: false });
  if (r.exitCode !== 0) throw new Error(`systemd-notify --ready failed: ${(r.stderr || r.stdout || `exit ${r.exitCode}`).trim()}`);
}
