import { randomBytes } from 'node:crypto';

/** A peer name: 48 bits written as a MAC address, e.g. "ce:31:e0:06:45:1a". */
export type PeerName = string;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function isPeerName(s: string): boolean {
  return MAC_RE.test(s);
}

/** Normalise user input ("CE:31:E0:06:45:1A") to the canonical form, or throw. */
export function parsePeerName(s: string): PeerName {
  const lower = s.trim().toLowerCase();
  if (!MAC_RE.test(lower)) throw new Error(`invalid peer name "${s}": expected 6 hex bytes like ce:31:e0:06:45:1a`);
  return lower;
}

/** A random name with the locally-administered bit set and the multicast bit clear. */
export function randomPeerName(bytes: Buffer = randomBytes(6)): PeerName {
  const b = Buffer.from(bytes.subarray(0, 6));
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
