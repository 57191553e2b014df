/**
 * The Transport port: moves opaque byte messages between peers that it can reach
 * directly. It knows nothing of identities beyond the id each side announced;
 * the peer authenticates every link on top of it (see `shared/mesh/peer-links.ts`).
 * Adapters: in-memory (`shared/memory/memory-network.ts`), WebRTC in `web/` and
 * `node-host/`. Every adapter passes `runTransportTests` (test/acceptance).
 * @module
 */

import type { Unsubscribe } from '../events.ts';

/** A peer id: 32 lowercase hex digits derived from the peer's Ed25519 public key. */
export type PeerId = string;

/** Events every transport emits. */
export interface TransportEvents {
  /** A peer became directly reachable. Fired once per link until `peer-left`. */
  'peer-joined': PeerId;
  /** A previously joined peer is no longer reachable. */
  'peer-left': PeerId;
  /**
   * A hint that a joined peer may be gone (its signaling socket closed without a
   * goodbye): not proof, the link stays until its silence decides. Transports without
   * such hints never fire it.
   */
  'peer-suspect': PeerId;
  /** A message from a directly reachable peer. */
  message: TransportMessage;
}

/** A message as delivered by a transport. */
export interface TransportMessage {
  from: PeerId;
  data: Uint8Array;
}

/** Moves byte messages to directly reachable peers. */
export interface Transport {
  /** Short name used in logs, e.g. `memory`, `peerjs`. */
  readonly kind: string;
  /** Largest message `send` accepts; callers fragment above it. */
  readonly maxMessageSize: number;
  /**
   * True when the transport itself closes a link whose remote fell silent (keepalives and a
   * timeout of its own): a link of it that is up vouches that its peer is alive, so
   * presence need not hear that peer's heartbeats over it.
   */
  readonly closesSilentLinks?: boolean;
  /** Join the network as `localId`. Resolves once the transport can send. */
  connect(localId: PeerId): Promise<void>;
  /**
   * Send to a joined peer. Resolves when the message is handed to the network with room
   * to spare (adapters apply backpressure here); rejects with ERR_PEER_UNREACHABLE when
   * `to` is not joined, ERR_PAYLOAD_TOO_LARGE above `maxMessageSize`, ERR_NOT_CONNECTED
   * before `connect` or after `disconnect`.
   */
  send(to: PeerId, data: Uint8Array): Promise<void>;
  /**
   * Bytes of its own header this transport puts in front of each message, when it offers
   * {@link Transport.sendFramed} (absent: it does not).
   */
  readonly headroom?: number;
  /**
   * `send` for a message that comes after `headroom` free bytes: `frame` is those bytes
   * then the message (at most `maxMessageSize` bytes). The transport writes its header
   * into them instead of copying the message into a new frame. The frame may be a view
   * of a larger buffer; the caller writes nothing into it afterwards.
   */
  sendFramed?(to: PeerId, frame: Uint8Array): Promise<void>;
  /** Leave the network. Idempotent; afterwards no event fires and every listener is removed. */
  disconnect(): Promise<void>;
  /** Peers currently joined. */
  peers(): PeerId[];
  /** Subscribe to an event. */
  on<K extends keyof TransportEvents>(event: K, listener: (payload: TransportEvents[K]) => void): Unsubscribe;
  /**
   * Bounded transports only: `choose(remote)` names one of our links to give up so that
   * `remote`, which we could not otherwise reach, gets a connection although we are at our
   * bound (undefined: refuse it). Without it, peers at their bound can form islands that
   * never meet. `cutOff`: the remote says it has no link at all (it lost them all), so room
   * is worth making although the mesh still knows it.
   */
  makeRoomWith?(choose: (remote: PeerId, cutOff?: boolean) => PeerId | undefined): void;
}
