/**
 * The Type=notify path: notifyReady() sends "READY=1" (and MAINPID) as one
 * datagram to NOTIFY_SOCKET, under Node (systemd-notify) and under Bun
 * (libc, as the overlay executable does), to a path and to an abstract socket.
 * The receiver is a unix datagram socket bound by python3 (Node has none).
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notifyReady } from '../../../src/sys/sd-notify.js';

const ROOT = resolve(__dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'sd-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bind a datagram socket at `address` and resolve with the first message; `bound` resolves once it listens. */
function receiver(address: string, barrier = false) {
  // systemd-notify follows its message with BARRIER=1 and a pipe, and waits until the receiver
  // closes it (as systemd does once it has read the message): close every fd that comes along.
  const py = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
a = sys.argv[1]
s.bind("\\0" + a[1:] if a.startswith("@") else a)
print("bound", flush=True)
s.settimeout(20)
lines = []
while "READY=1" not in lines or (sys.argv[2] == "barrier" and "BARRIER=1" not in lines):
    msg, fds, _, _ = socket.recv_fds(s, 4096, 4)
    for fd in fds: os.close(fd)
    lines += msg.decode().splitlines()
print("\\n".join(l for l in lines if l != "BARRIER=1"), flush=True)
`;
  const p = execa('python3', ['-c', py, address, barrier ? 'barrier' : 'none']);
  const bound = new Promise<void>((done) => p.stdout!.on('data', (b: Buffer) => b.toString().startsWith('bound') && done()));
  return { bound, message: p.then((r) => r.stdout.replace(/^bound\n/, '')) };
}

describe('sd_notify READY=1', () => {
  it('does nothing without NOTIFY_SOCKET', async () => {
    await expect(notifyReady({})).resolves.toBeUndefined();
  });

  it('under Node, through systemd-notify', async () => {
    const socket = join(dir, 'node.sock');
    const r = receiver(socket, true);
    await r.bound;
    await notifyReady({ NOTIFY_SOCKET: socket });
    const m = await r.message;
    expect(m).toMatch(/^READY=1$/m);
    expect(m).toMatch(new RegExp(`^MAINPID=${process.pid}$`, 'm'));
  });

  for (const [what, socket] of [['a path', join(dir, 'bun.sock')], ['an abstract socket', `@overlay-test-${process.pid}`]] as const) {
    it(`under Bun, through libc, to ${what}`, async () => {
      const r = receiver(socket);
      await r.bound;
      const script = `import { notifyReady } from '${join(ROOT, 'src/sys/sd-notify.ts')}'; await notifyReady(); console.log(process.pid);`;
      const b = await execa(join(ROOT, 'node_modules/.bin/bun'), ['-e', script], { env: { NOTIFY_SOCKET: socket }, reject: false });
      expect(b.exitCode, b.stderr).toBe(0);
      const m = await r.message;
      expect(m).toBe(`READY=1\nMAINPID=${b.stdout.trim()}`); // execa drops the last newline
    });
  }

  it('a socket that is not there is an error, not silence', async () => {
    await expect(notifyReady({ NOTIFY_SOCKET: join(dir, 'absent.sock') })).rejects.toThrow(/systemd-notify --ready failed/);
  });
});
