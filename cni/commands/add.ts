/**
 * ADD: allocate an address from the daemon, plug the container into the
 * bridge, remember the attachment, and report it. All-or-nothing: a failure
 * at any step undoes the earlier ones, because runtimes such as Nomad retry
 * ADD without a DEL in between.
 *
 * Gateway decision: containers sit on one L2 overlay, so the subnet is
 * reachable directly (connected route) and no gateway is needed. The daemon
 * reports a gateway only when the host has an address on the bridge
 * ("expose"); then the result names it and adds a default route via it, as
 * Weave users expect.
 */
import type { CniEnv, NetConf } from '../config.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { mergeResults, type CniResult } from '../spec/result.js';
import { networkOf } from '../../src/lib/ipv4.js';
import { DaemonRejectedError, DaemonUnavailableError, InterfaceExistsError, NetnsNotFoundError, ownerOf, type Allocation, type AttachedPort, type Deps } from '../ports.js';
import { callDaemon, UndoStack } from './common.js';
import { releaseOrQueue } from './del.js';

export async function cmdAdd(env: CniEnv, conf: NetConf, deps: Deps): Promise<CniResult> {
  const owner = ownerOf(env.containerId, env.ifname);
  const log = deps.log.child({ cmd: 'ADD', owner });

  // A release queued while the daemon was down must reach it before this owner
  // allocates again, or draining it later would free the new address.
  if (await deps.releases.has(owner)) {
    await callDaemon('release of a queued address', () => deps.ipam.release(owner));
    await deps.releases.remove(owner);
  }

  const undo = new UndoStack();
  try {
    const requestedIp = env.args.ip ?? conf.runtimeConfig.ips[0];
    const alloc = await callDaemon('address allocation', () =>
      deps.ipam.allocate(owner, { subnet: conf.subnet, ip: requestedIp }),
    );
    // If the daemon vanished meanwhile, the release waits in the queue instead of leaking the address.
    // A repeated ADD of a live attachment got the same address back: that one must not be released.
    undo.push('release address', async () => {
      if (!(await deps.store.get(env.containerId, env.ifname))) await releaseOrQueue(deps, owner, log);
    });

    const routes = routesFor(alloc);
    const port: AttachedPort = await attach(env, conf, deps, alloc, routes);
    undo.push('detach', () => deps.attacher.detach(env.netns, env.ifname, port.hostVeth));

    await deps.store.put({
      containerId: env.containerId,
      ifname: env.ifname,
      netns: env.netns,
      network: conf.name,
      address: alloc.address,
      subnet: alloc.subnet,
      gateway: alloc.gateway,
      hostVeth: port.hostVeth,
      mac: port.mac,
      createdAt: deps.now(),
    });
    log.info('attached', { address: alloc.address, hostVeth: port.hostVeth });
    return mergeResults(conf.prevResult, buildResult(env, deps.attacher.bridge, alloc, port, routes));
  } catch (e) {
    await undo.unwind((what, err) => log.error(`rollback step failed: ${what}`, { error: err.message }));
    throw e;
  }
}

async function attach(
  env: CniEnv,
  conf: NetConf,
  deps: Deps,
  alloc: Allocation,
  routes: { dst: string; gw?: string }[],
): Promise<AttachedPort> {
  try {
    return await deps.attacher.attach(env.netns, env.ifname, {
      address: alloc.address,
      gateway: alloc.gateway,
      mtu: conf.mtu ?? alloc.mtu,
      mac: env.args.mac ?? conf.runtimeConfig.mac,
      hairpin: conf.hairpinMode,
      isolation: conf.isolation,
      routes: routes.filter((r) => r.gw !== undefined),
    });
  } catch (e) {
    if (e instanceof NetnsNotFoundError) throw new CniError(ErrorCode.ContainerUnknown, e.message);
    if (e instanceof InterfaceExistsError) throw new CniError(ErrorCode.InterfaceExists, e.message);
    if (e instanceof CniError) throw e;
    if (e instanceof DaemonUnavailableError || e instanceof DaemonRejectedError) return callDaemon('attaching the container', () => Promise.reject(e));
    throw new CniError(ErrorCode.Io, `attaching ${env.ifname} in ${env.netns} failed: ${(e as Error).message}`);
  }
}

/** The subnet route (connected), plus a default route when the host exposes a gateway. */
export function routesFor(alloc: Allocation): { dst: string; gw?: string }[] {
  const routes: { dst: string; gw?: string }[] = [{ dst: networkOf(alloc.subnet) }];
  if (alloc.gateway) routes.push({ dst: '0.0.0.0/0', gw: alloc.gateway });
  return routes;
}

function buildResult(
  env: CniEnv,
  bridge: string,
  alloc: Allocation,
  port: AttachedPort,
  routes: { dst: string; gw?: string }[],
): CniResult {
  return {
    interfaces: [
      { name: bridge },
      { name: port.hostVeth },
      { name: env.ifname, mac: port.mac, sandbox: env.netns },
    ],
    ips: [{ address: alloc.address, ...(alloc.gateway ? { gateway: alloc.gateway } : {}), interface: 2 }],
    routes,
    dns: {},
  };
}
