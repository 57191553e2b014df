/**
 * Routing wired into a peer: advertises our links in presence, keeps the mesh's link
 * graph from what others advertise, routes RPC to peers beyond our links, and decides
 * which linked peers need a heartbeat we relay. `Peer` builds one and asks it; the
 * decisions themselves live in `topology.ts` (pure) and `router.ts`.
 * @module
 */
import { fromHex } from '../bytes.ts';
import type { Identity } from '../identity/identity.ts';
import type { Logger } from '../log.ts';
import type { Clock, TimerHandle } from '../ports/clock.ts';
import type { PeerId } from '../ports/transport.ts';
import type { RouteMessage, RpcFrame } from '../protocol/wire.ts';
import type { Presence } from '../registry/presence.ts';
import type { Registry } from '../registry/registry.ts';
import { Router, type RouterLinks } from './router.ts';
import { Topology } from './topology.ts';

/** How long link changes are collected before our advertised links are updated. */
const ADVERTISE_DELAY_MS = 100;

/** Options of {@link MeshRouting}. */
export interface MeshRoutingOptions {
  identity: Identity;
  links: RouterLinks & { up(): PeerId[] };
  presence: Presence;
  registry: Registry;
  clock: Clock;
  wallClock: () => number;
  logger: Logger;
  /** An RPC frame routed to us from `from`, signature checked. */
  deliver: (from: PeerId, frame: RpcFrame) => void;
  /**
   * A peer we hold no link to lost its last route: the relays next to it say it is no
   * longer linked to them (they saw it die). Calls waiting for it can end now instead of
   * when presence gives up on it.
   */
  unreachable?: (peer: PeerId) => void;
  /** A path beside the links for peers no link path reaches (the mesh bus; see `Router`). */
  direct?: (to: PeerId, message: RouteMessage) => void;
}

/** A peer's routing: link advertisement, graph, routed RPC and relay decisions. */
export class MeshRouting {
  /** The mesh's link graph as advertised. */
  readonly topology: Topology;
  /** Routed RPC. */
  readonly router: Router;
  readonly #o: MeshRoutingOptions;
  #advertise: TimerHandle | undefined;
  #stopped = false;
  #routesPending = false;
  /** Peers reached through others when the graph last changed. */
  #routed = new Set<PeerId>();

  constructor(options: MeshRoutingOptions) {
    this.#o = options;
    this.topology = new Topology(options.identity.id);
    this.router = new Router({
      identity: options.identity,
      links: options.links,
      topology: this.topology,
      publicKeyOf: (peer) => {
        const hex = options.registry.devices.get(peer)?.publicKey;
        return typeof hex === 'string' && /^[0-9a-f]{64}$/.test(hex) ? fromHex(hex) : undefined;
      },
      deliver: options.deliver,
      ...(options.direct ? { direct: options.direct } : {}),
      wallClock: options.wallClock,
      now: () => options.clock.now(),
      logger: options.logger,
    });
    const learn = (peer: PeerId): void => {
      const links = options.presence.state(peer)?.links;
      if (Array.isArray(links) && this.topology.set(peer, links.filter((l): l is PeerId => typeof l === 'string'))) this.#scheduleRoutesChanged();
    };
    options.presence.on('joined', learn);
    options.presence.on('telemetry', learn);
    options.presence.on('left', (peer) => this.topology.delete(peer));
  }

  /**
   * Once for every change of one task: a digest or a full presence update brings hundreds
   * of advertisements at once, and each recomputation walks the whole graph.
   */
  #scheduleRoutesChanged(): void {
    if (this.#routesPending) return;
    this.#routesPending = true;
    queueMicrotask(() => {
      this.#routesPending = false;
      if (!this.#stopped) this.#routesChanged();
    });
  }

  /** The graph changed: tell of peers reached through others a moment ago and by no path now. */
  #routesChanged(): void {
    const before = this.#routed;
    this.#routed = new Set(this.routed());
    // With a path beside the links, a peer stays reachable while presence has it alive.
    if (!this.#o.unreachable || this.#o.direct) return;
    const linked = new Set(this.#o.links.up());
    for (const peer of before) if (!this.#routed.has(peer) && !linked.has(peer) && this.topology.nextHop(peer) === undefined) this.#o.unreachable(peer);
  }

  /** Our links changed: use them at once, advertise them shortly (link bursts coalesce). */
  linksChanged(): void {
    this.topology.setOwnLinks(this.#o.links.up());
    this.#routed = new Set(this.routed());
    if (this.#advertise !== undefined || this.#stopped) return;
    this.#advertise = this.#o.clock.setTimeout(() => {
      this.#advertise = undefined;
      if (!this.#stopped) this.#o.presence.setLinks(this.#o.links.up().sort());
    }, ADVERTISE_DELAY_MS);
  }

  /** A routed message arrived from linked peer `from`. */
  receive(from: PeerId, message: RouteMessage): void {
    this.router.receive(from, message);
  }

  /**
   * Whether a presence change that speaks for `origin` should go to linked peer `to`
   * (our own changes, and those of peers we cannot place, always go).
   */
  shouldRelayPresence(origin: PeerId | undefined, to: PeerId): boolean {
    if (origin === undefined || origin === this.#o.identity.id) return true;
    return this.topology.shouldRelay(origin, to);
  }

  /** Whether our heartbeats must go to linked peer `to` (it may relay them; see Topology.relaysOurs). */
  relaysOurs(to: PeerId): boolean {
    return this.topology.relaysOurs(to);
  }

  /**
   * Peers reachable only through others, nearest first. A path from us (which starts on one
   * of our links) is a path back from the peer to that link, so a known distance means a
   * next hop: one walk of the graph, not one per peer (a thousand peers).
   */
  routed(): PeerId[] {
    const linked = new Set(this.#o.links.up());
    const out: { peer: PeerId; hops: number }[] = [];
    if (linked.size === 0) return [];
    for (const peer of this.#o.presence.alive()) {
      if (linked.has(peer)) continue;
      const hops = this.topology.hops(peer);
      if (hops !== undefined) out.push({ peer, hops });
    }
    return out.sort((a, b) => a.hops - b.hops || (a.peer < b.peer ? -1 : 1)).map((x) => x.peer);
  }

  /** Stop advertising. */
  stop(): void {
    this.#stopped = true;
    if (this.#advertise !== undefined) this.#o.clock.clearTimeout(this.#advertise);
    this.#advertise = undefined;
  }
}
