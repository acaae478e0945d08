/** The CNI plugin's attachment records, read for `overlay ps` (the plugin writes them; the format is shared, in src/). */
import type { Logger } from '../lib/logger.js';
import { FileAttachmentStore } from '../lib/plugin-state.js';

export interface AttachedEntry {
  /** Container id (CNI), netns name (`overlay attach`) or overlay:expose. */
  id: string;
  ifname: string;
  mac: string;
  addresses: string[];
  netns?: string;
  hostVeth?: string;
  source: string;
}

export class CniAttachments {
  private readonly files: FileAttachmentStore;

  constructor(stateDir: string, log: Logger) {
    this.files = new FileAttachmentStore(stateDir, log);
  }

  async list(): Promise<AttachedEntry[]> {
    return (await this.files.list()).map((r) => ({
      id: r.containerId,
      ifname: r.ifname,
      mac: r.mac,
      addresses: [r.address],
      netns: r.netns,
      hostVeth: r.hostVeth,
      source: `cni:${r.network}`,
    }));
  }
}
