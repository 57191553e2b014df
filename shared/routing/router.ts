/**
 * Messages for peers we hold no link to (a partial mesh: a bound on connections per
 * peer), handed from link to link along the shortest known path (`topology.ts`).
 *
 * Every link is authenticated, but a relay is a third party: it could alter or invent a
 * message "from" someone else. So the source signs each routed message (its id, the
 * destination, the time and the inner message) with its identity key, and the
 * destination checks that signature against the source's public key from the registry,
 * after checking that the key derives to the source's id. A relay can drop or delay a
 * routed message, or replay it within the freshness window (RPC runs a repeated request
 * once, see `rpc.ts`), but not forge or alter one. Relays can read what they carry:
 * inner messages are signed, not sealed (ADR 0029).
 *
 * With a mesh bus (ADR 0023), a peer no link path reaches gets the same signed message
 * straight over the bus (`direct`): the overlay beside a bus may fall apart into islands
 * without a call between them failing.
 *
 * Advertisements travel with presence and arrive in any order, so a peer can get a routed
 * request before it has learnt a path back to the sender. Each hop therefore remembers, for
 * a while, the link a sender's routed messages last came in on, and uses it when the graph
 * gives no path (the reverse path). The graph wins whenever it knows one; a relay lying
 * about a sender can only attract what would otherwise have been dropped.
 * @module
 */
import { concatBytes, utf8 } from '../bytes.ts';
import { PeerUnreachableError } from '../errors.ts';
import { type Identity, peerIdFromPublicKey, verifySignature } from '../identity/identity.ts';
import type { Logger } from '../log.ts';
import type { PeerId } from '../ports/transport.ts';
import { decodeMessage, encodeMessage, type RouteMessage, type RpcFrame, type WireMessage } from '../protocol/wire.ts';
import type { Topology } from './topology.ts';

const ROUTE_CONTEXT = utf8('liquidmesh-route-v1');
/** Most hops a routed message travels: beyond this something loops. */
export const MAX_HOPS = 16;
/** A routed message older (or newer) than this by the source's clock is refused as a replay. */
export const FRESHNESS_MS = 10 * 60_000;
/** How long the link a sender's messages came in on serves as the way back to it. */
export const REVERSE_PATH_MS = 60_000;
/** Most senders whose way back is remembered (the oldest is forgotten first). */
export const REVERSE_PATH_LIMIT = 4096;

/** What the router needs from the links under it. */
export interface RouterLinks {
  send(to: PeerId, message: WireMessage): Promise<void>;
  /** True while a link to `peer` is up. */
  isUp(peer: PeerId): boolean;
}

/** Router options. */
export interface RouterOptions {
  identity: Identity;
  links: RouterLinks;
  topology: Topology;
  /** The registered public key of `peer` (from the registry), if known. */
  publicKeyOf: (peer: PeerId) => Uint8Array | undefined;
  /** An authenticated RPC frame that was routed to us. */
  deliver: (from: PeerId, frame: RpcFrame) => void;
  /**
   * A path beside the links for a peer that no link path reaches (the mesh bus): the
   * signed message goes to that peer alone. May throw (a message too large for it).
   */
  direct?: (to: PeerId, message: RouteMessage) => void;
  wallClock: () => number;
  /** Monotonic time for the reverse paths' expiry; the wall clock when not given. */
  now?: () => number;
  logger: Logger;
}

/** Routes RPC frames to peers beyond our links, and forwards those passing through. */
export class Router {
  readonly #o: RouterOptions;
  #forwarded = 0;
  #direct = 0;
  /** Per sender: the link its routed messages last came in on, and when (see the module comment). */
  readonly #reverse = new Map<PeerId, { via: PeerId; at: number }>();

  constructor(options: RouterOptions) {
    this.#o = options;
  }

  #now(): number {
    return (this.#o.now ?? this.#o.wallClock)();
  }

