/**
 * The mesh's link graph as every peer advertises it (its authenticated links, carried in
 * its presence state), and the pure decisions taken on it: how many hops a peer is away,
 * which linked peer leads to it, and which linked peers must be told of another peer's
 * heartbeat. Link-state routing (every peer knows the whole graph) rather than a
 * distance-vector protocol because the graph already travels with presence: no second
 * protocol, no count-to-infinity. See ADR 0029.
 * @module
 */
import type { PeerId } from '../ports/transport.ts';

/** How many of a peer's neighbours relay each heartbeat to it when it has no direct link to the sender. */
const RELAY_REDUNDANCY = 2;

/** The advertised link graph of the mesh, with distances computed on demand and cached. */
export class Topology {
  readonly #self: PeerId;
  readonly #adjacency = new Map<PeerId, Set<PeerId>>();
  /** When each peer's advertisement last changed (by our version counter). */
  readonly #stamp = new Map<PeerId, number>();
  #ownLinks = new Set<PeerId>();
  #version = 0;
  /** Distances from a source, valid for `#cacheVersion`. */
  readonly #distances = new Map<PeerId, Map<PeerId, number>>();
  #cacheVersion = -1;

  constructor(self: PeerId) {
    this.#self = self;
  }

  /** Bumped whenever the graph changes. */
  get version(): number {
    return this.#version;
  }

