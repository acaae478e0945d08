/**
 * A kernel event stream (`bridge monitor fdb`, `nft monitor`, `tc monitor`) read line by
 * line for as long as the daemon runs, restarted if it ends. The shell holds
 * our pipe on its stdin: when the daemon exits (even by kill -9) the pipe
 * closes, `read` returns and the monitor is killed, so none outlives us.
 */
import type { ResultPromise } from 'execa';
import { spawnStreaming } from '../sys/exec.js';

export class EventMonitor {
  private proc?: ResultPromise;
  private stopped = false;

  constructor(
    private readonly command: string,
    private readonly onLines: (lines: string[]) => void,
  ) {}

  start(): void {
    if (this.stopped) return;
    const p = spawnStreaming('sh', ['-c', `${this.command} & m=$!; read _; kill $m`]);
    p.stdout?.on('data', (chunk: Buffer) => this.onLines(chunk.toString().split('\n').filter(Boolean)));
    void p.then(() => {
      if (this.proc === p && !this.stopped) setTimeout(() => this.start(), 1_000).unref();
    });
    this.proc = p;
  }

  stop(): void {
    this.stopped = true;
    this.proc?.stdin?.end();
  }
}
