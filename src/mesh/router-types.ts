import type { PeerName } from '../lib/peer-name.js';

/** Status shapes the router exposes; the API serves them as JSON and the CLI prints them. */

export type TargetState = 'established' | 'connecting' | 'retrying' | 'failed';

export interface TargetStatus {
  /** As given by the user or learnt by discovery ("198.51.100.2" or "host:port"). */
  address: string;
  /** Given by the user (launch/connect) or learnt from gossip. */
  origin: 'user' | 'discovered';
  state: TargetState;
  /** Last error when retrying or failed, e.g. "connect ECONNREFUSED". */
  lastError?: string;
  /** Sim/real clock ms until the next attempt, when retrying. */
  retryInMs?: number;
  attempts: number;
  peer?: PeerName;
}

export interface ConnectionStatus {
  peer: PeerName;
  nickname: string;
  address: string;
  outbound: boolean;
  state: 'established' | 'handshaking';
  /** Milliseconds the connection has been up. */
  upMs: number;
  connectionId: string;
  /** Filled in by later layers (data path probe, encryption). */
  info: string[];
}

export interface TopologyPeerStatus {
  name: PeerName;
  nickname: string;
  uid: string;
  version: number;
  reachable: boolean;
  connections: { peer: PeerName; address: string; outbound: boolean }[];
}

export interface MeshCounters {
  gossipMessagesSent: number;
  gossipMessagesReceived: number;
  gossipBytesSent: number;
  gossipBytesReceived: number;
  /**
   * Gossip bytes sent per channel (filled in by the gossip layer as channels send): a channel's
   * messages, its digest exchanges, and an equal share of each anti-entropy hash message naming it.
   * Unicasts count in gossipBytesSent only.
   */
  gossipBytesSentByChannel?: Record<string, number>;
  /** The largest single gossip message sent, in bytes on the wire. */
  largestGossipMessageBytes: number;
  handshakesRejected: number;
  framesRejected: number;
  /** Inbound connections closed unstarted because their address kept failing handshakes. */
  handshakesThrottled: number;
}
