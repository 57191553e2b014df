/**
 * A transport that never fails to start: it wraps another (WebRTC through a signaling
 * server, the NATS backbone) and keeps trying to connect it in the background. The PWA
 * must open offline — from the service worker's cache, with the last known registry — and
 * a Node peer must start again after a restart while the site is down; a server that is
 * unreachable must not stop the peer from starting, it joins the mesh once the server
 * answers again. Its state (`connecting`, `connected`, `unreachable`) drives the app's
 * connectivity notice. Web-standard only: the `online` event is used where the runtime has one.
 */
import { Emitter, type Unsubscribe } from '../events.ts';
import type { MeshBus } from '../ports/mesh-bus.ts';
import type { PeerId, Transport, TransportEvents } from '../ports/transport.ts';

/** Where the wrapped transport stands. */
export type LinkState = 'connecting' | 'connected' | 'unreachable' | 'closed';

/** Options of {@link ResilientTransport}. */
export interface ResilientTransportOptions {
  /** First retry delay after a failed connect, ms (doubles up to `maxRetryMs`). */
  retryMs?: number;
  maxRetryMs?: number;
  /**
   * Errors no retry can cure (refused credentials). Given this, `connect` waits for the
   * first attempt and rejects with such an error, so a command line can say so and stop;
   * any other failure still leaves it retrying in the background.
   */
  fatal?: (error: unknown) => boolean;
}

/** `addEventListener` where the runtime has one (pages, workers), absent in Node. */
const events = globalThis as { addEventListener?: (type: string, listener: () => void) => void; removeEventListener?: (type: string, listener: () => void) => void };

/** Connects `inner` in the background, retrying with backoff and when the browser goes online. */
export class ResilientTransport implements Transport {
  readonly kind: string;
  readonly maxMessageSize: number;
  readonly closesSilentLinks: boolean;
  readonly #inner: Transport;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #fatal: ((error: unknown) => boolean) | undefined;
  readonly #states = new Emitter<{ state: LinkState }>();
  #state: LinkState = 'connecting';
  #localId: PeerId | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #delay: number;
  #attempting = false;
  #lastError = '';
  #bus: MeshBus | null = null;
  readonly #onOnline = (): void => this.#retryNow();

  constructor(inner: Transport, options: ResilientTransportOptions = {}) {
    this.#inner = inner;
    this.kind = inner.kind;
    this.maxMessageSize = inner.maxMessageSize;
    this.closesSilentLinks = inner.closesSilentLinks === true;
    this.#retryMs = options.retryMs ?? 1000;
    this.#maxRetryMs = options.maxRetryMs ?? 15_000;
    this.#delay = this.#retryMs;
    this.#fatal = options.fatal;
  }

  /** The current state. */
  get state(): LinkState {
    return this.#state;
  }

  /** Why the last attempt failed ('' when it did not). */
  get lastError(): string {
    return this.#lastError;
  }

  /**
   * The wrapped transport's mesh bus (the NATS backbone's, ADR 0023), standing for this
   * wrapper: a peer is given the wrapper as its transport, and the bus must name the
   * transport whose links it stands in for. Undefined when the wrapped one has no bus.
   */
  get bus(): MeshBus | undefined {
    const inner = (this.#inner as { bus?: MeshBus }).bus;
    if (!inner) return undefined;
    this.#bus ??= {
      transport: this,
      publish: (channel, data) => inner.publish(channel, data),
      subscribe: (channel, handler) => inner.subscribe(channel, handler),
      request: (data, timeoutMs, of) => inner.request(data, timeoutMs, of),
      sendTo: (peer, data) => inner.sendTo(peer, data),
      maxDirectBytes: inner.maxDirectBytes,
    };
    return this.#bus;
  }

  /** Subscribe to state changes. */
  onState(listener: (state: LinkState) => void): Unsubscribe {
    return this.#states.on('state', listener);
  }

  /**
   * Resolves at once, the wrapped transport connecting in the background; with `fatal`,
   * once the first attempt ended, rejecting when it failed with a fatal error.
   */
  async connect(localId: PeerId): Promise<void> {
    this.#localId = localId;
    events.addEventListener?.('online', this.#onOnline);
    const first = this.#attempt();
    if (!this.#fatal) return;
    const error = await first;
    if (error !== undefined) {
      this.#localId = null;
      events.removeEventListener?.('online', this.#onOnline);
      throw error;
    }
  }

  async send(to: PeerId, data: Uint8Array): Promise<void> {
    return this.#inner.send(to, data);
  }

  /** The inner transport's (see {@link Transport.headroom}). */
  get headroom(): number | undefined {
    return this.#inner.sendFramed ? this.#inner.headroom : undefined;
  }

  /** The inner transport's; only called when it has one ({@link ResilientTransport.headroom} is set). */
  sendFramed(to: PeerId, frame: Uint8Array): Promise<void> {
    return this.#inner.sendFramed!(to, frame);
  }

  async disconnect(): Promise<void> {
    events.removeEventListener?.('online', this.#onOnline);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#localId = null;
    this.#set('closed');
    this.#states.clear();
    await this.#inner.disconnect();
  }

  peers(): PeerId[] {
    return this.#inner.peers();
  }

  /** Passed to the wrapped transport (see {@link Transport.makeRoomWith}). */
  makeRoomWith(choose: (remote: PeerId, cutOff?: boolean) => PeerId | undefined): void {
    this.#inner.makeRoomWith?.(choose);
  }

  on<K extends keyof TransportEvents>(event: K, listener: (payload: TransportEvents[K]) => void): Unsubscribe {
    return this.#inner.on(event, listener);
  }

  #retryNow(): void {
    if (this.#state !== 'unreachable') return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#delay = this.#retryMs;
    void this.#attempt();
  }

  /** One attempt; resolves with the error when it was fatal (and no retry follows). */
  async #attempt(): Promise<unknown> {
    const id = this.#localId;
    if (id === null || this.#attempting) return undefined;
    this.#attempting = true;
    // Retries stay `unreachable` until one succeeds, so a notice does not flicker.
    if (this.#state !== 'connected' && this.#state !== 'unreachable') this.#set('connecting');
    try {
      await this.#inner.connect(id);
      this.#lastError = '';
      this.#delay = this.#retryMs;
      // Disconnected while this attempt ran: leave again rather than stay half open.
      if (this.#localId === null) await this.#inner.disconnect();
      else this.#set('connected');
    } catch (error) {
      this.#lastError = error instanceof Error ? error.message : String(error);
      if (this.#localId === null) return undefined;
      if (this.#fatal?.(error)) {
        this.#set('closed');
        return error;
      }
      this.#set('unreachable');
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.#attempt();
      }, this.#delay);
      this.#delay = Math.min(this.#maxRetryMs, this.#delay * 2);
    } finally {
      this.#attempting = false;
    }
    return undefined;
  }

  #set(state: LinkState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#states.emit('state', state);
  }
}
