/**
 * Presence: liveness and telemetry in Yjs awareness, never in the document — heartbeats
 * would otherwise grow it forever. Each peer renews its awareness state every
 * `heartbeatMs`; a peer not heard from (directly or relayed) for `timeoutMs` is gone,
 * unless a link that closes itself when silent vouches for it (`vouched`): then the link
 * decides, and its heartbeats need not travel over that link (the peer sends renewals
 * there only where they are relayed on; see Peer). Time comes from the Clock port, so the
 * simulator controls it.
 *
 * In a large mesh of links (`scaleBeats`), every peer hears every other's heartbeat, most
 * of them relayed: per peer, work at rest grows with the mesh. So past
 * {@link PEERS_PER_PERIOD} peers the period grows with the number of peers alive, and each
 * peer hears about that many heartbeats per base period whatever the mesh's size. The
 * period a peer beats at travels in its state (`beat`), and others give it the liveness
 * timeout in the same proportion: nobody times out a peer for beating as slowly as it said.
 * @module
 */
import * as awarenessProtocol from 'y-protocols/awareness';
import type * as Y from 'yjs';
import { Emitter, type Unsubscribe } from '../events.ts';
import type { Logger } from '../log.ts';
import { type Clock, every } from '../ports/clock.ts';
import type { PeerId } from '../ports/transport.ts';

/** Origin of awareness removals we decide ourselves (timeouts, dropped links). */
const EXPIRED = Symbol('expired');

/** Peers alive (ourselves included) a base heartbeat period serves; beyond, the period grows in proportion. */
export const PEERS_PER_PERIOD = 12;
/** The longest a grown period gets (a base period longer than this stays as it is). */
export const MAX_BEAT_MS = 8000;
/**
 * The longest a grown period stretches another peer's liveness timeout: under the 30 s
 * after which the awareness protocol drops a state nobody renewed.
 */
export const MAX_SCALED_TIMEOUT_MS = 25_000;

/** Live figures a peer reports about itself. */
export interface Telemetry {
  /** CPU load, 0..1. */
  cpu: number;
  /** Memory in use, 0..1 of what the peer may use. */
  memory: number;
  /** Module function calls served per second, averaged over the last heartbeat. */
  callsPerSecond: number;
}

/** A peer's awareness state. */
export interface PresenceState {
  peerId: PeerId;
  name: string;
  telemetry: Telemetry;
  /** The peers it holds authenticated links to (the mesh's graph, for routing: ADR 0029). */
  links?: PeerId[];
  /** Its heartbeat period in ms, when it grew past the base period with the mesh's size. */
  beat?: number;
}

/** Events of {@link Presence}. */
export interface PresenceEvents {
  /** A peer was heard from for the first time (or again after it was gone). */
  joined: PeerId;
  /** A peer was not heard from within the timeout, or announced it left. */
  left: PeerId;
  /**
   * Awareness clients whose state should go to peers (see {@link Presence.encode});
   * `origin` is the peer the change came from, or null if it is ours; `renewal`: our own
   * heartbeat, our state unchanged.
   */
  outgoing: { clients: number[]; origin: PeerId | null; renewal: boolean };
  /** Telemetry of some peer changed. */
  telemetry: PeerId;
}

/** Presence options. */
export interface PresenceOptions {
  doc: Y.Doc;
  clock: Clock;
  self: PresenceState;
  heartbeatMs: number;
  timeoutMs: number;
  logger: Logger;
  /**
   * Peers a live link vouches for (one that closes itself when the peer falls silent):
   * they are not timed out while it does, whether or not their heartbeats arrive.
   */
  vouched?: (peer: PeerId) => boolean;
  /** Let the heartbeat period grow with the number of peers alive (see the module comment). */
  scaleBeats?: boolean;
}

/** Liveness and telemetry of the mesh's peers. */
export class Presence {
  readonly #awareness: awarenessProtocol.Awareness;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #heartbeatMs: number;
  readonly #scaleBeats: boolean;
  /** Our heartbeat period now, and the base periods passed since our last heartbeat. */
  #beatMs: number;
  #sinceBeat = 0;
  /** Telemetry that goes out with the next heartbeat (see setTelemetry). */
  #pendingTelemetry: Telemetry | undefined;
  readonly #events: Emitter<PresenceEvents>;
  readonly #log: Logger;
  /** Last time (Clock ms) each remote awareness client was heard from. */
  readonly #lastSeen = new Map<number, number>();
  /** The peer each remote awareness client speaks for. */
  readonly #clientPeer = new Map<number, PeerId>();
  /** Peers alive now, with the awareness client that currently speaks for each. */
  readonly #alive = new Map<PeerId, number>();
  /** Peers never counted alive again (revoked by an owner), however their heartbeats arrive. */
  readonly #excluded = new Set<PeerId>();
  readonly #stopTimers: () => void;
  #leaving = false;
  #renewing = false;
  readonly #vouched: ((peer: PeerId) => boolean) | undefined;

