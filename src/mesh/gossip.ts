/**
 * Gossip over the router's connections: registered channels, coalesced
 * deltas fanned out to about 2·log2(N) neighbours, anti-entropy rounds (by
 * digest where the channel and the connection's protocol allow, else full
 * state), and the per-connection "missed gossip" flags that stand in for
 * everything a congested connection could not be sent. The router owns the
 * connections and hands this module the established ones.
 *
 * A delta is not sent back to the one neighbour all of its news came from:
 * it has it, and with a handful of neighbours per peer that echo was a large
 * share of every change's cost.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { PeerName } from '../lib/peer-name.js';
import { shuffle, type Random } from '../lib/random.js';
import type { Connection } from './connection.js';
import { MAX_FRAME_BYTES } from './frame.js';
import { NEW_IN_NEXT_DELTA, type GossipChannel, type GossipSender } from './gossip-channel.js';
import { DIGEST_GOSSIP_VERSION, encodeBinaryGossip, ProtocolError, type Message } from './protocol.js';
import type { MeshCounters } from './router-types.js';

/** Half the frame limit, leaving room for the envelope and encryption. */
export const MAX_GOSSIP_BYTES = MAX_FRAME_BYTES / 2;

/** How long our versions, sent in answer to a peer's hash, count as crossing with the peer's own list. */
const VERSIONS_ANSWER_MS = 5_000;

export interface GossipDeps {
  clock: Clock;
  random: Random;
  log: Logger;
  counters: MeshCounters;
  /** Local changes within this window go out as one delta. */
  coalesceMs: number;
  /** The established connections, one per peer. */
  neighbours(): Iterable<Connection>;
  /** Peers in the topology (for the fan-out size). */
  peerCount(): number;
  /** Some channel's state changed, here or by a merge (the daemon collects garbage once these stop). */
  changed(): void;
}

interface ChannelSlot {
  ch: GossipChannel;
  flushTimer?: TimerHandle;
  /** Where the pending delta's news came from: one connection (which need not get it back), or 'any' (a change of ours, or several sources). */
  deltaFrom?: Connection | 'any';
}

export class Gossip {
  private readonly channels = new Map<string, ChannelSlot>();
  /** Per congested connection, the channels whose gossip it missed: caught up when it drains. */
  private readonly missed = new Map<Connection, Set<string>>();
  /** Per connection and channel, when we last sent our versions in answer to its hash (see receive 'av'). */
  private readonly versionsSent = new Map<Connection, Map<string, number>>();
  /** Per connection, the channels whose hashes the peer has sent: it digests them (see ChannelDigest.announced). */
  private readonly digestsHeard = new Map<Connection, Set<string>>();
  private stopped = false;

  constructor(private readonly d: GossipDeps) {}

  register(ch: GossipChannel, unicast: GossipSender['unicast']): GossipSender {
    if (this.channels.has(ch.name)) throw new Error(`gossip channel "${ch.name}" is already registered`);
    const slot: ChannelSlot = { ch };
    this.channels.set(ch.name, slot);
    return { gossip: () => this.scheduleDelta(slot, 'any'), unicast };
  }

  /** Send the channel's delta after the coalescing window; `from`: where this part of it came from. */
  private scheduleDelta(slot: ChannelSlot, from: Connection | 'any'): void {
    if (this.stopped) return;
    this.d.changed();
    slot.deltaFrom = slot.deltaFrom === undefined || slot.deltaFrom === from ? from : 'any';
    if (slot.flushTimer) return;
    slot.flushTimer = this.d.clock.setTimeout(() => {
      slot.flushTimer = undefined;
      const from = slot.deltaFrom;
      slot.deltaFrom = undefined;
      const delta = slot.ch.encodeDelta();
      if (delta !== undefined) this.fanOut(slot.ch.name, delta, from === 'any' ? undefined : from);
    }, this.d.coalesceMs);
  }

  stop(): void {
    this.stopped = true;
    for (const slot of this.channels.values()) this.d.clock.clearTimeout(slot.flushTimer);
  }

  /** How many neighbours a gossip goes to: about 2·log2(N), all of them when few. */
  fanOutSize(): number {
    const n = Math.max(2, this.d.peerCount());
    return Math.max(3, Math.ceil(2 * Math.log2(n)));
  }

  private pickNeighbours(except?: Connection): Connection[] {
    const candidates = [...this.d.neighbours()].filter((c) => c !== except);
    const k = this.fanOutSize();
    return candidates.length <= k ? candidates : shuffle(this.d.random, candidates).slice(0, k);
  }

