/**
 * Presence: liveness and telemetry in Yjs awareness, never in the document — heartbeats
 * would otherwise grow it forever. Each peer renews its awareness state every
 * `heartbeatMs`; a peer not heard from (directly or relayed) for `timeoutMs` is gone.
 * Time comes from the Clock port, so the simulator controls it.
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
}

/** Events of {@link Presence}. */
export interface PresenceEvents {
  /** A peer was heard from for the first time (or again after it was gone). */
  joined: PeerId;
  /** A peer was not heard from within the timeout, or announced it left. */
  left: PeerId;
  /** An awareness update to send to peers; `origin` is the peer it came from, or null if ours. */
  outgoing: { update: Uint8Array; origin: PeerId | null };
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
}

/** Liveness and telemetry of the mesh's peers. */
export class Presence {
  readonly #awareness: awarenessProtocol.Awareness;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #events: Emitter<PresenceEvents>;
  readonly #log: Logger;
  /** Last time (Clock ms) each awareness client was heard from. */
  readonly #lastSeen = new Map<number, number>();
  /** Peers currently considered alive, with the awareness client id that speaks for them. */
  readonly #alive = new Map<PeerId, number>();
  readonly #stopTimers: () => void;

  constructor(options: PresenceOptions) {
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs;
    this.#log = options.logger;
    this.#events = new Emitter((e) => this.#log.error('presence listener failed', e));
    this.#awareness = new awarenessProtocol.Awareness(options.doc);
    this.#awareness.on('update', (change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
      const changed = [...change.added, ...change.updated, ...change.removed];
      // Our own expiry of others is a local opinion: it is never sent.
      if (origin === EXPIRED) return;
      const fromPeer = typeof origin === 'string' && origin !== 'local' ? origin : null;
      const update = awarenessProtocol.encodeAwarenessUpdate(this.#awareness, changed);
      this.#events.emit('outgoing', { update, origin: fromPeer });
    });
    this.#awareness.setLocalState(options.self);
    const stopBeat = every(options.clock, options.heartbeatMs, () => this.#heartbeat());
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

  /** Update the telemetry we report (sent at once; heartbeats repeat it). */
  setTelemetry(telemetry: Telemetry): void {
    const state = this.#awareness.getLocalState() as PresenceState | null;
    if (state) this.#awareness.setLocalState({ ...state, telemetry });
  }

  /** Our full awareness state, for a peer that just linked up. */
  encodeAll(): Uint8Array {
    return awarenessProtocol.encodeAwarenessUpdate(this.#awareness, [...this.#awareness.getStates().keys()]);
  }

  /** Apply an awareness update received from `from`. Returns an error message on garbage. */
  apply(update: Uint8Array, from: PeerId): string | null {
    try {
      const before = new Map(this.#awareness.meta);
      awarenessProtocol.applyAwarenessUpdate(this.#awareness, update, from);
      const now = this.#clock.now();
      for (const [client, meta] of this.#awareness.meta) {
        if (client !== this.#awareness.clientID && before.get(client)?.clock !== meta.clock) this.#lastSeen.set(client, now);
      }
      this.#reconcile();
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
    const clients: number[] = [];
    for (const [client, raw] of this.#awareness.getStates()) {
      if (client !== this.#awareness.clientID && (raw as Partial<PresenceState>).peerId === peer) clients.push(client);
    }
    if (clients.length === 0) return;
    for (const client of clients) this.#lastSeen.delete(client);
    awarenessProtocol.removeAwarenessStates(this.#awareness, clients, EXPIRED);
    this.#reconcile();
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

  /** Stop heartbeats, announce that we leave, and free the awareness instance. */
  destroy(): void {
    this.#stopTimers();
    awarenessProtocol.removeAwarenessStates(this.#awareness, [this.#awareness.clientID], 'local');
    this.#awareness.destroy();
    this.#events.clear();
  }

  #heartbeat(): void {
    // Re-setting the same state bumps its clock: that renewal is the heartbeat.
    const state = this.#awareness.getLocalState();
    if (state) this.#awareness.setLocalState(state);
  }

  #expire(): void {
    const now = this.#clock.now();
    const stale: number[] = [];
    for (const [client, seen] of this.#lastSeen) {
      if (now - seen > this.#timeoutMs) stale.push(client);
    }
    if (stale.length === 0) return;
    for (const client of stale) this.#lastSeen.delete(client);
    awarenessProtocol.removeAwarenessStates(this.#awareness, stale, EXPIRED);
    this.#reconcile();
  }

  /** Recompute who is alive from the awareness states and emit joined/left/telemetry. */
  #reconcile(): void {
    const selfId = this.#awareness.clientID;
    const next = new Map<PeerId, number>();
    for (const [client, raw] of this.#awareness.getStates()) {
      if (client === selfId || !this.#lastSeen.has(client)) continue;
      const peerId = (raw as Partial<PresenceState>).peerId;
      if (typeof peerId !== 'string') continue;
      // A restarted peer has a new client id; the most recently heard one speaks for it.
      const current = next.get(peerId);
      if (current === undefined || (this.#lastSeen.get(client) ?? 0) >= (this.#lastSeen.get(current) ?? 0)) next.set(peerId, client);
    }
    for (const peer of this.#alive.keys()) if (!next.has(peer)) this.#events.emit('left', peer);
    for (const [peer, client] of next) {
      if (!this.#alive.has(peer)) this.#events.emit('joined', peer);
      else if (this.#alive.get(peer) !== client || this.#lastSeen.get(client) === this.#clock.now()) this.#events.emit('telemetry', peer);
    }
    this.#alive.clear();
    for (const [k, v] of next) this.#alive.set(k, v);
  }
}
