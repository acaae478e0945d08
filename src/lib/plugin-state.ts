/**
 * On-disk state of the CNI plugin, a format the daemon reads too (so it lives in src/): one small JSON file per attachment, and one
 * empty-ish file per release that still has to reach the daemon. Files are
 * written atomically (temp file + rename; queued releases also fsync'd) so a
 * crashed plugin never leaves a half-written file. File names are the URI-encoded owner
 * ("<containerId>:<ifname>"), which is unambiguous because neither part may
 * contain ':'. The calls are synchronous: the plugin is a short-lived process,
 * and under Bun node:fs/promises plus a thread-pool round trip per call cost
 * it ~1 ms per ADD; the daemon reads these files only for `overlay ps` and the
 * release queue, a few small files.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, watch, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './logger.js';

/** Where the plugin keeps its records unless its network config names a stateDir. */
export const DEFAULT_STATE_DIR = '/var/lib/overlay/cni';

/** Releases that could not reach the daemon wait here, under the plugin's state dir; the daemon drains them. */
export const PENDING_RELEASE_SUBDIR = 'pending-release';

/** What ADD remembers about one attachment, so DEL and GC can undo it (and `overlay ps` list it). */
export interface AttachmentRecord {
  containerId: string;
  ifname: string;
  netns: string;
  network: string;
  address: string;
  subnet: string;
  gateway?: string;
  hostVeth: string;
  mac: string;
  createdAt: string;
}

export interface AttachmentStore {
  get(containerId: string, ifname: string): Promise<AttachmentRecord | undefined>;
  put(record: AttachmentRecord): Promise<void>;
  /** Idempotent. */
  remove(containerId: string, ifname: string): Promise<void>;
  list(): Promise<AttachmentRecord[]>;
}

/** Releases waiting for the daemon to come back. */
export interface ReleaseQueue {
  enqueue(owner: string): Promise<void>;
  /** Idempotent. */
  remove(owner: string): Promise<void>;
  has(owner: string): Promise<boolean>;
  list(): Promise<string[]>;
}

/** The owner of a CNI attachment's address. */
export function ownerOf(containerId: string, ifname: string): string {
  return `${containerId}:${ifname}`;
}

const SUFFIX = '.json';

function fileFor(owner: string): string {
  return encodeURIComponent(owner) + SUFFIX;
}

function ownerFromFile(name: string): string | undefined {
  if (!name.endsWith(SUFFIX)) return undefined;
  try {
    return decodeURIComponent(name.slice(0, -SUFFIX.length));
  } catch {
    return undefined;
  }
}

let tmpCounter = 0;

/** `sync` flushes the data before the rename, so even a power loss leaves the old or the new file whole. */
export async function writeFileAtomic(path: string, data: string, opts: { sync: boolean }): Promise<void> {
  // Unique per process and call; no crypto (loading it costs the short-lived plugin ~6 ms).
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}-${tmpCounter++}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    if (opts.sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

async function listJson(dir: string): Promise<string[]> {
  try {
    return readdirSync(dir).filter((n) => n.endsWith(SUFFIX));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export class FileAttachmentStore implements AttachmentStore {
  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  async get(containerId: string, ifname: string): Promise<AttachmentRecord | undefined> {
    return this.read(join(this.dir, fileFor(ownerOf(containerId, ifname))));
  }

  async put(record: AttachmentRecord): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, fileFor(ownerOf(record.containerId, record.ifname)));
    // Not flushed (that costs ADD ~2 ms): a record describes veths and namespaces, which do not
    // survive a power loss either, and a record lost or torn by one is read as absent (DEL
    // derives the port's name without it).
    await writeFileAtomic(path, JSON.stringify(record) + '\n', { sync: false });
  }

  async remove(containerId: string, ifname: string): Promise<void> {
    rmSync(join(this.dir, fileFor(ownerOf(containerId, ifname))), { force: true });
  }

  async list(): Promise<AttachmentRecord[]> {
    const out: AttachmentRecord[] = [];
    for (const name of await listJson(this.dir)) {
      const rec = await this.read(join(this.dir, name));
      if (rec) out.push(rec);
    }
    return out;
  }

  /** A corrupt record is logged and left in place (never silently deleted). */
  private async read(path: string): Promise<AttachmentRecord | undefined> {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const rec = JSON.parse(text) as AttachmentRecord;
      if (typeof rec.containerId !== 'string' || typeof rec.ifname !== 'string') throw new Error('missing fields');
      return rec;
    } catch (e) {
      this.log.warn('ignoring corrupt attachment record', { path, error: (e as Error).message });
      return undefined;
    }
  }
}

export class FileReleaseQueue implements ReleaseQueue {
  constructor(private readonly dir: string) {}

  static inStateDir(stateDir: string): FileReleaseQueue {
    return new FileReleaseQueue(pendingReleaseDir(stateDir));
  }

  async enqueue(owner: string): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // Flushed: a queued release must outlive a crash, or its address leaks.
    await writeFileAtomic(join(this.dir, fileFor(owner)), JSON.stringify({ owner }) + '\n', { sync: true });
  }

  async remove(owner: string): Promise<void> {
    rmSync(join(this.dir, fileFor(owner)), { force: true });
  }

  async has(owner: string): Promise<boolean> {
    return (await listJson(this.dir)).includes(fileFor(owner));
  }

  async list(): Promise<string[]> {
    return (await listJson(this.dir)).map(ownerFromFile).filter((o): o is string => o !== undefined);
  }
}

/** Where the plugin queues releases, for a plugin state dir (the daemon passes this to drainPendingReleases). */
export function pendingReleaseDir(stateDir: string = DEFAULT_STATE_DIR): string {
  return join(stateDir, PENDING_RELEASE_SUBDIR);
}

/**
 * For the daemon: call `queued` whenever the plugin queues a release (a DEL
 * that found the daemon unreachable, typically while it restarts), from the
 * kernel's notification of the new file (inotify), not by polling. Returns
 * the function that stops watching, or undefined when the directory cannot be
 * watched (inotify's limits reached): the caller then polls.
 */
export function watchPendingReleases(dir: string, queued: () => void): (() => void) | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const w = watch(dir, { persistent: false }, () => queued());
    w.on('error', () => w.close());
    return () => w.close();
  } catch {
    return undefined;
  }
}

/**
 * For the daemon: apply the releases the plugin queued while the daemon was
 * down. Each entry is removed only after its release succeeded, so a crash
 * midway repeats (idempotent) releases instead of losing them.
 */
export async function drainPendingReleases(
  dir: string,
  client: { release(owner: string): Promise<unknown> },
): Promise<{ released: string[]; failed: { owner: string; error: string }[] }> {
  const queue = new FileReleaseQueue(dir);
  const released: string[] = [];
  const failed: { owner: string; error: string }[] = [];
  for (const owner of await queue.list()) {
    try {
      await client.release(owner);
      await queue.remove(owner);
      released.push(owner);
    } catch (e) {
      failed.push({ owner, error: (e as Error).message });
    }
  }
  return { released, failed };
}
