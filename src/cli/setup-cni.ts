/**
 * `overlay setup-cni`: install the plugin binary and write a conflist for one
 * network. Both land atomically (a temp file in the same directory, then
 * rename), so a runtime never reads half a file. The conflist names the
 * daemon's socket and the plugin's state dir (<data dir>/cni, where the
 * daemon lists attachments and drains queued releases), so a daemon with its
 * own --data-dir or --api-socket gets a plugin that finds it.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseNetwork, formatCidr } from '../lib/ipv4.js';
import { cniStateDir } from '../daemon/files.js';
import { UsageError } from './args.js';
import { builtPluginPath } from '../lib/self.js';

export interface SetupCniOptions {
  binDir: string;
  confDir: string;
  name: string;
  subnet?: string;
  daemonSocket: string;
  /** The daemon's data dir: the plugin keeps its state in <dataDir>/cni, which the daemon reads. */
  dataDir: string;
  portmap: boolean;
  /** The host becomes the network's gateway at its first ADD (exposed, with masquerade). */
  gateway: boolean;
  /** Containers get a 224.0.0.0/4 route. */
  multicastRoute: boolean;
}

function atomicWrite(path: string, write: (tmp: string) => void, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    write(tmp);
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function conflist(o: SetupCniOptions): object {
  return {
    cniVersion: '1.0.0',
    name: o.name,
    // Chains with the reference portmap are written with disableCheck, so runtimes skip CHECK for the chain.
    ...(o.portmap ? { disableCheck: true } : {}),
    plugins: [
      {
        type: 'overlay',
        ...(o.subnet ? { subnet: o.subnet } : {}),
        daemonSocket: o.daemonSocket,
        stateDir: cniStateDir(o.dataDir),
        isolation: true,
        gateway: o.gateway,
        ...(o.multicastRoute ? {} : { multicastRoute: false }),
      },
      ...(o.portmap ? [{ type: 'portmap', capabilities: { portMappings: true }, snat: true }] : []),
    ],
  };
}

export function setupCni(o: SetupCniOptions): { plugin: string; conf: string } {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(o.name)) throw new UsageError(`--name must be 1-100 letters, digits, ".", "-" or "_", got "${o.name}"`);
  let subnet: string | undefined;
  try {
    subnet = o.subnet === undefined ? undefined : formatCidr(parseNetwork(o.subnet, '--subnet'));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const src = builtPluginPath();
  if (!existsSync(src)) throw new Error(`the plugin binary ${src} is missing; run "npm run build" first`);
  const plugin = join(o.binDir, 'overlay');
  // The package installs the plugin in /opt/cni/bin itself; copying it onto itself would be a no-op at best.
  if (resolve(plugin) !== resolve(src)) atomicWrite(plugin, (tmp) => copyFileSync(src, tmp), 0o755);
  const conf = join(o.confDir, `10-${o.name}.conflist`);
  // The plugin takes absolute paths only (a runtime runs it from anywhere).
  const paths = { daemonSocket: resolve(o.daemonSocket), dataDir: resolve(o.dataDir) };
  atomicWrite(conf, (tmp) => writeFileSync(tmp, JSON.stringify(conflist({ ...o, ...paths, subnet }), null, 2) + '\n'), 0o644);
  return { plugin, conf };
}
