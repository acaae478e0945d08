/** The ICMPv6 probe socket under Node: the raw-socket addon (see icmp-socket.ts). */
import { createRequire } from 'node:module';
import { echoRepliesOnly, ICMP6_FILTER, IPPROTO_ICMPV6, IPV6_DONTFRAG, type IcmpV6Socket, type OnIcmpMessage } from './icmp-socket.js';

interface RawSocket {
  on(event: 'message', cb: (buf: Buffer, source: string) => void): void;
  on(event: 'error', cb: (e: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, address: string, cb: (err: Error | null, bytes: number) => void): void;
  setOption(level: number, option: number, value: number | Buffer, length?: number): void;
  close(): void;
}

interface RawSocketModule {
  createSocket(opts: { protocol: number; addressFamily: number }): RawSocket;
  AddressFamily: { IPv6: number };
  SocketLevel: { IPPROTO_IPV6: number };
}

export function openNodeIcmpV6Socket(onMessage: OnIcmpMessage): IcmpV6Socket {
  const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
  const s = raw.createSocket({ protocol: IPPROTO_ICMPV6, addressFamily: raw.AddressFamily.IPv6 });
  s.setOption(raw.SocketLevel.IPPROTO_IPV6, IPV6_DONTFRAG, 1);
  const filter = echoRepliesOnly();
  s.setOption(IPPROTO_ICMPV6, ICMP6_FILTER, filter, filter.length);
  s.on('message', (buf) => onMessage(buf, process.hrtime.bigint()));
  // A socket error ends this socket; the prober opens a new one for its next probe.
  let failed = false;
  s.on('error', () => (failed = true));
  return {
    send: (message, target, ifname) =>
      new Promise((resolve) => {
        if (failed) return resolve(false);
        try {
          s.send(message, 0, message.length, `${target}%${ifname}`, (err) => resolve(!err));
        } catch {
          resolve(false);
        }
      }),
    now: () => process.hrtime.bigint(),
    close: () => s.close(),
  };
}
