/**
 * How the plugin sends one HTTP request to the daemon's unix socket. The
 * installed plugin (a Bun executable) uses daemon-socket.ts: the request goes
 * out at once over a plain socket and the reply is read when awaited, so ADD
 * creates the veth while the daemon answers. Under Node (unit tests) the
 * daemon API client (src/api/client.ts) is used. Both turn "cannot connect"
 * and timeouts into DaemonUnreachable.
 */
export interface DaemonReply {
  status: number;
  body: string;
}

export type DaemonTransport = (socketPath: string, method: string, path: string, body: unknown, timeoutMs: number) => Promise<DaemonReply>;

export const nodeTransport: DaemonTransport = async (socketPath, method, path, body, timeoutMs) => {
  const { apiRequest } = await import('../src/api/client.js');
  return apiRequest(socketPath, method, path, body, { timeoutMs });
};
