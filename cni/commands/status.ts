/**
 * STATUS (1.1.0). Code 50: cannot service ADD (IPAM not ready, daemon up and
 * still forwarding). Code 51: the daemon itself is unreachable, so nobody
 * programs FDB entries or reconciles the bridge, and existing containers may
 * have limited connectivity.
 */
import { CniError, ErrorCode } from '../spec/errors.js';
import { DaemonUnavailableError, type Deps } from '../ports.js';

export async function cmdStatus(deps: Deps): Promise<void> {
  let status;
  try {
    status = await deps.daemon.status();
  } catch (e) {
    const reason = (e as Error).message;
    if (e instanceof DaemonUnavailableError)
      throw new CniError(ErrorCode.PluginNotAvailableLimitedConnectivity, `overlay daemon unavailable: ${reason}`);
    throw new CniError(ErrorCode.PluginNotAvailable, `overlay daemon status failed: ${reason}`);
  }
  if (!status.ready)
    throw new CniError(ErrorCode.PluginNotAvailable, `IPAM not ready: ${status.reason ?? 'no reason given'}`);
}
