import type { ApiRouter } from '../api/http.js';
import type { MetricFamily } from '../api/metrics.js';
import type { StatusSection } from '../api/status.js';

/**
 * A layer plugged into the daemon (IPAM, data plane, …). The core starts them
 * in order after the router, stops them in reverse, and asks each for its
 * status, metrics and API routes, so adding a layer never edits the core.
 */
export interface DaemonComponent {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Undo everything the component made (devices, rules, hand-overs) before state is wiped. */
  reset?(): Promise<void>;
  status?(): StatusSection | undefined;
  /** Extra detail for `overlay status <name> --json`. */
  statusJson?(): unknown;
  metrics?(): MetricFamily[];
  /** Everything this layer knows, for `overlay report` (defaults to statusJson). */
  report?(): Promise<unknown>;
  routes?(api: ApiRouter): void;
}
