#!/usr/bin/env node
/**
 * The `overlay` command. Every command but `launch --foreground` is a thin
 * client of the daemon API; the daemon code is loaded only when needed so the
 * CLI starts fast.
 */
import { apiRequest, DaemonUnreachable } from '../api/client.js';
import { LAUNCH_FLAGS, LOCATION_FLAGS, resolveDaemonConfig, resolveLocation, VERSION, checkTargets, type Location } from '../daemon/config.js';
import { parseArgs, UsageError, type FlagSpec, type ParsedArgs } from './args.js';
import { generatePassword, shortPasswordWarning } from '../mesh/password-key.js';
import { apiAnswers, launchInBackground, processAlive, readPid, waitForExit } from './daemon-process.js';

const USAGE = `Usage: overlay <command> [options]

Commands:
  launch [--foreground] [options] [peer ...]   start the router daemon (peers: host or host:port)
  status [peers|connections|targets|ipam|dataplane] [--json]  show the daemon's state
  expose [net:CIDR | ip:CIDR] [--without-masquerade]  give this host an address on the overlay
  hide [CIDR]                                  undo expose (all exposed subnets when none is given)
  attach <netns> [net:CIDR | ip:CIDR] [--ifname ethwe] [--no-multicast-route]
                                               put a network namespace on the overlay (it gets a 224.0.0.0/4 route unless --no-multicast-route)
  detach <netns> [--ifname ethwe]              take it off again and release its address
  rmpeer [--force] <name|nickname>             take over the address space of a dead peer (--force: even if
                                               seen alive less than a heartbeat timeout ago)
  ps [--json]                                  the containers attached on this host: id, interface, MAC, addresses
  report                                       every layer's whole state as JSON (attach it to bug reports)
  setup-cni [--bin-dir /opt/cni/bin] [--conf-dir /etc/cni/net.d] [--name overlay] [--subnet CIDR] [--portmap]
            [--no-gateway] [--no-multicast-route]
                                               install the CNI plugin and write a conflist (Nomad: --conf-dir /opt/cni/config);
                                               the host is the network's gateway (exposed on its subnet with masquerade at the
                                               first ADD) unless --no-gateway; containers get a 224.0.0.0/4 route unless
                                               --no-multicast-route; the plugin uses this command's --data-dir and --api-socket
  connect [--replace] <peer> ...               add (or replace) peers to connect to
  forget <peer> ...                            remove peers from the target list
  stop                                         stop the daemon, keep its state
  reset                                        stop the daemon and remove its devices, rules and state
  gen-password                                 print a strong random password (for --password-file)
  version                                      print the version

Launch options:
  --name MAC  --nickname NAME  --port 6783  --password PW | --password-file FILE (or OVERLAY_PASSWORD)
  --conn-limit N  --no-discovery  --log-level debug|info|warn|error  --min-protocol-version N
  --cluster-name overlay       salts the password's key; every peer of a cluster must use the same name
  --api-group GROUP            the API socket becomes mode 0660 with this group: its members may change the daemon
  --metrics-addr HOST:PORT     also serve /metrics (and nothing else) there, e.g. for Prometheus; off by default
  --ipalloc-range 10.32.0.0/12  --ipalloc-default-subnet CIDR  --ipalloc-wait SECONDS (default 10)
  --ipalloc-init consensus[=N] | seed=<name,...> | observer
  --bridge overlay  --vxlan-dev overlay-vx  --vxlan-vni 6784  --vxlan-port 6784  --mtu N (default: underlay MTU - 50, - 60 more when encrypted)
  --safety-pass-seconds 60 (how often the data plane re-reads all kernel state; events handle the rest)
  with a password: --wireguard-dev overlay-wg  --wireguard-port 6785  --trusted-subnets CIDR,...
Options for every command (or OVERLAY_DATA_DIR, OVERLAY_API_SOCKET, OVERLAY_HTTP_ADDR):
  --data-dir /var/lib/overlay  --api-socket /run/overlay/overlay.sock  --http-addr 127.0.0.1:6784
  (--http-addr serves only reads: status, report, ps, metrics; every change goes through the API socket)`;

