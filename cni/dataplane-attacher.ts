/**
 * The plugin's attach path: the data plane's own attach/detach/inspect
 * (src/dataplane/attach.ts), the same code `overlay attach` runs in the daemon.
 */
import { attach, detach, inspect } from '../src/dataplane/attach.js';
import { DEFAULT_MTU } from './defaults.js';
import type { AttachedPort, Attacher, AttachOptions, SandboxInterface } from './ports.js';

export class DataplaneAttacher implements Attacher {
  constructor(readonly bridge: string) {}

  attach(netnsPath: string, ifname: string, opts: AttachOptions): Promise<AttachedPort> {
    return attach({
      bridge: this.bridge,
      netns: netnsPath,
      ifname,
      address: opts.address,
      mtu: opts.mtu ?? DEFAULT_MTU,
      mac: opts.mac,
      hairpin: opts.hairpin,
      routes: opts.routes.map((r) => ({ dst: r.dst === '0.0.0.0/0' ? 'default' : r.dst, gw: r.gw })),
    });
  }

  async detach(netnsPath: string, ifname: string, hostVeth?: string): Promise<void> {
    await detach(netnsPath, ifname, hostVeth);
  }

  inspect(netnsPath: string, ifname: string): Promise<SandboxInterface | undefined> {
    return inspect(netnsPath, ifname);
  }
}
