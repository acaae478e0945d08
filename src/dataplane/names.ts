/**
 * Deterministic names and addresses of data plane objects. The CNI plugin (a
 * Bun executable) uses these too: there Bun's native hasher is used, because
 * loading node:crypto would add ~6 ms to every plugin call.
 */
import type * as NodeCrypto from 'node:crypto';

/** Interface names are at most 15 bytes. */
const IFNAMSIZ = 15;

declare const Bun: { CryptoHasher: new (alg: string) => { update(s: string): { digest(): Buffer } } } | undefined;

function nodeCrypto(): typeof NodeCrypto {
  return process.getBuiltinModule('node:crypto');
}

function sha256(text: string): Buffer {
  if (typeof Bun !== 'undefined') return new Bun.CryptoHasher('sha256').update(text).digest();
  return nodeCrypto().createHash('sha256').update(text).digest();
}

function hash(text: string, hexChars: number): string {
  return sha256(text).toString('hex').slice(0, hexChars);
}

/** The host end of a container's veth: the same for the same netns and interface, so detach finds it. */
export function hostVethName(netns: string, ifname: string): string {
  return `ovl${hash(`${netns}|${ifname}`, IFNAMSIZ - 3)}`;
}

export const HOST_VETH_RE = /^ovl[0-9a-f]{12}$/;

/** A temporary name for the container end while it is created (inside the container's netns). */
export function peerTempName(netns: string, ifname: string): string {
  return peerTempNameFor(hostVethName(netns, ifname));
}

/** The same temporary name, from the host end's name. */
export function peerTempNameFor(hostVeth: string): string {
  return `ovt${hostVeth.slice(3)}`;
}

/** n random bytes. The plugin passes libc's getrandom(2): Web Crypto's first use costs it ~0.5 ms. */
export type RandomBytes = (n: number) => Uint8Array;
const webRandom: RandomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

/**
 * A port taken out of service by a CNI DEL: both ends renamed to this (unique)
 * name, so the interface name is free at once, while the daemon destroys the
 * pair (the kernel takes ~20 ms to).
 */
export function retiredName(random: RandomBytes = webRandom): string {
  return `ovr${[...random(6)].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export const RETIRED_RE = /^ovr[0-9a-f]{12}$/;

/** A unicast, locally administered MAC. */
function localMac(bytes: Uint8Array): string {
  const b = Uint8Array.from(bytes.subarray(0, 6));
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The bridge's MAC, fixed per peer so it does not change as ports come and go. */
export function bridgeMacFor(peerName: string): string {
  return localMac(sha256(`bridge|${peerName}`));
}

export function randomMac(random: RandomBytes = webRandom): string {
  return localMac(random(6));
}

export function isValidMac(mac: string): boolean {
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0 && mac !== '00:00:00:00:00:00';
}