type Command = (args: ParsedArgs, rawArgv: string[]) => Promise<number>;

function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

/**
 * Calls that allocate wait in the daemon up to its --ipalloc-wait (at most 600 s)
 * and then answer with the reason; the CLI must not give up before that.
 */
const ALLOCATING_CALL_TIMEOUT_MS = 610_000;

async function call(loc: Location, method: string, path: string, body?: unknown, accept?: string, timeoutMs?: number) {
  const r = await apiRequest(loc.apiSocket, method, path, body, { accept, timeoutMs });
  if (r.status >= 400) {
    let msg = r.body;
    try {
      msg = r.json<{ error: string }>().error;
    } catch {
      /* plain text */
    }
    throw new Error(msg);
  }
  return r;
}

const launch: Command = async ({ flags, positionals }, rawArgv) => {
  const cfg = resolveDaemonConfig(flags, positionals);
  if (flags['foreground']) {
    const { runForeground } = await import('../daemon/foreground.js');
    return runForeground(cfg);
  }
  const weak = cfg.password === undefined ? undefined : shortPasswordWarning(cfg.password);
  if (weak) process.stderr.write(`overlay: warning: ${weak}\n`);
  const pid = readPid(cfg.dataDir);
  if (pid && processAlive(pid) && (await apiAnswers(cfg.apiSocket))) {
    throw new Error(`overlay is already running (pid ${pid}); use "overlay connect" to add peers or "overlay stop" first`);
  }
  // Pass the options on, except the password: it travels in the environment.
  const forward: string[] = [];
  for (let i = 0; i < rawArgv.length; i++) {
    const a = rawArgv[i]!;
    if (a === '--password' || a === '--password-file') {
      i++;
      continue;
    }
    if (a.startsWith('--password=') || a.startsWith('--password-file=')) continue;
    forward.push(a);
  }
  await launchInBackground(cfg, forward, cfg.password);
  const s = (await call(cfg, 'GET', '/status')).json<{ name: string }>();
  out(s.name);
  return 0;
};

const STATUS_VIEWS = new Set(['peers', 'connections', 'targets', 'ipam', 'dataplane']);

const status: Command = async ({ flags, positionals }) => {
  const loc = resolveLocation(flags);
  const [view, ...extra] = positionals;
  if (extra.length) throw new UsageError(`status takes at most one view, got "${positionals.join(' ')}"`);
  if (view !== undefined && !STATUS_VIEWS.has(view)) throw new UsageError(`unknown status view "${view}": use peers, connections, targets, ipam or dataplane`);
  const path = view ? `/status/${view}` : '/status';
  const json = flags['json'] === true;
  const r = await call(loc, 'GET', json ? `${path}?format=json` : path, undefined, json ? 'application/json' : 'text/plain');
  out(json ? JSON.stringify(r.json(), null, 2) : r.body);
  return 0;
};

const connect: Command = async ({ flags, positionals }) => {
  if (positionals.length === 0 && !flags['replace']) throw new UsageError('connect needs at least one peer address');
  const loc = resolveLocation(flags);
  await call(loc, 'POST', '/connect', { targets: checkTargets(positionals), replace: flags['replace'] === true });
  return 0;
};

const forget: Command = async ({ flags, positionals }) => {
  if (positionals.length === 0) throw new UsageError('forget needs at least one peer address');
  const loc = resolveLocation(flags);
  await call(loc, 'POST', '/forget', { targets: checkTargets(positionals) });
  return 0;
};

async function stopDaemon(loc: Location, path: '/stop' | '/reset'): Promise<boolean> {
  const pid = readPid(loc.dataDir);
  try {
    await call(loc, 'POST', path);
  } catch (e) {
    if (e instanceof DaemonUnreachable) return false;
    throw e;
  }
  if (pid && !(await waitForExit(pid, 30_000))) throw new Error(`the daemon (pid ${pid}) did not stop within 30 s`);
  return true;
}

