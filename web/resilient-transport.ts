/**
 * A transport that never fails to start: it wraps another (the WebRTC transport) and
 * keeps trying to connect it in the background. The PWA must open offline — from the
 * service worker's cache, with the last known registry — and a signaling server that is
 * unreachable must not stop the peer from starting; it joins the mesh once the server
 * answers again. Its state (`connecting`, `connected`, `unreachable`) drives the app's
 * connectivity notice.
 */
import { Emitter, type Unsubscribe } from '../shared/events.ts';
import type { PeerId, Transport, TransportEvents } from '../shared/ports/transport.ts';

/** Where the wrapped transport stands. */
export type LinkState = 'connecting' | 'connected' | 'unreachable' | 'closed';

/** Options of {@link ResilientTransport}. */
export interface ResilientTransportOptions {
  /** First retry delay after a failed connect, ms (doubles up to `maxRetryMs`). */
  retryMs?: number;
  maxRetryMs?: number;
}

/** Connects `inner` in the background, retrying with backoff and when the browser goes online. */
export class ResilientTransport implements Transport {
  readonly kind: string;
  readonly maxMessageSize: number;
  readonly #inner: Transport;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #states = new Emitter<{ state: LinkState }>();
  #state: LinkState = 'connecting';
  #localId: PeerId | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #delay: number;
  #attempting = false;
  #lastError = '';
  readonly #onOnline = (): void => this.#retryNow();

  constructor(inner: Transport, options: ResilientTransportOptions = {}) {
    this.#inner = inner;
    this.kind = inner.kind;
    this.maxMessageSize = inner.maxMessageSize;
    this.#retryMs = options.retryMs ?? 1000;
    this.#maxRetryMs = options.maxRetryMs ?? 15_000;
    this.#delay = this.#retryMs;
  }

  /** The current state. */
  get state(): LinkState {
    return this.#state;
  }

  /** Why the last attempt failed ('' when it did not). */
  get lastError(): string {
    return this.#lastError;
  }

  /** Subscribe to state changes. */
  onState(listener: (state: LinkState) => void): Unsubscribe {
    return this.#states.on('state', listener);
  }

  /** Resolves at once; the wrapped transport connects in the background. */
  async connect(localId: PeerId): Promise<void> {
    this.#localId = localId;
    if (typeof addEventListener === 'function') addEventListener('online', this.#onOnline);
    void this.#attempt();
  }

  async send(to: PeerId, data: Uint8Array): Promise<void> {
    return this.#inner.send(to, data);
  }

  async disconnect(): Promise<void> {
    if (typeof removeEventListener === 'function') removeEventListener('online', this.#onOnline);
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

  async #attempt(): Promise<void> {
    const id = this.#localId;
    if (id === null || this.#attempting) return;
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
      if (this.#localId === null) return;
      this.#set('unreachable');
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.#attempt();
      }, this.#delay);
      this.#delay = Math.min(this.#maxRetryMs, this.#delay * 2);
    } finally {
      this.#attempting = false;
    }
  }

  #set(state: LinkState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#states.emit('state', state);
  }
}