  private fanOut(channel: string, payload: unknown, except?: Connection): void {
    const ch = this.channels.get(channel)?.ch;
    if (ch?.narrow) return this.fanOutNarrowed(ch, payload, except);
    // Encoded once per protocol version among the recipients, not once per recipient.
    const encoded = new Map<number, Buffer[]>();
    for (const c of this.pickNeighbours(except)) {
      let parts = encoded.get(c.version);
      if (!parts) encoded.set(c.version, (parts = this.encode(channel, payload, c.version)));
      this.sendParts(c, channel, parts);
    }
  }

  /**
   * A channel that narrows its deltas per neighbour (GossipChannel.narrow)
   * offers every neighbour what it would not get from anyone closer to the
   * source and does not hold already; each distinct part (the whole delta,
   * or a narrowed one, which the channel may cut from the whole one's
   * encoding) is encoded once per version.
   */
  private fanOutNarrowed(ch: GossipChannel, payload: unknown, except?: Connection): void {
    // By protocol version, then by part: a channel hands neighbours that get the same part the same object.
    const encoded = new Map<number, Map<unknown, Buffer[]>>();
    for (const c of this.d.neighbours()) {
      if (c === except) continue;
      const part = ch.narrow!(payload, c.remote!.name);
      if (part === undefined) continue;
      let byPart = encoded.get(c.version);
      if (!byPart) encoded.set(c.version, (byPart = new Map()));
      let parts = byPart.get(part);
      if (!parts) byPart.set(part, (parts = this.encode(ch.name, part, c.version)));
      this.sendParts(c, ch.name, parts);
    }
  }

  private sendGossip(c: Connection, channel: string, payload: unknown): void {
    this.sendParts(c, channel, this.encode(channel, payload, c.version));
  }

  private sendParts(c: Connection, channel: string, parts: Buffer[]): void {
    for (const part of parts) {
      if (c.congested) {
        // The peer is not reading: remember that it missed this channel's
        // gossip (one flag, however much is missed) and catch it up on drain.
        this.noteMissed(c, channel);
        return;
      }
      this.countSent(c.sendEncoded(part), [channel]);
    }
  }

  /** `channels`: whose bytes these are (shared equally when a message serves several). */
  countSent(bytes: number, channels: string[] = []): void {
    if (bytes <= 0) return;
    const k = this.d.counters;
    k.gossipMessagesSent++;
    k.gossipBytesSent += bytes;
    if (bytes > k.largestGossipMessageBytes) k.largestGossipMessageBytes = bytes;
    if (channels.length === 0) return;
    const by = (k.gossipBytesSentByChannel ??= {});
    for (const name of channels) by[name] = (by[name] ?? 0) + bytes / channels.length;
  }

  private noteMissed(c: Connection, channel: string): void {
    let set = this.missed.get(c);
    if (!set) this.missed.set(c, (set = new Set()));
    set.add(channel);
  }

  /** A congested connection drained: what it missed, merged, is "whatever it lacks now". */
  drained(c: Connection): void {
    const missed = this.missed.get(c);
    if (!missed) return;
    this.missed.delete(c);
    this.antiEntropyWith(c, [...missed]);
  }

  /** The connection is gone. */
  forget(c: Connection): void {
    this.missed.delete(c);
    this.digestsHeard.delete(c);
    this.versionsSent.delete(c);
  }

  /**
   * Encode a gossip message once, for every recipient at one protocol version.
   * Each message stays well under the frame limit: list payloads (topology
   * records, and any channel whose state is a list of independent entries)
   * are split in halves until each part fits.
   */
  private encode(channel: string, payload: unknown, version: number): Buffer[] {
    const ch = this.channels.get(channel)?.ch;
    const wire = ch?.wireFor ? ch.wireFor(payload, version) : payload;
    const body = wire instanceof Uint8Array ? encodeBinaryGossip(channel, wire) : Buffer.from(JSON.stringify({ t: 'g', c: channel, d: wire }));
    if (body.length <= MAX_GOSSIP_BYTES) return [body];
    if (!Array.isArray(payload) || payload.length < 2) {
      this.d.log.error('gossip payload too large to send; dropped', { channel, bytes: body.length });
      return [];
    }
    const mid = Math.ceil(payload.length / 2);
    return [...this.encode(channel, payload.slice(0, mid), version), ...this.encode(channel, payload.slice(mid), version)];
  }

  /** One periodic round: every channel with about 2·log2(N) random neighbours. */
  antiEntropyRound(): void {
    for (const c of this.pickNeighbours()) this.antiEntropyWith(c);
  }

