/**
 * CNI ports a DEL took out of service (down, renamed: see retiredName) and
 * left for the daemon to destroy: the kernel takes ~20 ms per veth, which the
 * runtime's DEL need not wait for. Names handed over by DEL are destroyed
 * together shortly after; the periodic pass hands over any retired link still
 * present (a daemon stopped before it got to them, or a plugin that could not
 * reach it).
 */
import type { Logger } from '../lib/logger.js';
import { deleteLinks } from '../sys/ip.js';
import { RETIRED_RE } from './names.js';

/** Retirements within this long share one `ip` process. */
const BATCH_MS = 20;

export class RetiredPorts {
  private readonly due = new Set<string>();
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly log: Logger) {}

  /** Destroy these soon; names that are not retired ports are ignored. */
  destroy(names: Iterable<string>): void {
    for (const n of names) if (RETIRED_RE.test(n)) this.due.add(n);
    if (this.due.size === 0 || this.timer) return;
    this.timer = setTimeout(() => this.flush(), BATCH_MS);
    this.timer.unref();
  }

  /** Destroy what is due now, and wait for it (at stop). */
  async settle(): Promise<void> {
    this.flush();
    await this.running;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.due];
    this.due.clear();
    if (batch.length === 0) return;
    this.running = this.running
      .then(() => deleteLinks(batch))
      .catch((e: unknown) => this.log.warn('cannot remove retired ports; the next pass retries', { ports: batch, error: String(e) }));
  }
}
