/**
 * A simulated site for the WebRTC transport's admission rules: stand-ins for PeerJS (dials,
 * data connections) and for the signaling server's pub/sub WebSocket, all timed by one
 * {@link ManualClock}. Unit tests swap them in for the `peerjs` module and the global
 * `WebSocket`, so that the transport's real code decides who dials whom, who refuses and
 * who makes room, over minutes of site time in a second.
 *
 * What it keeps of the real thing: a dial reaches the dialled peer as a `connection` event
 * and both ends open after a handshake delay; closing an open connection closes the other
 * end; closing one that never opened tells the other end nothing (PeerJS sends no signal for
 * it); a dial can be made to stall (never open), as handshakes did in a crowd on two cores.
 * @module
 */
import { ManualClock } from '../../shared/memory/manual-clock.ts';

type Handler = (...args: unknown[]) => void;

/** Just enough of an event emitter for what the transport calls. */
class Events {
  readonly #handlers = new Map<string, { fn: Handler; once: boolean; original: Handler }[]>();

  on(event: string, fn: Handler): this {
    const list = this.#handlers.get(event) ?? [];
    list.push({ fn, once: false, original: fn });
    this.#handlers.set(event, list);
    return this;
  }

  once(event: string, fn: Handler): this {
    const list = this.#handlers.get(event) ?? [];
    list.push({ fn, once: true, original: fn });
    this.#handlers.set(event, list);
    return this;
  }

  off(event: string, fn: Handler): this {
    this.#handlers.set(event, (this.#handlers.get(event) ?? []).filter((h) => h.original !== fn));
    return this;
  }

  emit(event: string, ...args: unknown[]): void {
    const list = this.#handlers.get(event) ?? [];
    this.#handlers.set(event, list.filter((h) => !h.once));
    for (const h of list) h.fn(...args);
  }
}

/** One end of a simulated data connection (the part of PeerJS's DataConnection the transport uses). */
export class SimConnection extends Events {
  /** The other end's PeerJS id. */
  readonly peer: string;
  /** No native channel: the transport sends through `send`. */
  readonly dataChannel = undefined;
  open = false;
  closed = false;
  other: SimConnection | null = null;
  readonly #net: SimSite;

  constructor(net: SimSite, peer: string) {
    super();
    this.#net = net;
    this.peer = peer;
  }

  send(data: ArrayBuffer): void {
    if (!this.open || this.closed) return;
    const to = this.other;
    const copy = data.slice(0);
    this.#net.clock.setTimeout(() => {
      if (to && to.open && !to.closed) to.emit('data', copy);
    }, this.#net.latencyMs);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const wasOpen = this.open;
    this.open = false;
    this.emit('close');
    // Only a connection that opened tells the other end it closed.
    const other = this.other;
    if (wasOpen && other && !other.closed) this.#net.clock.setTimeout(() => other.close(), this.#net.latencyMs);
  }
}

/** A simulated PeerJS peer. */
export class SimPeer extends Events {
  readonly id: string;
  disconnected = false;
  destroyed = false;
  readonly #net: SimSite;

  constructor(net: SimSite, id: string) {
    super();
    this.#net = net;
    this.id = id;
    net.peers.set(id, this);
    net.clock.setTimeout(() => this.emit('open', id), net.latencyMs);
  }

  connect(target: string): SimConnection {
    const mine = new SimConnection(this.#net, target);
    const theirs = new SimConnection(this.#net, this.id);
    mine.other = theirs;
    theirs.other = mine;
    const net = this.#net;
    const stalls = net.stall(this.id, target);
    net.clock.setTimeout(() => {
      const remote = net.peers.get(target);
      if (!remote || remote.destroyed || mine.closed) {
        mine.close();
        return;
      }
      remote.emit('connection', theirs);
      if (stalls) return;
      net.clock.setTimeout(() => {
        // An end closed before the handshake completed: it never opens, and neither end is told.
        if (mine.closed || theirs.closed) return;
        mine.open = theirs.open = true;
        theirs.emit('open');
        mine.emit('open');
      }, net.handshakeMs);
    }, net.latencyMs);
    return mine;
  }

  reconnect(): void {
    this.disconnected = false;
  }

  destroy(): void {
    this.destroyed = true;
    this.#net.peers.delete(this.id);
  }
}

/** A simulated signaling socket: y-webrtc-style subscribe and publish on topics. */
export class SimSocket {
  readyState = 0;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  readonly topics = new Set<string>();
  readonly #net: SimSite;

  constructor(net: SimSite) {
    this.#net = net;
    net.sockets.add(this);
    net.clock.setTimeout(() => {
      this.readyState = 1;
      this.onopen?.();
    }, net.latencyMs);
  }

  send(text: string): void {
    const message = JSON.parse(text) as { type: string; topics?: string[]; topic?: string };
    if (message.type === 'subscribe') for (const t of message.topics ?? []) this.topics.add(t);
    if (message.type !== 'publish') return;
    this.#net.published++;
    for (const socket of this.#net.sockets) {
      if (socket.readyState !== 1 || !socket.topics.has(message.topic!)) continue;
      this.#net.clock.setTimeout(() => socket.readyState === 1 && socket.onmessage?.({ data: text }), this.#net.latencyMs);
    }
  }

  close(): void {
    this.readyState = 3;
    this.#net.sockets.delete(this);
  }
}

/** The simulated site: one clock, the PeerJS peers and signaling sockets that exist. */
export class SimSite {
  readonly clock = new ManualClock(1_000_000);
  readonly peers = new Map<string, SimPeer>();
  readonly sockets = new Set<SimSocket>();
  /** One way, for signaling messages and data frames. */
  latencyMs = 5;
  /** From a dial reaching the dialled peer until both ends open. */
  handshakeMs = 60;
  /** Messages published on the signaling server so far (announcements, sealed or not). */
  published = 0;
  /** Whether a dial from `from` to `to` (PeerJS ids) stalls: reaches the dialled peer, never opens. */
  stall: (from: string, to: string) => boolean = () => false;

  /** Move the clock by `ms` in small steps, letting promises (Web Crypto) settle between them. */
  async run(ms: number, stepMs = 100): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      this.clock.advance(stepMs);
      // Web Crypto answers from another thread: a real moment per step, so that a handshake's
      // proofs settle within a step or two of site time even on a loaded machine.
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Run until `done()` holds, at most `ms`; returns the site time it took, or undefined. */
  async runUntil(done: () => boolean, ms: number, stepMs = 100): Promise<number | undefined> {
    const start = this.clock.now();
    while (this.clock.now() - start < ms) {
      if (done()) return this.clock.now() - start;
      await this.run(stepMs, stepMs);
    }
    return done() ? this.clock.now() - start : undefined;
  }
}
