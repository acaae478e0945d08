/**
 * Keeps the VXLAN device's remote FDB entries as gossip wants them, without reading them
 * back: it holds a model of what it programmed, plans against that (fdb-plan.ts, pure)
 * and writes only the difference. Kernel events keep the model true (an entry deleted by
 * hand is put back at once); the slow safety pass replaces the model with a real dump.
 * An unchanged input plans nothing and starts no process.
 */
import { bridgeBatch, type FdbEntry } from '../sys/fdb.js';
import type { FdbEvent } from './kernel-events.js';
import { planFdb, remoteEntries, type FdbWant } from './fdb-plan.js';

const key = (e: FdbWant) => `${e.mac}|${e.dst}`;

export class FdbProgrammer {
  private readonly model = new Map<string, FdbWant>();
  private want: FdbWant[] = [];
  private wanted = new Set<string>();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly dev: string,
    /** Called with entries someone else removed and we put back. */
    private readonly onRepair: (what: string) => void,
    /** Runs `bridge` lines (one process for all); a parameter so the programmer is unit-tested. */
    private readonly runLines: (lines: string[]) => Promise<void> = bridgeBatch,
  ) {}

  get size(): number {
    return this.want.length;
  }

  /** Make the device hold `want`; writes only what differs from the model. Resolves to the lines written. */
  program(want: FdbWant[]): Promise<number> {
    this.want = want;
    this.wanted = new Set(want.map(key));
    return this.inTurn(() => this.write());
  }

  /** A real dump of the device (the safety pass, or after the device was recreated): trust it over the model. */
  resync(dump: FdbEntry[]): Promise<number> {
    this.model.clear();
    for (const e of remoteEntries(dump)) this.model.set(key(e), e);
    return this.inTurn(() => this.write());
  }

  /** The device is gone or new: it holds nothing. */
  forgetAll(): void {
    this.model.clear();
  }

  /** An FDB event on the VXLAN device: our own writes echo back and change nothing; a hand-made change is undone. */
  observe(ev: FdbEvent): void {
    if (ev.dev !== this.dev || ev.dst === undefined || ev.master !== undefined) return;
    const e = { mac: ev.mac, dst: ev.dst };
    const k = key(e);
    if (ev.deleted) {
      if (!this.model.delete(k) || !this.wanted.has(k)) return;
      this.onRepair(`re-added FDB entry ${ev.mac} dst ${ev.dst}`);
      void this.inTurn(() => this.write()).catch(() => undefined);
    } else if (!this.model.has(k)) {
      this.model.set(k, e);
      if (!this.wanted.has(k)) void this.inTurn(() => this.write()).catch(() => undefined);
    }
  }

  private async write(): Promise<number> {
    const lines = planFdb(this.dev, [...this.model.values()], this.want);
    if (lines.length === 0) return 0;
    await this.runLines(lines);
    for (const k of [...this.model.keys()]) if (!this.wanted.has(k)) this.model.delete(k);
    for (const e of this.want) this.model.set(key(e), e);
    return lines.length;
  }

  private inTurn(fn: () => Promise<number>): Promise<number> {
    const run = this.chain.then(fn);
    this.chain = run.then(() => undefined, () => undefined);
    return run;
  }
}
