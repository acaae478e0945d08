/**
 * CHECK: the attachment ADD reported (prevResult) must still be there: the
 * interface with its MAC, address and routes inside the netns, and the same
 * allocation in the daemon. Any difference is an error naming it.
 */
import type { CniEnv, NetConf } from '../config.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { NetnsNotFoundError, ownerOf, type Deps, type SandboxInterface } from '../ports.js';
import { callDaemon } from './common.js';

export async function cmdCheck(env: CniEnv, conf: NetConf, deps: Deps): Promise<void> {
  const prev = conf.prevResult;
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'CHECK needs prevResult in the network config');
  const fail = (msg: string) => new CniError(ErrorCode.CheckFailed, `CHECK ${env.containerId}/${env.ifname}: ${msg}`);

  const idx = prev.interfaces.findIndex((i) => i.name === env.ifname && i.sandbox === env.netns);
  if (idx < 0) throw fail(`prevResult has no interface ${env.ifname} in sandbox ${env.netns}`);
  const expectedIface = prev.interfaces[idx]!;
  const expectedIps = prev.ips.filter((ip) => ip.interface === idx);
  if (expectedIps.length === 0) throw fail('prevResult has no address on the interface');

  let actual: SandboxInterface | undefined;
  try {
    actual = await deps.attacher.inspect(env.netns, env.ifname);
  } catch (e) {
    if (e instanceof NetnsNotFoundError) throw new CniError(ErrorCode.ContainerUnknown, e.message);
    throw new CniError(ErrorCode.Io, `cannot inspect ${env.netns}: ${(e as Error).message}`);
  }
  if (!actual) throw fail(`interface ${env.ifname} is missing`);
  if (expectedIface.mac && actual.mac.toLowerCase() !== expectedIface.mac.toLowerCase())
    throw fail(`MAC is ${actual.mac}, expected ${expectedIface.mac}`);
  for (const ip of expectedIps) {
    if (!actual.addresses.includes(ip.address)) throw fail(`address ${ip.address} is missing`);
  }
  for (const route of prev.routes) {
    const present = actual.routes.some((r) => r.dst === route.dst && (r.gw ?? '') === (route.gw ?? ''));
    if (!present) throw fail(`route ${route.dst}${route.gw ? ` via ${route.gw}` : ''} is missing`);
  }

  const owner = ownerOf(env.containerId, env.ifname);
  const alloc = await callDaemon('allocation lookup', () => deps.daemon.lookup(owner));
  if (!alloc) throw fail('the daemon holds no address for this attachment');
  if (!expectedIps.some((ip) => ip.address === alloc.address))
    throw fail(`the daemon allocated ${alloc.address}, prevResult says ${expectedIps.map((i) => i.address).join(', ')}`);
}
