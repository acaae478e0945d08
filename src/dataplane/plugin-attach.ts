/**
 * `overlay attach` goes through the CNI plugin's attach code: the daemon runs the
 * plugin binary (`<plugin> plug`, a PlugRequest on stdin, src/dataplane/port-plan.ts),
 * one process that plugs the port in over rtnetlink, exactly as an ADD does. The
 * daemon runs it, as root; so there is one attach path, and it works whichever
 * runtime runs the daemon (Node has no netlink sockets; the plugin is a Bun executable).
 */
import { access, constants } from 'node:fs/promises';
import { runUnchecked } from '../sys/exec.js';
import { InterfaceExistsError, NetnsNotFoundError } from './errors.js';
import { parsePlugReply, PLUG_COMMAND, type AttachedPort, type PlugRequest } from './port-plan.js';

/** Carries out a PlugRequest; throws NetnsNotFoundError, InterfaceExistsError, or an Error with the plugin's reason. */
export type PortPlugger = (req: PlugRequest) => Promise<AttachedPort>;

export function pluginPlugger(pluginPath: string): PortPlugger {
  return async (req) => {
    try {
      await access(pluginPath, constants.X_OK);
    } catch {
      throw new Error(`overlay attach runs the CNI plugin's attach, and there is no plugin executable at ${pluginPath} (the package installs it in /opt/cni/bin; a build makes dist/cni/overlay)`);
    }
    const r = await runUnchecked(pluginPath, [PLUG_COMMAND], { input: JSON.stringify(req) });
    let reply;
    try {
      reply = parsePlugReply(r.stdout);
    } catch (e) {
      throw new Error(`${(e as Error).message}${r.stderr ? ` (stderr: ${r.stderr.trim().slice(0, 300)})` : ''}`);
    }
    if ('port' in reply) return reply.port;
    switch (reply.error.kind) {
      case 'netns-not-found':
        throw new NetnsNotFoundError(req.netns);
      case 'interface-exists':
        throw new InterfaceExistsError(req.netns, req.ifname);
      default:
        throw new Error(`plugging ${req.ifname} into ${req.netns} failed: ${reply.error.message}`);
    }
  };
}
