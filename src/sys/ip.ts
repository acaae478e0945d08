/** iproute2 `ip`: links, addresses, routes and batches. */
import { parseJsonList, run, runUnchecked, SysError, type RunOptions } from './exec.js';

export interface Link {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  address?: string;
  master?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_kind?: string };
}

export interface AddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope: string;
}

export interface LinkAddrs extends Link {
  addr_info: AddrInfo[];
}

export interface Route {
  dst: string;
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  protocol?: string;
  scope?: string;
}

/** What `ip` says of a link that is not there. */
const MISSING_RE = /does not exist|Cannot find device|No such device/i;

function missing(e: unknown): boolean {
  return e instanceof SysError && MISSING_RE.test(e.stderr);
}

/** Every link with details (-d: kind and driver data). */
export async function links(opts: RunOptions = {}): Promise<Link[]> {
  return parseJsonList<Link>(await run('ip', ['-j', '-d', 'link', 'show'], opts));
}

/** One link with details, or undefined when it does not exist. */
export async function link(name: string, opts: RunOptions = {}): Promise<Link | undefined> {
  try {
    return parseJsonList<Link>(await run('ip', ['-j', '-d', 'link', 'show', 'dev', name], opts))[0];
  } catch (e) {
    if (missing(e)) return undefined;
    throw e;
  }
}

export async function addrs(dev?: string, opts: RunOptions = {}): Promise<LinkAddrs[]> {
  try {
    return parseJsonList<LinkAddrs>(await run('ip', ['-j', 'addr', 'show', ...(dev ? ['dev', dev] : [])], opts));
  } catch (e) {
    if (missing(e)) return [];
    throw e;
  }
}

export async function routes(args: string[] = [], opts: RunOptions = {}): Promise<Route[]> {
  return parseJsonList<Route>(await run('ip', ['-j', 'route', 'show', ...args], opts));
}

/** The route the kernel would use to reach `dst` (undefined when unreachable). */
export async function routeGet(dst: string, opts: RunOptions = {}): Promise<Route | undefined> {
  try {
    return parseJsonList<Route>(await run('ip', ['-j', 'route', 'get', dst], opts))[0];
  } catch {
    return undefined;
  }
}

/** Run several `ip` commands in one process; stops at the first failure (no -force). */
export async function ipBatch(lines: string[], opts: RunOptions = {}): Promise<void> {
  if (lines.length === 0) return;
  await run('ip', ['-batch', '-'], { ...opts, input: lines.join('\n') + '\n' });
}

/** Delete links in one process; missing ones are not an error. */
export async function deleteLinks(names: string[], opts: RunOptions = {}): Promise<void> {
  if (names.length === 0) return;
  const r = await runUnchecked('ip', ['-force', '-batch', '-'], { ...opts, input: names.map((n) => `link del dev ${n}`).join('\n') + '\n' });
  // -force goes on past a missing link; "Command failed" is the line it adds to each such message.
  const unexpected = r.stderr.split('\n').filter((l) => l.trim() && !MISSING_RE.test(l) && !/^Command failed/.test(l));
  if (unexpected.length) throw new Error(`cannot delete links: ${unexpected.join('; ')}`);
}

/** Delete a link; a missing link is not an error. */
export async function deleteLink(name: string, opts: RunOptions = {}): Promise<boolean> {
  try {
    await run('ip', ['link', 'del', 'dev', name], opts);
    return true;
  } catch (e) {
    if (missing(e)) return false;
    throw e;
  }
}
