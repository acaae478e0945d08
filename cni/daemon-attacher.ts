/**
 * The plugin's attach path: the daemon plugs the container in (POST
 * /ports/attach runs the data plane's one attach path, src/dataplane/attach.ts,
 * and installs the port's isolation rules before the link comes up) and takes
 * it out (POST /ports/detach). Only when the daemon cannot be reached does DEL
 * remove the veth itself, so a runtime's DEL never fails for a stopped daemon.
 * Looking inside a netns (CHECK) is done here, directly.
 */
import { InterfaceExistsError, NetnsNotFoundError } from '../src/dataplane/errors.js';
import { DAEMON_TIMEOUT_MS } from './defaults.js';
import { daemonCall, errorText, parseJson } from './daemon-client.js';
import { DaemonRejectedError, DaemonUnavailableError, type AttachedPort, type Attacher, type AttachOptions, type SandboxInterface } from './ports.js';

/** Creating a veth and installing rules takes a few ms; allow for a loaded host. */
const ATTACH_TIMEOUT_MS = 3 * DAEMON_TIMEOUT_MS;

export class DaemonAttacher implements Attacher {
  constructor(
    readonly bridge: string,
    private readonly socketPath: string,
  ) {}

  async attach(netnsPath: string, ifname: string, opts: AttachOptions): Promise<AttachedPort> {
    const r = await daemonCall(this.socketPath, ATTACH_TIMEOUT_MS, 'POST', '/ports/attach', {
      netns: netnsPath,
      ifname,
      address: opts.address,
      mtu: opts.mtu,
      mac: opts.mac,
      hairpin: opts.hairpin,
      routes: opts.routes,
      isolate: opts.isolation,
    });
    if (r.status === 404) throw new NetnsNotFoundError(netnsPath);
    if (r.status === 409) throw new InterfaceExistsError(netnsPath, ifname);
    if (r.status >= 400 && r.status < 500) throw new DaemonRejectedError(errorText(r));
    if (r.status !== 200) throw new Error(errorText(r));
    const port = parseJson(r) as Partial<AttachedPort> | undefined;
    if (typeof port?.hostVeth !== 'string' || typeof port.mac !== 'string') throw new Error('daemon returned a malformed port');
    return { hostVeth: port.hostVeth, mac: port.mac };
  }

  async detach(netnsPath: string, ifname: string, hostVeth?: string): Promise<void> {
    try {
      const r = await daemonCall(this.socketPath, ATTACH_TIMEOUT_MS, 'POST', '/ports/detach', { netns: netnsPath, ifname, hostVeth });
      if (r.status !== 200) throw new Error(errorText(r));
    } catch (e) {
      if (!(e instanceof DaemonUnavailableError)) throw e;
      // The daemon drops rules of ports whose veth is gone when it is back.
      const { detach } = await import('../src/dataplane/attach.js');
      await detach(netnsPath, ifname, hostVeth);
    }
  }

  async inspect(netnsPath: string, ifname: string): Promise<SandboxInterface | undefined> {
    const { inspect } = await import('../src/dataplane/attach.js');
    return inspect(netnsPath, ifname);
  }
}