  constructor(options: PresenceOptions) {
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs;
    this.#heartbeatMs = options.heartbeatMs;
    this.#beatMs = options.heartbeatMs;
    this.#scaleBeats = options.scaleBeats ?? false;
    this.#log = options.logger;
    this.#vouched = options.vouched;
    this.#events = new Emitter((e) => this.#log.error('presence listener failed', e));
    this.#awareness = new awarenessProtocol.Awareness(options.doc);
    this.#awareness.on('update', (change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => this.#onUpdate(change, origin));
    this.#awareness.setLocalState(options.self);
    const stopBeat = every(options.clock, options.heartbeatMs, () => this.#tick());
    const stopCheck = every(options.clock, Math.max(50, Math.floor(options.heartbeatMs / 2)), () => this.#expire());
    this.#stopTimers = () => {
      stopBeat();
      stopCheck();
    };
  }

  /** Subscribe. */
  on<K extends keyof PresenceEvents>(event: K, listener: (payload: PresenceEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /**
   * Update the telemetry we report: sent at once, or with our next heartbeat once the period
   * grew with the mesh (every peer's new figures flooding the mesh between heartbeats would
   * undo what the longer period saves). Heartbeats repeat it.
   */
  setTelemetry(telemetry: Telemetry): void {
    if (this.#beatMs > this.#heartbeatMs) {
      this.#pendingTelemetry = telemetry;
      return;
    }
    this.#pendingTelemetry = undefined;
    const state = this.#awareness.getLocalState() as PresenceState | null;
    if (state) this.#awareness.setLocalState({ ...state, telemetry });
  }

  /** Update the links we advertise (sent at once; heartbeats repeat them). */
  setLinks(links: PeerId[]): void {
    const state = this.#awareness.getLocalState() as PresenceState | null;
    if (state) this.#awareness.setLocalState({ ...state, links });
  }

  /** The peer an awareness client speaks for, if it is known. */
  peerOfClient(client: number): PeerId | undefined {
    return this.#clientPeer.get(client);
  }

  /** The current awareness state of `clients` (removed ones as removals), to send. */
  encode(clients: Iterable<number>): Uint8Array {
    return awarenessProtocol.encodeAwarenessUpdate(this.#awareness, [...clients]);
  }

  /** Our full awareness state, for a peer that just linked up. */
  encodeAll(): Uint8Array {
    return awarenessProtocol.encodeAwarenessUpdate(this.#awareness, [...this.#awareness.getStates().keys()]);
  }

  /**
   * A digest of every state we know, for the mesh bus (ADR 0023): states whose content
   * changed since `sent` last recorded them (all of them when `full`) as an awareness
   * update, the others only as renewals (client, clock), which is what a heartbeat of an
   * unchanged state says. `sent` is updated.
   */
  encodeDigest(sent: Map<number, string>, full: boolean): { update: Uint8Array | null; renewals: Uint32Array } {
    const changed: number[] = [];
    const renewals: number[] = [];
    const states = this.#awareness.getStates();
    for (const client of sent.keys()) if (!states.has(client)) sent.delete(client);
    for (const [client, state] of states) {
      const clock = this.#awareness.meta.get(client)?.clock;
      if (clock === undefined) continue;
      const json = JSON.stringify(state);
      if (full || sent.get(client) !== json) changed.push(client);
      else renewals.push(client, clock);
      sent.set(client, json);
    }
    return { update: changed.length > 0 ? awarenessProtocol.encodeAwarenessUpdate(this.#awareness, changed) : null, renewals: Uint32Array.from(renewals) };
  }

  /**
   * Renewals from a digest (see {@link encodeDigest}): a known client with a newer clock
   * than the state we hold is heard from. Returns how many clients were unknown here: their
   * full state has to be asked for. Nothing is relayed: renewals are a bus-only shorthand.
   */
  renew(renewals: Uint32Array): number {
    let unknown = 0;
    const self = this.#awareness.clientID;
    const now = this.#clock.now();
    const wall = Date.now();
    for (let i = 0; i + 1 < renewals.length; i += 2) {
      const client = renewals[i]!;
      const clock = renewals[i + 1]!;
      if (client === self || this.#excludedClient(client)) continue;
      const meta = this.#awareness.meta.get(client);
      if (!meta || !this.#awareness.states.has(client) || !this.#clientPeer.has(client)) {
        // A removed client's meta stays behind its removal: known, and gone.
        if (!meta || meta.clock < clock) unknown++;
        continue;
      }
      if (meta.clock >= clock) continue;
      // Heard from, and no more: the clock stays at the state we hold, so that the full
      // state of a change we missed (the next full digest, with a newer clock) still applies.
      this.#awareness.meta.set(client, { clock: meta.clock, lastUpdated: wall });
      this.#lastSeen.set(client, now);
    }
    return unknown;
  }

  #excludedClient(client: number): boolean {
    const peer = this.#clientPeer.get(client);
    return peer !== undefined && this.#excluded.has(peer);
  }

  /** Apply an awareness update received from `from`. Returns an error message on garbage. */
  apply(update: Uint8Array, from: PeerId): string | null {
    try {
      awarenessProtocol.applyAwarenessUpdate(this.#awareness, update, from);
      return null;
    } catch (error) {
      return `invalid awareness update: ${(error as Error).message}`;
    }
  }

  /**
   * Treat `peer` as gone now (its direct link dropped). If it is still reachable through
   * others, its next heartbeat brings it back.
   */
  forget(peer: PeerId): void {
    const clients = [...this.#clientPeer].filter(([, p]) => p === peer).map(([c]) => c);
    if (clients.length > 0) awarenessProtocol.removeAwarenessStates(this.#awareness, clients, EXPIRED);
  }

  /**
   * Never count `peer` alive again, nor relay its states: an owner revoked it. Its
   * heartbeats may still arrive relayed by peers that have not heard of the revocation
   * yet; without this they would keep it alive here until the liveness timeout.
   */
  exclude(peer: PeerId): void {
    if (this.#excluded.has(peer)) return;
    this.#excluded.add(peer);
    this.forget(peer);
  }

  /** Peers alive now (not including ourselves). */
  alive(): PeerId[] {
    return [...this.#alive.keys()];
  }

  /** The latest state of a live peer (ourselves included). */
  state(peer: PeerId): PresenceState | undefined {
    const self = this.#awareness.getLocalState() as PresenceState | null;
    if (self?.peerId === peer) return self;
    const client = this.#alive.get(peer);
    return client === undefined ? undefined : (this.#awareness.getStates().get(client) as PresenceState | undefined);
  }

  /**
   * Say goodbye: stop heartbeats and drop our own state. Returns the removal to send to
   * every linked peer now; a peer that applies it sees us leave at once and relays it, so
   * peers that only hear of us through others learn it too, instead of waiting out the
   * liveness timeout. Idempotent (later calls return the same removal).
   */
  leave(): Uint8Array {
    this.#stopTimers();
    const self = this.#awareness.clientID;
    if (this.#awareness.getLocalState() !== null) {
      // Not through the 'outgoing' event: the caller sends it itself, synchronously, so it
      // leaves before a closing page or transport can drop a batched relay.
      this.#leaving = true;
      awarenessProtocol.removeAwarenessStates(this.#awareness, [self], 'local');
      this.#leaving = false;
    }
    return awarenessProtocol.encodeAwarenessUpdate(this.#awareness, [self]);
  }

  /** Stop heartbeats, drop our state, and free the awareness instance. */
  destroy(): void {
    this.leave();
    this.#awareness.destroy();
    this.#events.clear();
  }

  #onUpdate(change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void {
    const self = this.#awareness.clientID;
    const fromPeer = typeof origin === 'string' && origin !== 'local' ? origin : null;
    const excluded = new Set<number>();
    if (fromPeer !== null && this.#excluded.size > 0) {
      for (const client of [...change.added, ...change.updated]) {
        const peer = (this.#awareness.getStates().get(client) as Partial<PresenceState> | undefined)?.peerId;
        if (typeof peer === 'string' && this.#excluded.has(peer)) excluded.add(client);
      }
      if (excluded.size > 0) awarenessProtocol.removeAwarenessStates(this.#awareness, [...excluded], EXPIRED);
    }
    if (fromPeer !== null) {
      const now = this.#clock.now();
      for (const client of [...change.added, ...change.updated]) {
        if (client === self || excluded.has(client)) continue;
        this.#lastSeen.set(client, now);
        this.#touch(client);
      }
    }
    // Removals: announced by the peer itself, relayed, or decided here (expiry, dropped link).
    for (const client of change.removed) if (client !== self) this.#drop(client);
    // Our own expiry of others is a local opinion: it is never sent.
    if (origin === EXPIRED || this.#leaving || (fromPeer === null && origin !== 'local')) return;
    this.#events.emit('outgoing', { clients: [...change.added, ...change.updated, ...change.removed].filter((c) => !excluded.has(c)), origin: fromPeer, renewal: this.#renewing && fromPeer === null });
  }

  /** A client was heard from: make it the voice of its peer. */
  #touch(client: number): void {
    const peer = (this.#awareness.getStates().get(client) as Partial<PresenceState> | undefined)?.peerId;
    if (typeof peer !== 'string') return;
    this.#clientPeer.set(client, peer);
    const current = this.#alive.get(peer);
    // A restarted peer has a new client id; the most recently heard one speaks for it.
    this.#alive.set(peer, client);
    this.#events.emit(current === undefined ? 'joined' : 'telemetry', peer);
  }

  /** A client is gone; its peer is gone unless another of its clients is still heard. */
  #drop(client: number): void {
    const peer = this.#clientPeer.get(client);
    this.#clientPeer.delete(client);
    this.#lastSeen.delete(client);
    if (peer === undefined || this.#alive.get(peer) !== client) return;
    let next: number | undefined;
    for (const [c, p] of this.#clientPeer) if (p === peer && (next === undefined || this.#lastSeen.get(c)! > this.#lastSeen.get(next)!)) next = c;
    if (next !== undefined) this.#alive.set(peer, next);
    else {
      this.#alive.delete(peer);
      this.#events.emit('left', peer);
    }
  }

  /** A base period passed: beat when our period is up, after adjusting it to the mesh's size. */
  #tick(): void {
    if (++this.#sinceBeat * this.#heartbeatMs < this.#beatMs) return;
    this.#sinceBeat = 0;
    if (this.#scaleBeats) this.#rescale();
    this.#heartbeat();
  }

  /** Our heartbeat period for the peers alive now, in half base periods; said in our state when it changes. */
  #rescale(): void {
    const halves = Math.max(2, Math.ceil((2 * (this.#alive.size + 1)) / PEERS_PER_PERIOD));
    const beat = Math.min(Math.max(this.#heartbeatMs, MAX_BEAT_MS), (this.#heartbeatMs * halves) / 2);
    if (beat === this.#beatMs) return;
    this.#beatMs = beat;
    const state = this.#awareness.getLocalState() as PresenceState | null;
    if (!state) return;
    const { beat: _said, ...rest } = state;
    // A changed state goes out at once as an update of its own (not a renewal).
    this.#awareness.setLocalState(beat > this.#heartbeatMs ? { ...rest, beat } : rest);
  }

  /** Our heartbeat period now (the base period unless it grew with the mesh). */
  get beatMs(): number {
    return this.#beatMs;
  }

  /** How long `client` may stay silent: the timeout, stretched as far as the period it said it beats at. */
  #timeoutOf(client: number): number {
    const beat = (this.#awareness.getStates().get(client) as Partial<PresenceState> | undefined)?.beat;
    if (typeof beat !== 'number' || !(beat > this.#heartbeatMs)) return this.#timeoutMs;
    return Math.max(this.#timeoutMs, Math.min(MAX_SCALED_TIMEOUT_MS, (beat * this.#timeoutMs) / this.#heartbeatMs));
  }

  #heartbeat(): void {
    const telemetry = this.#pendingTelemetry;
    this.#pendingTelemetry = undefined;
    if (telemetry) {
      // New figures: a changed state, which goes out as an update (and beats as well).
      const state = this.#awareness.getLocalState() as PresenceState | null;
      if (state) this.#awareness.setLocalState({ ...state, telemetry });
      return;
    }
    // Re-setting the same state bumps its clock: that renewal is the heartbeat.
    const state = this.#awareness.getLocalState();
    if (!state) return;
    this.#renewing = true;
    try {
      this.#awareness.setLocalState(state);
    } finally {
      this.#renewing = false;
    }
  }

  #expire(): void {
    const now = this.#clock.now();
    const stale: number[] = [];
    for (const [client, seen] of this.#lastSeen) {
      if (now - seen <= this.#timeoutMs || now - seen <= this.#timeoutOf(client)) continue;
      const peer = this.#clientPeer.get(client);
      // A link that closes itself when silent speaks for the client that speaks for its peer.
      if (peer !== undefined && this.#alive.get(peer) === client && this.#vouched?.(peer)) {
        this.#lastSeen.set(client, now);
        // The awareness protocol drops a state not renewed for 30 s (by its own wall clock):
        // the link renews it here instead of heartbeats over it.
        const meta = this.#awareness.meta.get(client);
        if (meta) meta.lastUpdated = Date.now();
      } else stale.push(client);
    }
    if (stale.length === 0) return;
    awarenessProtocol.removeAwarenessStates(this.#awareness, stale, EXPIRED);
    // States already removed elsewhere still need their bookkeeping dropped.
    for (const client of stale) if (this.#clientPeer.has(client)) this.#drop(client);
  }
}
