/**
 * `<plugin> plug`: the daemon's `overlay attach`, carried out by the same attach
 * code as ADD (the Attacher: preflight, veth pair, then host end and container
 * end), so a container is plugged in one way whoever asks. The daemon has
 * already decided everything (address, MAC, filters, routes) and installed the
 * port's isolation rules; there is no daemon round trip, attachment file or
 * CNI result here: the daemon keeps the port's record itself.
 *
 * stdin: a PlugRequest (src/dataplane/port-plan.ts); stdout: a PlugReply.
 * A failure undoes the half-made port, as ADD does.
 */
import { BadPlugRequest, parsePlugRequest, type PlugFailure, type PlugReply } from '../../src/dataplane/port-plan.js';
import { InterfaceExistsError, NetnsNotFoundError, type Attacher } from '../ports.js';

export async function cmdPlug(stdin: string, attacher: Attacher): Promise<PlugReply> {
  try {
    const { netns, ifname, plan, routes } = parsePlugRequest(stdin);
    await attacher.preflight(netns, ifname); // a live interface of that name is left alone
    try {
      await attacher.prepare(netns, ifname, { hostVeth: plan.hostVeth, mac: plan.mac, mtu: plan.mtu });
      return { port: await attacher.attach(netns, ifname, plan, { hairpin: false, routes }) };
    } catch (e) {
      await attacher.detach(netns, ifname, plan.hostVeth).catch(() => undefined);
      throw e;
    }
  } catch (e) {
    return { error: { kind: failureOf(e), message: (e as Error).message } };
  }
}

function failureOf(e: unknown): PlugFailure {
  if (e instanceof NetnsNotFoundError) return 'netns-not-found';
  if (e instanceof InterfaceExistsError) return 'interface-exists';
  if (e instanceof BadPlugRequest) return 'bad-request';
  return 'failed';
}