const stop: Command = async ({ flags, positionals }) => {
  if (positionals.length) throw new UsageError('stop takes no arguments');
  const loc = resolveLocation(flags);
  if (!(await stopDaemon(loc, '/stop'))) out('overlay is not running');
  return 0;
};

const reset: Command = async ({ flags, positionals }) => {
  if (positionals.length) throw new UsageError('reset takes no arguments');
  const loc = resolveLocation(flags);
  if (!(await stopDaemon(loc, '/reset'))) {
    // Not running: remove what it left on disk ourselves.
    const { resetOffline } = await import('../daemon/reset.js');
    await resetOffline(loc);
  }
  return 0;
};

const rmpeer: Command = async ({ flags, positionals }) => {
  if (positionals.length !== 1) throw new UsageError('rmpeer needs exactly one peer name or nickname');
  const loc = resolveLocation(flags);
  const r = (await call(loc, 'POST', '/ipam/rmpeer', { peer: positionals[0], force: flags['force'] === true })).json<{ message: string }>();
  out(r.message);
  return 0;
};

/** "net:10.32.1.0/24" or "ip:10.32.1.7/24", as Weave spelled them. */
function addressSpec(arg: string | undefined, cmd: string): { subnet?: string; ip?: string } {
  if (arg === undefined) return {};
  const m = /^(net|ip):(\d+\.\d+\.\d+\.\d+\/\d+)$/.exec(arg);
  if (!m) throw new UsageError(`${cmd}: expected net:<CIDR> or ip:<address/prefix>, got "${arg}"`);
  return m[1] === 'net' ? { subnet: m[2] } : { ip: m[2] };
}

const expose: Command = async ({ flags, positionals }) => {
  if (positionals.length > 1) throw new UsageError('expose takes at most one net:CIDR or ip:CIDR');
  const loc = resolveLocation(flags);
  const r = (await call(loc, 'POST', '/expose', { ...addressSpec(positionals[0], 'expose'), masquerade: flags['without-masquerade'] !== true }, undefined, ALLOCATING_CALL_TIMEOUT_MS)).json<{ address: string }>();
  out(r.address);
  return 0;
};

const hide: Command = async ({ flags, positionals }) => {
  if (positionals.length > 1) throw new UsageError('hide takes at most one CIDR');
  const loc = resolveLocation(flags);
  const r = (await call(loc, 'POST', '/hide', { cidr: positionals[0]?.replace(/^(net|ip):/, '') })).json<{ hidden: string[] }>();
  // Idempotent, as Weave's hide: hiding what is not exposed changes nothing and is no error.
  out(r.hidden.length ? `hidden: ${r.hidden.join(', ')}` : `${positionals[0] ?? 'nothing'} was not exposed: nothing changed`);
  return 0;
};

const attachCmd: Command = async ({ flags, positionals }) => {
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('attach needs a network namespace and optionally net:CIDR or ip:CIDR');
  const loc = resolveLocation(flags);
  const body = { netns: positionals[0], ifname: flags['ifname'], ...addressSpec(positionals[1], 'attach'), ...(flags['no-multicast-route'] ? { multicastRoute: false } : {}) };
  const r = (await call(loc, 'POST', '/attach', body, undefined, ALLOCATING_CALL_TIMEOUT_MS)).json<{ address: string }>();
  out(r.address);
  return 0;
};

const detachCmd: Command = async ({ flags, positionals }) => {
  if (positionals.length !== 1) throw new UsageError('detach needs exactly one network namespace');
  const loc = resolveLocation(flags);
  const r = (await call(loc, 'POST', '/detach', { netns: positionals[0], ifname: flags['ifname'] })).json<{ detached: boolean; released?: string }>();
  out(r.detached ? `detached${r.released ? `, released ${r.released}` : ''}` : 'was not attached');
  return 0;
};

