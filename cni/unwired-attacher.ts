/**
 * Placeholder until src/dataplane exports attach()/detach(): ADD fails with a
 * clear I/O error; DEL/GC have nothing to detach (nothing could have been
 * attached), so they still release addresses and clean state.
 */
import { access } from 'node:fs/promises';
import { BRIDGE_NAME } from './defaults.js';
import { NetnsNotFoundError, type Attacher, type AttachedPort, type SandboxInterface } from './ports.js';

export class UnwiredAttacher implements Attacher {
  readonly bridge = BRIDGE_NAME;

  async attach(): Promise<AttachedPort> {
    throw new Error('the dataplane attach path is not wired into this build yet');
  }

  async detach(): Promise<void> {}

  async inspect(netnsPath: string): Promise<SandboxInterface | undefined> {
    try {
      await access(netnsPath);
    } catch {
      throw new NetnsNotFoundError(netnsPath);
    }
    return undefined;
  }
}
