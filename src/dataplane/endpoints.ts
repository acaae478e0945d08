/**
 * The `dataplane` gossip channel: each peer publishes one record (only it
 * writes it) saying where its VXLAN endpoint is and which MACs live behind it.
 * Peers program their FDB from these records; highest version wins.
 * Anti-entropy is by digest (record-versions.ts): a settled mesh exchanges a
 * hash per round, not every peer's record.
 */
import type { PeerName } from '../lib/peer-name.js';
import type { ChannelDigest, GossipChannel } from '../mesh/gossip-channel.js';
import { recordDigest, RecordVersions } from '../mesh/record-versions.js';
import IPCIDR from 'ip-cidr';
import { isIPv4, parseCidr } from '../lib/ipv4.js';
import { isValidMac } from './names.js';
import { isWireguardKey } from './wireguard.js';

export interface EndpointRecord {
  version: number;
  /** The underlay IPv4 address VXLAN packets for this peer go to. */
  underlay: string;
  bridgeMac: string;
  /** The bridge's IPv6 link-local address: the data path probe's target. */
  linkLocal?: string;
  mtu: number;
  /** MACs of the containers (and exposed bridge) on this peer. */
  macs: string[];
  /** With encryption: the peer's WireGuard public key and port, and the underlay subnets it trusts. */
  wgKey?: string;
  wgPort?: number;
  trusted?: string[];
}

type Wire = [PeerName, EndpointRecord][];

const MAX_MACS = 65_536;

export function parseEndpointRecord(x: unknown): EndpointRecord | undefined {
  const r = x as Partial<EndpointRecord> | null;
  if (!r || typeof r !== 'object' || !Number.isInteger(r.version) || (r.version as number) < 0) return undefined;
  if (typeof r.underlay !== 'string' || !isIPv4(r.underlay)) return undefined;
  if (typeof r.bridgeMac !== 'string' || !isValidMac(r.bridgeMac)) return undefined;
  if (r.linkLocal !== undefined && (typeof r.linkLocal !== 'string' || !/^fe80:[0-9a-f:]+$/i.test(r.linkLocal) || !IPCIDR.isValidAddress(r.linkLocal))) return undefined;
  if (!Number.isInteger(r.mtu) || (r.mtu as number) < 68 || (r.mtu as number) > 65535) return undefined;
  if (!Array.isArray(r.macs) || r.macs.length > MAX_MACS || !r.macs.every((m) => typeof m === 'string' && isValidMac(m))) return undefined;
  if (r.wgKey !== undefined && !isWireguardKey(r.wgKey)) return undefined;
  if (r.wgPort !== undefined && !(Number.isInteger(r.wgPort) && r.wgPort >= 1 && r.wgPort <= 65535)) return undefined;
  if (r.trusted !== undefined && !(Array.isArray(r.trusted) && r.trusted.length <= 64 && r.trusted.every((t) => typeof t === 'string' && parseCidr(t) !== undefined)))
    return undefined;
  return r as EndpointRecord;
}

export class EndpointTable implements GossipChannel {
  readonly name = 'dataplane';
  private readonly records = new Map<PeerName, EndpointRecord>();
  private delta = new Map<PeerName, EndpointRecord>();
  private readonly versions = new RecordVersions();
  // announced: older builds sent this channel's full state each round (see ChannelDigest.announced).
  readonly digest: ChannelDigest = { ...recordDigest(this.versions, (keys) => keys.map((k) => [k, this.records.get(k)!]), 'dataplane'), announced: true };

  constructor(
    readonly self: PeerName,
    private readonly onChange: () => void,
  ) {}

  /** Publish our own record; returns true if it differs from what we published before. */
  setOwn(r: Omit<EndpointRecord, 'version'>, minVersion: number): boolean {
    const prev = this.records.get(this.self);
    const macs = [...new Set(r.macs)].sort();
    if (
      prev &&
      prev.underlay === r.underlay &&
      prev.bridgeMac === r.bridgeMac &&
      prev.linkLocal === r.linkLocal &&
      prev.mtu === r.mtu &&
      prev.macs.join() === macs.join() &&
      prev.wgKey === r.wgKey &&
      prev.wgPort === r.wgPort &&
      (prev.trusted ?? []).join() === (r.trusted ?? []).join()
    )
      return false;
    const rec: EndpointRecord = { ...r, macs, version: Math.max(minVersion, (prev?.version ?? 0) + 1) };
    this.put(this.self, rec);
    this.delta.set(this.self, rec);
    return true;
  }

  private put(peer: PeerName, rec: EndpointRecord): void {
    this.records.set(peer, rec);
    this.versions.set(peer, rec.version, '');
  }

  get(peer: PeerName): EndpointRecord | undefined {
    return this.records.get(peer);
  }

  all(): ReadonlyMap<PeerName, EndpointRecord> {
    return this.records;
  }

  encodeFull(): Wire {
    return [...this.records.entries()];
  }

  encodeDelta(): Wire | undefined {
    if (this.delta.size === 0) return undefined;
    const d = [...this.delta.entries()];
    this.delta = new Map();
    return d;
  }

  merge(_from: PeerName, payload: unknown): Wire | undefined {
    if (!Array.isArray(payload)) return undefined;
    const news: Wire = [];
    for (const item of payload) {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== 'string' || item[0] === this.self) continue;
      // A version we hold is skipped before the record is checked (most of a full-state round).
      const mine = this.records.get(item[0]);
      const version = (item[1] as { version?: unknown } | null)?.version;
      if (mine && typeof version === 'number' && mine.version >= version) continue;
      const rec = parseEndpointRecord(item[1]);
      if (!rec) continue;
      this.put(item[0], rec);
      news.push([item[0], rec]);
    }
    if (news.length) this.onChange();
    return news.length ? news : undefined;
  }

}
