/**
 * Run by Bun for daemon-client.test.ts: the plugin's daemon client over the
 * installed plugin's transport (daemon-socket.ts), one call per element of
 * argv[4]; prints each outcome as JSON.
 */
import { HttpDaemonClient } from '../../../cni/daemon-client.js';
import { exchange } from '../../../cni/daemon-socket.js';

const [sock, timeoutMs, callsJson] = process.argv.slice(2);
const client = new HttpDaemonClient(sock!, exchange, Number(timeoutMs)) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
const out: unknown[] = [];
for (const [m, ...args] of JSON.parse(callsJson!) as [string, ...unknown[]][]) {
  try {
    out.push({ value: await client[m]!(...args) });
  } catch (e) {
    out.push({ error: (e as Error).name, message: (e as Error).message });
  }
}
console.log(JSON.stringify(out));
