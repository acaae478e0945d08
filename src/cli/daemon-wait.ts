/**
 * How long `overlay launch` waits for the daemon it started: until its API
 * answers, or it exits, or it stops making progress. On a machine saturated by
 * many daemons starting together (100 lab hosts on 2 cores) the last ones took
 * over a minute from spawn to answering while everything worked, and a launch
 * that gave up on them reported a failure for a daemon that went on to join
 * the mesh. Progress is the daemon using CPU: one that is stuck on something
 * uses none, and is given up on after `stallMs`; `timeoutMs` caps the whole wait.
 */
export interface StartingDaemon {
  /** Its exit code once it has exited, else null. */
  exitCode(): number | null;
  /** Its API's first answer (which carries its name), or undefined while it does not answer. */
  answer(): Promise<{ name: string } | undefined>;
  /** CPU time it has used so far, in any unit; undefined where that cannot be read. */
  cpuUsed(): number | undefined;
}

export interface WaitClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export type WaitOutcome = { answered: { name: string } } | { exited: number } | { stalled: true } | { timedOut: true };

export const DAEMON_WAIT = { stallMs: 60_000, timeoutMs: 300_000 };

export async function waitForDaemon(d: StartingDaemon, clock: WaitClock, { stallMs, timeoutMs } = DAEMON_WAIT, pollMs = 50): Promise<WaitOutcome> {
  const start = clock.now();
  let progressAt = start;
  let used = d.cpuUsed();
  for (;;) {
    const code = d.exitCode();
    if (code !== null) return { exited: code };
    const answer = await d.answer();
    if (answer) return { answered: answer };
    const now = d.cpuUsed();
    if (now !== undefined && used !== undefined && now > used) progressAt = clock.now();
    used = now;
    if (clock.now() - start >= timeoutMs) return { timedOut: true };
    if (clock.now() - progressAt >= stallMs) return { stalled: true };
    await clock.sleep(pollMs);
  }
}
