/**
 * The MeshBus port: mesh-wide publish/subscribe and request/reply beside the links, for
 * what every peer needs (registry updates, presence) so that it does not have to flood
 * hop by hop over an overlay. Only the NATS backbone has one (`nats-bus.ts`); a peer
 * without a bus floods over its links as before. Everything on a bus is sealed with the
 * mesh key by the adapter (the cluster reads nothing, strangers inject nothing); the
 * peer signs what it publishes on top (`shared/mesh/bus-sync.ts`, ADR 0023).
 * @module
 */
import type { BusMemo } from '../bus-memo.ts';
import type { Unsubscribe } from '../events.ts';
import type { PeerId, Transport } from './transport.ts';

/**
 * Channels: `up` carries each peer's own updates and heartbeats to the few collectors,
 * `down` the collectors' digests to everyone, `state` a joiner's request for what it
 * lacks (each request reaches one subscriber), `collectors` the same requests for the
 * collectors alone (a peer behind catches up from one that hears everything), `direct`
 * what one peer sends to this one alone (`sendTo`: routed calls to a peer no link path
 * reaches).
 */
export type BusChannel = 'up' | 'down' | 'state' | 'collectors' | 'direct';

/** Mesh-wide messaging (see the module comment). */
export interface MeshBus {
  /** The transport whose links this bus stands in for: registry and presence skip them. */
  readonly transport: Transport;
  /** Publish on a channel (dropped, not thrown, while the connection is gone). */
  publish(channel: 'up' | 'down', data: Uint8Array): void;
  /**
   * Send to one peer's `direct` channel (dropped, not thrown, while the connection is
   * gone). Larger than {@link MeshBus.maxDirectBytes}: ERR_PAYLOAD_TOO_LARGE.
   */
  sendTo(peer: PeerId, data: Uint8Array): void;
  /** The largest message `sendTo` takes. */
  readonly maxDirectBytes: number;
  /**
   * Receive a channel's messages. On `state` and `collectors`, each request reaches one of
   * that channel's subscribers, which answers through `respond`.
   */
  subscribe(channel: BusChannel, handler: (data: Uint8Array, respond?: (reply: Uint8Array) => void) => void): Unsubscribe;
  /**
   * Decryptions and signature checks shared with the other peers of this process (a bench
   * running many peers in one; see `bus-memo.ts`). Absent in a real deployment.
   */
  readonly memo?: BusMemo;
  /** Ask one subscriber of `of` (default `state`); null when none answered within `timeoutMs`. */
  request(data: Uint8Array, timeoutMs: number, of?: 'state' | 'collectors'): Promise<Uint8Array | null>;
}
