import { CniError, ErrorCode } from '../spec/errors.js';
import { DaemonRejectedError, DaemonUnavailableError } from '../ports.js';

/** Run a daemon call; an unreachable daemon becomes "try again later" (code 11) with the reason. */
export async function callDaemon<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CniError) throw e;
    if (e instanceof DaemonUnavailableError)
      throw new CniError(ErrorCode.TryAgainLater, `overlay daemon unavailable during ${what}: ${e.message}`);
    if (e instanceof DaemonRejectedError)
      throw new CniError(ErrorCode.InvalidNetworkConfig, `overlay daemon refused ${what}: ${e.message}`);
    throw new CniError(ErrorCode.Io, `${what} failed: ${(e as Error).message}`);
  }
}

/** Steps that undo what a failed command already did, run newest first; their own failures are logged, not thrown. */
export class UndoStack {
  private readonly steps: { what: string; fn: () => Promise<void> }[] = [];

  push(what: string, fn: () => Promise<void>): void {
    this.steps.push({ what, fn });
  }

  async unwind(onError: (what: string, e: Error) => void): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.fn();
      } catch (e) {
        onError(step.what, e as Error);
      }
    }
  }
}
