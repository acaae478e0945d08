/**
 * The plugin minus process I/O: given the environment, stdin text and a way to
 * build dependencies from the parsed config, produce stdout text and an exit
 * code. main.ts is the thin shell around this; tests call it directly.
 */
import { parseEnv, parseNetConf, readCommand, type NetConf } from './config.js';
import { asCniError, CniError, ErrorCode } from './spec/errors.js';
import { formatResult } from './spec/result.js';
import { commandExistsIn, LATEST_VERSION, type CniCommand } from './spec/versions.js';
import type { Deps } from './ports.js';
import { cmdAdd } from './commands/add.js';
import { cmdDel } from './commands/del.js';
import { cmdCheck } from './commands/check.js';
import { cmdGc } from './commands/gc.js';
import { cmdStatus } from './commands/status.js';
import { aboutText, cmdVersion } from './commands/version.js';

export interface RunOutput {
  stdout: string;
  exitCode: number;
}

export type DepsFactory = (conf: NetConf) => Deps;

export async function runPlugin(
  env: Record<string, string | undefined>,
  stdin: string,
  makeDeps: DepsFactory,
): Promise<RunOutput> {
  let version: string = LATEST_VERSION;
  try {
    const command = readCommand(env);
    if (!command) return { stdout: aboutText(), exitCode: 0 };
    if (command === 'VERSION') return json(cmdVersion(stdin), 0);

    version = sniffVersion(stdin) ?? version;
    const cniEnv = parseEnv(env);
    const conf = parseNetConf(stdin);
    version = conf.cniVersion;
    requireCommandInVersion(command, conf.cniVersion);
    const deps = makeDeps(conf);
    switch (command) {
      case 'ADD':
        return json(formatResult(await cmdAdd(cniEnv, conf, deps), conf.cniVersion), 0);
      case 'DEL':
        await cmdDel(cniEnv, conf, deps);
        return { stdout: '', exitCode: 0 };
      case 'CHECK':
        await cmdCheck(cniEnv, conf, deps);
        return { stdout: '', exitCode: 0 };
      case 'GC':
        await cmdGc(conf, deps);
        return { stdout: '', exitCode: 0 };
      case 'STATUS':
        await cmdStatus(deps);
        return { stdout: '', exitCode: 0 };
    }
  } catch (e) {
    const err = asCniError(e);
    return json(err.toJSON(version), 1);
  }
}

function requireCommandInVersion(command: CniCommand, version: string): void {
  if (!commandExistsIn(command, version))
    throw new CniError(ErrorCode.IncompatibleVersion, `config version ${version} does not allow ${command}`);
}

/** Best effort, so errors raised before full parsing still answer in the caller's version. */
function sniffVersion(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function json(obj: unknown, exitCode: number): RunOutput {
  return { stdout: JSON.stringify(obj) + '\n', exitCode };
}