  /** Our own authenticated links (authoritative for us, whatever others advertise). */
  setOwnLinks(links: Iterable<PeerId>): void {
    const next = new Set(links);
    if (sameSet(next, this.#ownLinks)) return;
    this.#ownLinks = next;
    this.#version++;
  }

  /** The links `peer` advertises. Returns true when that changed the graph. */
  set(peer: PeerId, links: readonly PeerId[]): boolean {
    if (peer === this.#self) return false;
    const next = new Set(links);
    const current = this.#adjacency.get(peer);
    if (current && sameSet(current, next)) return false;
    this.#adjacency.set(peer, next);
    this.#stamp.set(peer, ++this.#version);
    return true;
  }

  /** Forget a peer that left. */
  delete(peer: PeerId): void {
    this.#stamp.delete(peer);
    if (this.#adjacency.delete(peer)) this.#version++;
  }

  /** True when `peer` has advertised its links. */
  knows(peer: PeerId): boolean {
    return peer === this.#self || this.#adjacency.has(peer);
  }

  /**
   * One of our links we could give up and still reach its peer through others (the lowest
   * such id, so the choice is stable), or undefined when every link is a bridge — or when
   * the graph is not known well enough to tell.
   */
  redundantLink(): PeerId | undefined {
    for (const link of [...this.#ownLinks].sort()) {
      // Breadth-first from us over the known graph without the edge us–link.
      const seen = new Set<PeerId>([this.#self]);
      const queue: PeerId[] = [...this.#ownLinks].filter((l) => l !== link);
      for (const q of queue) seen.add(q);
      let found = false;
      while (queue.length > 0 && !found) {
        const at = queue.shift()!;
        for (const next of this.#adjacency.get(at) ?? []) {
          if (next === this.#self || seen.has(next)) continue;
          if (next === link) {
            found = true;
            break;
          }
          seen.add(next);
          queue.push(next);
        }
      }
      if (found) return link;
    }
    return undefined;
  }

  /** Hops from us to `peer` (0 for ourselves), or undefined when no path is known. */
  hops(peer: PeerId): number | undefined {
    return this.#distancesFrom(this.#self).get(peer);
  }

  /**
   * The linked peer to hand a message for `to` to: the one closest to `to` (ties to the
   * lowest id, so every sender picks the same path), never `except` (where it came from).
   * Undefined when no linked peer has a path to `to`.
   */
  nextHop(to: PeerId, except?: PeerId): PeerId | undefined {
    if (this.#ownLinks.has(to)) return to;
    const fromDestination = this.#distancesFrom(to);
    let best: PeerId | undefined;
    let bestDistance = Infinity;
    for (const link of this.#ownLinks) {
      if (link === except) continue;
      const d = fromDestination.get(link);
      if (d === undefined) continue;
      if (d < bestDistance || (d === bestDistance && best !== undefined && link < best)) {
        best = link;
        bestDistance = d;
      }
    }
    return best;
  }

  /**
   * Whether we should pass `origin`'s heartbeat on to our linked peer `to`. A peer linked
   * to the origin hears it directly, so nobody relays to it; otherwise the peers one hop
   * nearer the origin than `to` (on a shortest path) relay it, and of those only the
   * `RELAY_REDUNDANCY` lowest ids, so `to` hears it about twice instead of once per link.
   * Where the graph is not known well enough to decide, we relay (flooding is the safe
   * default: a missed heartbeat would look like a departure).
   */
  shouldRelay(origin: PeerId, to: PeerId): boolean {
    if (to === origin) return false;
    if (!this.#adjacency.has(origin) || !this.#adjacency.has(to)) return true;
    const distances = this.#distancesFrom(origin);
    const mine = distances.get(this.#self);
    const theirs = distances.get(to);
    if (mine === undefined || theirs === undefined) return true;
    if (theirs <= mine) return false;
    // Peers `to` is linked to (by its own word, and us) that are one hop nearer the origin.
    const parents: PeerId[] = [];
    for (const neighbour of this.#adjacency.get(to)!) if (distances.get(neighbour) === theirs - 1) parents.push(neighbour);
    if (!parents.includes(this.#self)) parents.push(this.#self);
    parents.sort();
    return parents.indexOf(this.#self) < RELAY_REDUNDANCY;
  }

  /**
   * Whether our linked peer `to` needs our heartbeats: it does when it may pass them on,
   * i.e. it advertises a link to a peer that is not linked to us (or has not advertised its
   * links yet). In a full mesh nobody needs them: each link vouches for its own ends.
   */
  relaysOurs(to: PeerId): boolean {
    const theirs = this.#adjacency.get(to);
    if (!theirs) return true;
    for (const peer of theirs) if (peer !== this.#self && !this.#ownLinks.has(peer)) return true;
    return false;
  }

  #neighbours(peer: PeerId): Iterable<PeerId> {
    if (peer === this.#self) return this.#ownLinks;
    return [...(this.#adjacency.get(peer) ?? [])].filter((other) => this.#counts(peer, other));
  }

  /**
   * Whether the edge `claimant` advertises to `other` counts. Either end's word is enough
   * (one side's advertisement lags the other's while a link forms), unless the other end
   * advertised since without it: then the link broke. A dead peer never withdraws its
   * links, so without this its last advertisement would keep a route to it alive until
   * presence gives up on it, and calls along that route would wait as long.
   */
  #counts(claimant: PeerId, other: PeerId): boolean {
    if (other === this.#self) return true;
    const denial = this.#adjacency.get(other);
    return !denial || denial.has(claimant) || (this.#stamp.get(other) ?? 0) < (this.#stamp.get(claimant) ?? 0);
  }

  /**
   * Breadth-first distances from `source`. An edge counts when either end advertises it
   * (one side's advertisement may lag the other's by a heartbeat); our own links are the
   * only truth about us.
   */
  #distancesFrom(source: PeerId): Map<PeerId, number> {
    if (this.#cacheVersion !== this.#version) {
      this.#distances.clear();
      this.#cacheVersion = this.#version;
    }
    const cached = this.#distances.get(source);
    if (cached) return cached;
    const reverse = this.#reverseEdges();
    const distances = new Map<PeerId, number>([[source, 0]]);
    let frontier = [source];
    for (let d = 1; frontier.length > 0; d++) {
      const next: PeerId[] = [];
      for (const peer of frontier) {
        for (const neighbour of this.#neighbours(peer)) visit(neighbour);
        for (const neighbour of reverse.get(peer) ?? []) visit(neighbour);
      }
      frontier = next;
      function visit(neighbour: PeerId): void {
        if (distances.has(neighbour)) return;
        distances.set(neighbour, d);
        next.push(neighbour);
      }
    }
    this.#distances.set(source, distances);
    return distances;
  }

  #reverse: Map<PeerId, PeerId[]> | null = null;
  #reverseVersion = -1;

  /** Edges seen from their other end, so a one-sided advertisement still counts. */
  #reverseEdges(): Map<PeerId, PeerId[]> {
    if (this.#reverse && this.#reverseVersion === this.#version) return this.#reverse;
    const reverse = new Map<PeerId, PeerId[]>();
    const add = (from: PeerId, to: PeerId): void => {
      const list = reverse.get(to);
      if (list) list.push(from);
      else reverse.set(to, [from]);
    };
    for (const [peer, links] of this.#adjacency) for (const link of links) if (link !== this.#self && this.#counts(peer, link)) add(peer, link);
    for (const link of this.#ownLinks) add(this.#self, link);
    this.#reverse = reverse;
    this.#reverseVersion = this.#version;
    return reverse;
  }
}

function sameSet(a: Set<PeerId>, b: Set<PeerId>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