  /** The next hop towards `to`: from the graph, else the way `to`'s messages came in. */
  #nextHop(to: PeerId, except?: PeerId): PeerId | undefined {
    const next = this.#o.topology.nextHop(to, except);
    if (next !== undefined) return next;
    const back = this.#reverse.get(to);
    if (!back) return undefined;
    if (this.#now() - back.at > REVERSE_PATH_MS || !this.#o.links.isUp(back.via) || back.via === except) {
      this.#reverse.delete(to);
      return undefined;
    }
    return back.via;
  }

  #learn(source: PeerId, via: PeerId): void {
    if (source === via || source === this.#o.identity.id) return;
    this.#reverse.delete(source);
    this.#reverse.set(source, { via, at: this.#now() });
    if (this.#reverse.size > REVERSE_PATH_LIMIT) this.#reverse.delete(this.#reverse.keys().next().value!);
  }

  /** Routed messages passed on for others so far. */
  get forwarded(): number {
    return this.#forwarded;
  }

  /** True when a path to `to` is known (or a direct path beside the links exists). */
  reachable(to: PeerId): boolean {
    return this.#o.direct !== undefined || this.#nextHop(to) !== undefined;
  }

  /** Messages sent straight over the path beside the links so far. */
  get direct(): number {
    return this.#direct;
  }

  /**
   * Send an RPC frame to `to` through linked peers. Rejects with ERR_PEER_UNREACHABLE when
   * no linked peer has a path to it.
   */
  async send(to: PeerId, frame: RpcFrame): Promise<void> {
    const next = this.#nextHop(to);
    const direct = this.#o.direct;
    if (next === undefined && !direct) throw new PeerUnreachableError(`no link and no route to ${to}`);
    const self = this.#o.identity.id;
    const b = encodeMessage({ t: 'rpc', f: frame });
    const ts = Math.floor(this.#o.wallClock());
    const sig = await this.#o.identity.sign(signedBytes(self, to, ts, b));
    const message: RouteMessage = { t: 'route', s: self, d: to, h: MAX_HOPS, ts, b, sig };
    if (next !== undefined) return this.#o.links.send(next, message);
    this.#direct++;
    direct!(to, message);
  }

  /**
   * A routed message that came over the path beside the links: only one addressed to us is
   * taken (nothing is forwarded from there). Never throws.
   */
  receiveDirect(message: RouteMessage): void {
    if (message.d !== this.#o.identity.id) return this.#o.logger.warn(`dropping a direct message ${message.s} → ${message.d}: not addressed to us`);
    this.#accept(message).catch((e: unknown) => this.#o.logger.warn(`direct message from ${message.s}: ${(e as Error).message}`));
  }

  /** A routed message arrived from the linked peer `from`. Never throws: bad ones are logged and dropped. */
  receive(from: PeerId, message: RouteMessage): void {
    this.#learn(message.s, from);
    if (message.d === this.#o.identity.id) {
      this.#accept(message).catch((e: unknown) => this.#o.logger.warn(`routed message from ${message.s} via ${from}: ${(e as Error).message}`));
      return;
    }
    if (message.h <= 1) {
      this.#o.logger.warn(`dropping routed message ${message.s} → ${message.d}: out of hops`);
      return;
    }
    const next = this.#nextHop(message.d, from);
    if (next === undefined) {
      // The path the sender saw broke here: the bus still reaches the destination.
      if (this.#o.direct) {
        this.#forwarded++;
        try {
          this.#o.direct(message.d, message);
        } catch (e) {
          this.#o.logger.debug(`direct forward to ${message.d}: ${(e as Error).message}`);
        }
        return;
      }
      this.#o.logger.debug(`dropping routed message ${message.s} → ${message.d}: no route`);
      return;
    }
    this.#forwarded++;
    this.#o.links.send(next, { ...message, h: message.h - 1 }).catch((e: unknown) => this.#o.logger.debug(`forward to ${next}: ${(e as Error).message}`));
  }

  async #accept(message: RouteMessage): Promise<void> {
    const key = this.#o.publicKeyOf(message.s);
    if (!key) throw new Error('source not in the registry yet, cannot check its signature');
    if ((await peerIdFromPublicKey(key)) !== message.s) throw new Error('registered key does not belong to the source');
    if (Math.abs(this.#o.wallClock() - message.ts) > FRESHNESS_MS) throw new Error('stale or future timestamp');
    if (!(await verifySignature(key, message.sig, signedBytes(message.s, message.d, message.ts, message.b)))) {
      throw new Error('bad signature: altered or forged by a relay');
    }
    const inner = decodeMessage(message.b);
    if (!inner.ok) throw new Error(`malformed inner message: ${inner.error}`);
    if (inner.value.t !== 'rpc') throw new Error(`inner ${inner.value.t} message is never routed`);
    this.#o.deliver(message.s, inner.value.f);
  }
}

function signedBytes(source: PeerId, destination: PeerId, ts: number, body: Uint8Array): Uint8Array {
  return concatBytes([ROUTE_CONTEXT, utf8(`${source}>${destination}@${ts}:`), body]);
}
