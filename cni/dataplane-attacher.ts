/**
 * The plugin's attach path: the data plane's own attach/detach/inspect
 * (src/dataplane/attach.ts), the same code `overlay attach` runs in the daemon.
 */
import { attach, detach, inspect } from '../src/dataplane/attach.js';
import { DEFAULT_MTU } from './defaults.js';
import { callDaemon } from './commands/common.js';
import type { AttachedPort, Attacher, AttachOptions, PortRegistry, SandboxInterface } from './ports.js';

export class DataplaneAttacher implements Attacher {
  constructor(
    readonly bridge: string,
    private readonly ports: PortRegistry,
  ) {}

  /** Attach, then put the port under the daemon's isolation rules; a failure there undoes the attach. */
  async attach(netnsPath: string, ifname: string, opts: AttachOptions): Promise<AttachedPort> {
    const port = await attach({
      bridge: this.bridge,
      netns: netnsPath,
      ifname,
      address: opts.address,
      mtu: opts.mtu ?? DEFAULT_MTU,
      mac: opts.mac,
      hairpin: opts.hairpin,
      routes: opts.routes.map((r) => ({ dst: r.dst === '0.0.0.0/0' ? 'default' : r.dst, gw: r.gw })),
    });
    if (!opts.isolation) return port;
    try {
      await callDaemon('isolation of the new port', () => this.ports.register({ hostVeth: port.hostVeth, mac: port.mac, address: opts.address }));
    } catch (e) {
      await detach(netnsPath, ifname, port.hostVeth).catch(() => undefined);
      throw e;
    }
    return port;
  }

  async detach(netnsPath: string, ifname: string, hostVeth?: string): Promise<void> {
    const removed = await detach(netnsPath, ifname, hostVeth);
    if (removed && hostVeth) await this.ports.unregister(hostVeth).catch(() => undefined);
  }

  inspect(netnsPath: string, ifname: string): Promise<SandboxInterface | undefined> {
    return inspect(netnsPath, ifname);
  }
}