const setupCniCmd: Command = async ({ flags, positionals }) => {
  if (positionals.length) throw new UsageError('setup-cni takes no arguments');
  const { setupCni } = await import('./setup-cni.js');
  const loc = resolveLocation(flags);
  const r = setupCni({
    binDir: String(flags['bin-dir'] ?? '/opt/cni/bin'),
    confDir: String(flags['conf-dir'] ?? '/etc/cni/net.d'),
    name: String(flags['name'] ?? 'overlay'),
    subnet: flags['subnet'] === undefined ? undefined : String(flags['subnet']),
    daemonSocket: loc.apiSocket,
    dataDir: loc.dataDir,
    portmap: flags['portmap'] === true,
    gateway: flags['no-gateway'] !== true,
    multicastRoute: flags['no-multicast-route'] !== true,
  });
  out(`installed ${r.plugin}\nwrote ${r.conf}`);
  return 0;
};

const ps: Command = async ({ flags, positionals }) => {
  if (positionals.length) throw new UsageError('ps takes no arguments');
  const json = flags['json'] === true;
  const r = await call(resolveLocation(flags), 'GET', json ? '/ps?format=json' : '/ps', undefined, json ? 'application/json' : 'text/plain');
  process.stdout.write(json ? JSON.stringify(r.json(), null, 2) + '\n' : r.body);
  return 0;
};

const report: Command = async ({ flags, positionals }) => {
  if (positionals.length) throw new UsageError('report takes no arguments');
  out(JSON.stringify((await call(resolveLocation(flags), 'GET', '/report')).json(), null, 2));
  return 0;
};

const genPassword: Command = async ({ positionals }) => {
  if (positionals.length) throw new UsageError('gen-password takes no arguments');
  out(generatePassword());
  return 0;
};

const version: Command = async () => {
  out(`overlay ${VERSION}`);
  return 0;
};

const COMMANDS: Record<string, { flags: FlagSpec; run: Command }> = {
  launch: { flags: LAUNCH_FLAGS, run: launch },
  status: { flags: { ...LOCATION_FLAGS, json: 'boolean' }, run: status },
  connect: { flags: { ...LOCATION_FLAGS, replace: 'boolean' }, run: connect },
  forget: { flags: LOCATION_FLAGS, run: forget },
  stop: { flags: LOCATION_FLAGS, run: stop },
  reset: { flags: LOCATION_FLAGS, run: reset },
  rmpeer: { flags: { ...LOCATION_FLAGS, force: 'boolean' }, run: rmpeer },
  ps: { flags: { ...LOCATION_FLAGS, json: 'boolean' }, run: ps },
  report: { flags: LOCATION_FLAGS, run: report },
  'setup-cni': {
    flags: { ...LOCATION_FLAGS, 'bin-dir': 'string', 'conf-dir': 'string', name: 'string', subnet: 'string', portmap: 'boolean', 'no-gateway': 'boolean', 'no-multicast-route': 'boolean' },
    run: setupCniCmd,
  },
  expose: { flags: { ...LOCATION_FLAGS, 'without-masquerade': 'boolean' }, run: expose },
  hide: { flags: LOCATION_FLAGS, run: hide },
  attach: { flags: { ...LOCATION_FLAGS, ifname: 'string', 'no-multicast-route': 'boolean' }, run: attachCmd },
  detach: { flags: { ...LOCATION_FLAGS, ifname: 'string' }, run: detachCmd },
  'gen-password': { flags: {}, run: genPassword },
  version: { flags: {}, run: version },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    out(USAGE);
    return name ? 0 : 2;
  }
  if (name === '--version') return version({ positionals: [], flags: {} }, []);
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new UsageError(`unknown command "${name}"`);
    return await cmd.run(parseArgs(rest, cmd.flags, name), rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`overlay: ${e.message}\nRun "overlay help" for usage.\n`);
      return 2;
    }
    process.stderr.write(`overlay: ${(e as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`overlay: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
