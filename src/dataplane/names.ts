/** Deterministic names and addresses of data plane objects. */
import { createHash, randomBytes } from 'node:crypto';

/** Interface names are at most 15 bytes. */
const IFNAMSIZ = 15;

function hash(text: string, hexChars: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, hexChars);
}

/** The host end of a container's veth: the same for the same netns and interface, so detach finds it. */
export function hostVethName(netns: string, ifname: string): string {
  return `ovl${hash(`${netns}|${ifname}`, IFNAMSIZ - 3)}`;
}

export const HOST_VETH_RE = /^ovl[0-9a-f]{12}$/;

/** A temporary name for the container end while it is created (inside the container's netns). */
export function peerTempName(netns: string, ifname: string): string {
  return `ovt${hash(`${netns}|${ifname}`, IFNAMSIZ - 3)}`;
}

/** A unicast, locally administered MAC. */
function localMac(bytes: Buffer): string {
  const b = Buffer.from(bytes.subarray(0, 6));
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The bridge's MAC, fixed per peer so it does not change as ports come and go. */
export function bridgeMacFor(peerName: string): string {
  return localMac(createHash('sha256').update(`bridge|${peerName}`).digest());
}

export function randomMac(): string {
  return localMac(randomBytes(6));
}

export function isValidMac(mac: string): boolean {
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0 && mac !== '00:00:00:00:00:00';
}
