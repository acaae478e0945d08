#!/usr/bin/env node
/**
 * The `overlay` command. Every command but `launch --foreground` is a thin
 * client of the daemon API; the daemon code is loaded only when needed so the
 * CLI starts fast.
 */
import { apiRequest, DaemonUnreachable } from '../api/client.js';
import { resolveDaemonConfig, resolveLocation, VERSION, checkTargets, DEFAULT_API_SOCKET, type Location } from '../daemon/config.js';
import { HELP_FLAG, parseArgs, UsageError, type ParsedArgs } from './args.js';
import { commandSpec, type CommandName } from './commands.js';
import { bashCompletion, commandHelp, usage } from './help.js';
import { withProgress } from './progress.js';
import { parseCidr } from '../lib/ipv4.js';
import { generatePassword, shortPasswordWarning } from '../mesh/password-key.js';
import { apiAnswers, launchInBackground, processAlive, readPid, waitForExit } from './daemon-process.js';

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
  // Returns once the daemon's API answers; it joins the mesh (and IPAM) in the background.
  const { name } = await launchInBackground(cfg, forward, cfg.password);
  out(name);
  const where = cfg.apiSocket === DEFAULT_API_SOCKET ? '' : ` --api-socket ${cfg.apiSocket}`;
  process.stderr.write(`launched; joining the mesh in the background. Watch it: overlay status peers${where}\n`);
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
  if (positionals.length === 0) throw new UsageError('rmpeer needs a peer name or nickname (or several, removed together)');
  const loc = resolveLocation(flags);
  const force = flags['force'] === true;
  const body = positionals.length === 1 ? { peer: positionals[0], force } : { peers: positionals, force };
  const r = (await call(loc, 'POST', '/ipam/rmpeer', body)).json<{ message: string }>();
  out(r.message);
  return 0;
};

/** "net:10.32.1.0/24" or "ip:10.32.1.7/24", as Weave spelled them. */
function addressSpec(arg: string | undefined, cmd: string): { subnet?: string; ip?: string } {
  if (arg === undefined) return {};
  const m = /^(net|ip):(.*)$/.exec(arg);
  if (!m || !parseCidr(m[2]!)) throw new UsageError(`${cmd}: expected net:<CIDR> or ip:<address/prefix>, got "${arg}"`);
  return m[1] === 'net' ? { subnet: m[2] } : { ip: m[2] };
}

/** An allocating call, with a line on stderr whenever what it waits for changes. */
function allocating(loc: Location, path: string, body: unknown) {
  const ipamStatus = async () => (await call(loc, 'GET', '/status/ipam?format=json', undefined, 'application/json', 5_000)).json<object>();
  return withProgress(call(loc, 'POST', path, body, undefined, ALLOCATING_CALL_TIMEOUT_MS), ipamStatus, (line) => process.stderr.write(`overlay: ${line}\n`));
}

const expose: Command = async ({ flags, positionals }) => {
  if (positionals.length > 1) throw new UsageError('expose takes at most one net:CIDR or ip:CIDR');
  const loc = resolveLocation(flags);
  const r = (await allocating(loc, '/expose', { ...addressSpec(positionals[0], 'expose'), masquerade: flags['without-masquerade'] !== true })).json<{ address: string }>();
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
  const r = (await allocating(loc, '/attach', body)).json<{ address: string }>();
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

const completion: Command = async ({ positionals }) => {
  if (positionals.length !== 1 || positionals[0] !== 'bash') throw new UsageError('completion needs the shell: bash');
  out(bashCompletion());
  return 0;
};

/** The code behind each command of the table in commands.ts (the compiler checks that both list the same commands). */
const RUN: Record<CommandName, Command> = {
  launch,
  status,
  connect,
  forget,
  stop,
  reset,
  rmpeer,
  ps,
  report,
  'setup-cni': setupCniCmd,
  expose,
  hide,
  attach: attachCmd,
  detach: detachCmd,
  'gen-password': genPassword,
  completion,
  version,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    // `overlay help <command>` is `overlay <command> --help`.
    const about = rest[0] === undefined ? undefined : commandSpec(rest[0]);
    out(about ? commandHelp(rest[0]!, about) : usage());
    return name ? 0 : 2;
  }
  if (name === '--version') return version({ positionals: [], flags: {} }, []);
  const spec = commandSpec(name);
  try {
    if (!spec) throw new UsageError(`unknown command "${name}"`);
    const args = parseArgs(rest, spec.flags, name);
    if (args.flags[HELP_FLAG]) {
      out(commandHelp(name, spec));
      return 0;
    }
    return await RUN[name as CommandName](args, rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`overlay: ${e.message}\nRun "overlay ${spec ? `${name} --help` : 'help'}" for usage.\n`);
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
