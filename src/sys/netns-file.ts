/**
 * Is this path a network namespace? `/attach` and `/ports/admit` take a path
 * and hand it to the kernel as root, so anything but a network namespace file
 * is refused before it is used: it must be an nsfs inode (same device as our
 * own /proc/self/ns/net; Node has statfs, but st_dev works in every runtime)
 * of type net, read from the magic link ("net:[4026532…]") for /proc/<pid>/ns/net
 * and friends, or from the mount table for a bind mount such as /run/netns/x.
 */
import { readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

/** The path is not a network namespace; the message says what it is instead. */
export class NotANetworkNamespace extends Error {}

const NS_LINK_RE = /^([a-z_]+):\[(\d+)\]$/;
const MAX_LINK_HOPS = 16;

let nsfsDev: number | undefined;
function nsfsDevice(): number {
  nsfsDev ??= statSync('/proc/self/ns/net').dev;
  return nsfsDev;
}

export function checkNetworkNamespace(path: string): void {
  if (!isAbsolute(path)) throw new NotANetworkNamespace(`"${path}" is not an absolute path to a network namespace`);
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NotANetworkNamespace(code === 'ENOENT' ? `network namespace ${path} does not exist` : `${path} is not a network namespace: cannot stat it (${code})`);
  }
  if (st.dev !== nsfsDevice()) {
    throw new NotANetworkNamespace(`${path} is not a network namespace: it is a ${st.isDirectory() ? 'directory' : 'file'} on an ordinary file system, not a namespace file (nsfs)`);
  }
  const type = namespaceType(path, st.ino);
  if (type !== 'net') throw new NotANetworkNamespace(`${path} is ${type === undefined ? 'a namespace of unknown type' : `a ${type} namespace`}, not a network namespace`);
}

/** "net", "mnt", … for an nsfs inode; undefined when neither a magic link nor the mount table says. */
function namespaceType(path: string, ino: number): string | undefined {
  let p = path;
  for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
    let target: string;
    try {
      target = readlinkSync(p);
    } catch {
      break; // not a link: a bind mount
    }
    const m = NS_LINK_RE.exec(target);
    if (m) return Number(m[2]) === ino ? m[1] : undefined;
    p = resolve(dirname(p), target);
  }
  return typeInMountTable(ino);
}

/** mountinfo's 4th field of an nsfs bind mount is the namespace, e.g. "net:[4026532465]". */
function typeInMountTable(ino: number): string | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of table.split('\n')) {
    if (!line.includes(' - nsfs ')) continue;
    const m = NS_LINK_RE.exec(line.split(' ')[3] ?? '');
    if (m && Number(m[2]) === ino) return m[1];
  }
  return undefined;
}
