/**
 * The daemon's on-disk state, in LevelDB under <data-dir>/db. This is the
 * only module that knows about `level`; everything else stores JSON values
 * under namespaced keys ("mesh/name", "ipam/ring", …).
 */
import { Level } from 'level';
import { join } from 'node:path';

export type StoreOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

export class StoreError extends Error {}

export class Store {
  private constructor(private readonly db: Level<string, unknown>) {}

  static async open(dataDir: string): Promise<Store> {
    const db = new Level<string, unknown>(join(dataDir, 'db'), { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED' || /lock/i.test(String(cause?.message))) {
        throw new StoreError(`the data dir ${dataDir} is in use by another overlay daemon`);
      }
      throw new StoreError(
        `cannot open the state database in ${dataDir}: ${cause?.message ?? (e as Error).message}. ` +
          `If it is corrupt, move it aside (or run "overlay reset --data-dir ${dataDir}") and launch again.`,
      );
    }
    return new Store(db);
  }

  async get<T>(key: string): Promise<T | undefined> {
    const v = await this.db.get(key);
    return v === undefined ? undefined : (v as T);
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.db.put(key, value);
  }

  /** All operations land together or not at all. */
  async batch(ops: StoreOp[]): Promise<void> {
    await this.db.batch(ops.map((o) => (o.type === 'put' ? { type: 'put', key: o.key, value: o.value } : { type: 'del', key: o.key })));
  }

  async entries<T>(prefix: string): Promise<[string, T][]> {
    const out: [string, T][] = [];
    for await (const [k, v] of this.db.iterator({ gte: prefix, lt: prefix + '\xff' })) out.push([k, v as T]);
    return out;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
