/**
 * ADD: get the port's address and isolation from the daemon (one round trip),
 * plug the container into the bridge (the plugin does that itself, over
 * netlink), remember the attachment, and report it. All-or-nothing: a failure
 * at any step undoes the earlier ones, because runtimes such as Nomad retry
 * ADD without a DEL in between.
 *
 * Gateway decision: containers sit on one L2 overlay, so the subnet is
 * reachable directly (connected route). A network with `"gateway": true`
 * (what setup-cni writes) asks the daemon to expose the host on the subnet at
 * the first ADD; the daemon reports a gateway whenever the host has an address
 * on the bridge (that way or by `overlay expose`), and then the result names
 * it and adds a default route via it, as Weave users expect. Multicast gets a
 * route of its own (224.0.0.0/4 on the interface, as Weave adds), so groups
 * stay on the overlay with or without a default route; `"multicastRoute":
 * false` leaves it out.
 */
import type { CniEnv, NetConf } from '../config.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { mergeResults, type CniResult } from '../spec/result.js';
import { MULTICAST_BLOCK, networkOf } from '../../src/lib/ipv4.js';
import { InterfaceExistsError, NetnsNotFoundError, ownerOf, type Allocation, type AttachedPort, type Deps } from '../ports.js';
import { callDaemon, UndoStack } from './common.js';
import { releaseOrQueue } from './del.js';
import { hostVethName, randomMac } from '../../src/dataplane/names.js';

export async function cmdAdd(env: CniEnv, conf: NetConf, deps: Deps): Promise<CniResult> {
  const owner = ownerOf(env.containerId, env.ifname);
  const log = deps.log.child({ cmd: 'ADD', owner });

  // A release queued while the daemon was down must reach it before this owner
  // allocates again, or draining it later would free the new address.
  if (await deps.releases.has(owner)) {
    await callDaemon('release of a queued address', () => deps.daemon.release(owner));
    await deps.releases.remove(owner);
  }

  // Before asking for anything: an interface of that name may be a live attachment, which a
  // repeated ADD must leave alone (its address, MAC and rules included).
  await sandboxErrors(env, () => deps.attacher.preflight(env.netns, env.ifname));

  const hostVeth = hostVethName(env.netns, env.ifname);
  const mac = env.args.mac ?? conf.runtimeConfig.mac ?? randomMac(deps.random);
  const undo = new UndoStack();
  try {
    // Ask the daemon and create the veth pair at the same time: each takes a few milliseconds.
    // (The installed plugin's request leaves at once and its reply is read at the next await,
    // after prepare's netlink calls, which are synchronous.)
    const admission = callDaemon('address allocation', () =>
      deps.daemon.admit(owner, { netns: env.netns, ifname: env.ifname, subnet: conf.subnet, ip: env.args.ip ?? conf.runtimeConfig.ips[0], mac, isolate: conf.isolation, ...(conf.gateway ? { gateway: true } : {}) }),
    );
    admission.catch(() => undefined); // awaited below, after the veth
    // If the daemon vanished meanwhile, the release waits in the queue instead of leaking the address.
    undo.push('release address', async () => {
      if (await admission.then(() => true, () => false)) await releaseOrQueue(deps, owner, log, { hostVeth });
    });
    await sandboxErrors(env, () => deps.attacher.prepare(env.netns, env.ifname, { hostVeth, mac, mtu: conf.mtu }));
    undo.push('detach', () => deps.attacher.detach(env.netns, env.ifname, hostVeth));
    const plan = await admission;
    if (plan.hostVeth !== hostVeth || plan.mac !== mac) throw new CniError(ErrorCode.Io, `the daemon planned port ${plan.hostVeth} (${plan.mac}), not ${hostVeth} (${mac})`);

    const routes = routesFor(plan, conf.multicastRoute);
    const subnetRoute = networkOf(plan.subnet); // the kernel makes it with the address
    const port = await sandboxErrors(env, () =>
      deps.attacher.attach(env.netns, env.ifname, plan, { hairpin: conf.hairpinMode, mtu: conf.mtu, routes: routes.filter((r) => r.dst !== subnetRoute) }),
    );

    await deps.store.put({
      containerId: env.containerId,
      ifname: env.ifname,
      netns: env.netns,
      network: conf.name,
      address: plan.address,
      subnet: plan.subnet,
      gateway: plan.gateway,
      hostVeth: port.hostVeth,
      mac: port.mac,
      createdAt: deps.now(),
    });
    log.info('attached', { address: plan.address, hostVeth: port.hostVeth });
    return mergeResults(conf.prevResult, buildResult(env, plan.bridge, plan, port, routes));
  } catch (e) {
    await undo.unwind((what, err) => log.error(`rollback step failed: ${what}`, { error: err.message }));
    throw e;
  }
}

/** The container's netns and interface, as CNI errors: gone (3), taken (100), or the kernel refused (5). */
async function sandboxErrors<T>(env: CniEnv, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof NetnsNotFoundError) throw new CniError(ErrorCode.ContainerUnknown, e.message);
    if (e instanceof InterfaceExistsError) throw new CniError(ErrorCode.InterfaceExists, e.message);
    if (e instanceof CniError) throw e;
    throw new CniError(ErrorCode.Io, `attaching ${env.ifname} in ${env.netns} failed: ${(e as Error).message}`);
  }
}

/** The subnet route (connected), a default route when the host exposes a gateway, and the multicast route. */
export function routesFor(alloc: Allocation, multicast: boolean): { dst: string; gw?: string }[] {
  const routes: { dst: string; gw?: string }[] = [{ dst: networkOf(alloc.subnet) }];
  if (alloc.gateway) routes.push({ dst: '0.0.0.0/0', gw: alloc.gateway });
  if (multicast) routes.push({ dst: MULTICAST_BLOCK });
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
