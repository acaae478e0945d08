/**
 * The daemon's on-disk state, in LevelDB under <data-dir>/db. This is the
 * only module that knows about `level`; everything else stores JSON values
 * under namespaced keys ("mesh/name", "ipam/ring", …).
 */
import { Level } from 'level';
import { join } from 'node:path';

export type StoreOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

export class StoreError extends Error {
  /** True when another daemon holds the database (as opposed to it being damaged). */
  constructor(
    message: string,
    readonly inUse = false,
  ) {
    super(message);
  }
}

export class Store {
  /** Every operation runs in turn, so a reopen never races one. */
  private turn: Promise<unknown> = Promise.resolve();
  /** Set by a failed write: the log may end in a torn record, so the next operation reopens first. */
  private tornLog = false;

  private constructor(
    private db: Level<string, unknown>,
    private readonly dataDir: string,
  ) {}

  static async open(dataDir: string): Promise<Store> {
    return new Store(await openDb(dataDir), dataDir);
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(async () => {
      // LevelDB reads a log that ends in a torn record by skipping to the end of its block, which
      // would drop any record written after it; a reopen starts a fresh log (keeping what was whole).
      if (this.tornLog) {
        await this.db.close().catch(() => undefined);
        this.db = await openDb(this.dataDir);
        this.tornLog = false;
      }
      return fn();
    });
    this.turn = run.catch(() => undefined);
    return run;
  }

  private write<T>(fn: () => Promise<T>): Promise<T> {
    return this.inTurn(async () => {
      try {
        return await fn();
      } catch (e) {
        this.tornLog = true;
        throw e;
      }
    });
  }

  get<T>(key: string): Promise<T | undefined> {
    return this.inTurn(async () => {
      const v = await this.db.get(key);
      return v === undefined ? undefined : (v as T);
    });
  }

  put(key: string, value: unknown): Promise<void> {
    return this.write(() => this.db.put(key, value));
  }

  /** All operations land together or not at all. */
  batch(ops: StoreOp[]): Promise<void> {
    return this.write(() => this.db.batch(ops.map((o) => (o.type === 'put' ? { type: 'put', key: o.key, value: o.value } : { type: 'del', key: o.key }))));
  }

  entries<T>(prefix: string): Promise<[string, T][]> {
    return this.inTurn(async () => {
      const out: [string, T][] = [];
      for await (const [k, v] of this.db.iterator({ gte: prefix, lt: prefix + '\xff' })) out.push([k, v as T]);
      return out;
    });
  }

  close(): Promise<void> {
    return this.inTurn(() => this.db.close());
  }
}

async function openDb(dataDir: string): Promise<Level<string, unknown>> {
  const db = new Level<string, unknown>(join(dataDir, 'db'), { valueEncoding: 'json' });
  try {
    await db.open();
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED' || /lock/i.test(String(cause?.message))) {
      throw new StoreError(`the data dir ${dataDir} is in use by another overlay daemon`, true);
    }
    throw new StoreError(
      `cannot open the state database in ${dataDir}: ${cause?.message ?? (e as Error).message}. ` +
        `If it is corrupt, move it aside (or run "overlay reset --data-dir ${dataDir}") and launch again.`,
    );
  }
  return db;
}