  /**
   * One anti-entropy exchange with a neighbour. Channels with a digest, on a
   * v3+ connection, send only a hash ('ah'); the other side answers with its
   * versions ('av') only where the hash differs, and each side then sends
   * just the records the other lacks. Other channels send their full state.
   */
  antiEntropyWith(c: Connection, channels: string[] = [...this.channels.keys()]): void {
    // A round of ours starts afresh: a list we sent in answer to its last round does not count for this one.
    for (const name of channels) this.versionsSent.get(c)?.delete(name);
    const hashes: Record<string, string> = {};
    let any = false;
    for (const name of channels) {
      const ch = this.channels.get(name)?.ch;
      if (!ch) continue;
      if (ch.digest && c.version >= DIGEST_GOSSIP_VERSION) {
        hashes[name] = ch.digest.hash();
        any = true;
        if (ch.digest.announced && !this.digestsHeard.get(c)?.has(name)) this.sendGossip(c, name, ch.encodeFull());
      } else this.sendGossip(c, name, ch.encodeFull());
    }
    if (any) this.sendControl(c, { t: 'ah', h: hashes }, Object.keys(hashes));
  }

  /** A digest-protocol message; on a congested connection it is remembered for the drain like gossip. */
  private sendControl(c: Connection, m: Message, channels: string[]): void {
    if (c.congested) {
      for (const name of channels) this.noteMissed(c, name);
      return;
    }
    try {
      this.countSent(c.send(m), channels);
    } catch (e) {
      // A version list beyond the frame limit (tens of thousands of records): that round is lost, not the process.
      this.d.log.error('anti-entropy message too large to send; dropped', { type: m.t, error: (e as Error).message });
    }
  }

  /** A gossip ('g') or anti-entropy ('ah', 'av') message from an established connection. */
  receive(c: Connection, m: Message): void {
    if (m.t === 'g') {
      const slot = this.channels.get(m.c);
      if (!slot) {
        this.d.log.debug('gossip on unknown channel ignored', { channel: m.c, remotePeer: c.remote?.name });
        return;
      }
      const changed = this.safely(c, () => slot.ch.merge(c.remote!.name, m.d));
      if (changed === NEW_IN_NEXT_DELTA) this.scheduleDelta(slot, c);
      else if (changed !== undefined) {
        this.d.changed();
        this.fanOut(m.c, changed, c);
      }
      return;
    }
    if (m.t === 'ah') {
      let heard = this.digestsHeard.get(c);
      if (!heard) this.digestsHeard.set(c, (heard = new Set()));
      for (const name of Object.keys(m.h)) if (this.channels.has(name)) heard.add(name);
      for (const [name, hash] of Object.entries(m.h)) {
        const dg = this.channels.get(name)?.ch.digest;
        if (dg && dg.hash() !== hash) {
          this.sendControl(c, { t: 'av', c: name, v: dg.versions(), r: false }, [name]);
          this.noteVersionsSent(c, name);
        }
      }
      return;
    }
    if (m.t === 'av') {
      const dg = this.channels.get(m.c)?.ch.digest;
      if (!dg) return;
      const cmp = this.safely(c, () => dg.compare(m.v));
      if (!cmp) return;
      if (cmp.send !== undefined) this.sendGossip(c, m.c, cmp.send);
      // Both ends of a new connection send hashes, so each has already sent
      // its versions in answer to the other's: a second list each way (the
      // reply) doubled what a connection made while a mesh forms costs.
      const answered = this.versionsSentRecently(c, m.c);
      if (cmp.weLack && !m.r && !answered) this.sendControl(c, { t: 'av', c: m.c, v: dg.versions(), r: true }, [m.c]);
    }
  }

  private noteVersionsSent(c: Connection, channel: string): void {
    let m = this.versionsSent.get(c);
    if (!m) this.versionsSent.set(c, (m = new Map()));
    m.set(channel, this.d.clock.now());
  }

  /** Did we send `c` our versions of `channel`, unprompted by a list of its own, within the last round trip or so? Consumes the mark. */
  private versionsSentRecently(c: Connection, channel: string): boolean {
    const m = this.versionsSent.get(c);
    const at = m?.get(channel);
    if (at === undefined) return false;
    m!.delete(channel);
    return this.d.clock.now() - at < VERSIONS_ANSWER_MS;
  }

  /** A unicast addressed to us on a channel. */
  deliverUnicast(c: Connection, channel: string, from: PeerName, payload: unknown): void {
    const slot = this.channels.get(channel);
    this.safely(c, () => slot?.ch.onUnicast?.(from, payload));
  }

  /** Run a channel callback; a malformed payload closes the sender's connection only. */
  private safely<T>(c: Connection, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      this.d.counters.framesRejected++;
      const reason = e instanceof ProtocolError ? e.message : `channel error: ${(e as Error).message}`;
      this.d.log.warn('closing connection: bad gossip', { remotePeer: c.remote?.name, reason });
      c.close(reason);
      return undefined;
    }
  }
}
