/**
 * Paths and defaults shared with the daemon. Kept in one place so they can be
 * aligned with src/daemon once its constants exist.
 */
export const PLUGIN_NAME = 'overlay';
export const PLUGIN_VERSION = '0.1.0';
export const DEFAULT_DAEMON_SOCKET = '/run/overlay/overlay.sock';
export { DEFAULT_STATE_DIR } from '../src/lib/plugin-state.js';
/** Maximum bytes accepted on stdin; a network config is a few KiB at most. */
export const MAX_STDIN_BYTES = 1 << 20;
/** How long a call to the daemon may take before we answer "try again later". */
export const DAEMON_TIMEOUT_MS = 3_000;
