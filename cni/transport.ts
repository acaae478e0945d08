/**
 * How the plugin sends one HTTP request to the daemon's unix socket. The
 * installed plugin (a Bun executable) uses daemon-socket.ts: the request goes
 * out at once over a plain socket and the reply is read when awaited, so ADD
 * creates the veth while the daemon answers. A transport turns "cannot
 * connect" and timeouts into DaemonUnreachable (the unit tests, under Node,
 * pass the daemon API client, src/api/client.ts, which does).
 */
export interface DaemonReply {
  status: number;
  body: string;
}

export type DaemonTransport = (socketPath: string, method: string, path: string, body: unknown, timeoutMs: number) => Promise<DaemonReply>;
