/**
 * The y-webrtc signaling protocol, server side: sockets subscribe to topics (rooms) and
 * every message published to a topic goes to every socket subscribed to it, the sender
 * included. Written from the protocol that y-webrtc's own `bin/server.js` speaks:
 *
 *   → {type:'subscribe', topics:[...]}      → {type:'unsubscribe', topics:[...]}
 *   → {type:'publish', topic, ...}          ← the same object plus `clients` (subscriber count)
 *   → {type:'ping'}                         ← {type:'pong'}
 *
 * One extension, a last will: `{type:'will', topic, data}` deposits a message that the hub
 * publishes to `topic` (as `{type:'publish', topic, data}`) when the socket closes or stops
 * answering pings, i.e. when its process dies. A socket has at most one will, for a topic
 * it is subscribed to; `{type:'will', topic}` without data withdraws it (a goodbye).
 * y-webrtc clients never send one, so for them nothing changes. LiquidMesh peers leave a
 * sealed will so that the others learn of a death at once instead of from silence.
 *
 * The server never reads what is published: y-webrtc encrypts room traffic with the room
 * password, and the server only needs the topic to route it.
 * @module
 */
import type WebSocket from 'ws';
import type { Logger } from '../../shared/log.ts';

/** How a {@link TopicHub} limits and watches its sockets. */
export interface TopicHubOptions {
  logger: Logger;
  /** Topics one socket may be subscribed to at once; further subscriptions are ignored. */
  maxTopicsPerSocket: number;
  /**
   * Period of the liveness check: each period every socket is pinged, and a socket that
   * neither answered the previous ping nor sent anything since is closed.
   */
  heartbeatMs: number;
}

/** Counts of a {@link TopicHub}'s state. */
export interface TopicHubStats {
  /** Open signaling sockets. */
  sockets: number;
  /** Topics with at least one subscriber. */
  topics: number;
}

interface SocketState {
  readonly topics: Set<string>;
  /** Heard from (pong or any message) since the last heartbeat. */
  alive: boolean;
  /** Published to its topic when the socket dies. */
  will?: { topic: string; data: string };
}

/** Longest will kept, in characters (a sealed peer id is about 150). */
const MAX_WILL_CHARS = 2048;

const PONG = JSON.stringify({ type: 'pong' });

/** Topic routing for y-webrtc signaling sockets. */
export class TopicHub {
  readonly #topics = new Map<string, Set<WebSocket>>();
  readonly #sockets = new Map<WebSocket, SocketState>();
  readonly #log: Logger;
  readonly #maxTopics: number;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(options: TopicHubOptions) {
    this.#log = options.logger;
    this.#maxTopics = options.maxTopicsPerSocket;
    // One sweep for all sockets rather than a timer per socket.
    this.#heartbeat = setInterval(() => this.#sweep(), options.heartbeatMs);
  }

  /** Take over an upgraded socket: route its messages until it closes. */
  accept(socket: WebSocket): void {
    if (this.#closed) {
      socket.terminate();
      return;
    }
    const state: SocketState = { topics: new Set(), alive: true };
    this.#sockets.set(socket, state);
    socket.on('pong', () => {
      state.alive = true;
    });
    socket.on('message', (data: WebSocket.Data) => {
      state.alive = true;
      this.#onMessage(socket, state, data);
    });
    // Without a listener a protocol error (e.g. an oversize frame) would be thrown as an
    // uncaught 'error' event; ws closes the socket itself after reporting it.
    socket.on('error', (error: Error) => this.#log.debug('signaling socket error:', error.message));
    socket.on('close', () => this.#forget(socket, state, true));
  }

  /** Current counts. */
  stats(): TopicHubStats {
    return { sockets: this.#sockets.size, topics: this.#topics.size };
  }

  /** Stop the heartbeat and terminate every socket; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    for (const [socket, state] of [...this.#sockets]) {
      socket.terminate();
      this.#forget(socket, state);
    }
  }

  #onMessage(socket: WebSocket, state: SocketState, data: WebSocket.Data): void {
    const message = parseMessage(data);
    if (!message) {
      this.#log.debug('ignored a signaling message that is not a JSON object with a string type');
      return;
    }
    switch (message.type) {
      case 'subscribe':
        this.#subscribe(socket, state, message.topics);
        break;
      case 'unsubscribe':
        this.#unsubscribe(socket, state, message.topics);
        break;
      case 'publish':
        this.#publish(message);
        break;
      case 'ping':
        send(socket, PONG);
        break;
      case 'will':
        this.#will(state, message);
        break;
      default:
        this.#log.debug('ignored a signaling message of unknown type', message.type);
    }
  }

  #subscribe(socket: WebSocket, state: SocketState, topics: unknown): void {
    if (!Array.isArray(topics)) {
      this.#log.debug('ignored a subscribe without a topics array');
      return;
    }
    for (const topic of topics) {
      if (!isTopic(topic) || state.topics.has(topic)) continue;
      if (state.topics.size >= this.#maxTopics) {
        this.#log.debug(`ignored subscriptions beyond ${this.#maxTopics} topics on one socket`);
        return;
      }
      state.topics.add(topic);
      let subscribers = this.#topics.get(topic);
      if (!subscribers) this.#topics.set(topic, (subscribers = new Set()));
      subscribers.add(socket);
    }
  }

  #unsubscribe(socket: WebSocket, state: SocketState, topics: unknown): void {
    if (!Array.isArray(topics)) {
      this.#log.debug('ignored an unsubscribe without a topics array');
      return;
    }
    for (const topic of topics) {
      if (isTopic(topic) && state.topics.delete(topic)) this.#removeSubscriber(topic, socket);
      if (state.will?.topic === topic) delete state.will;
    }
  }

  #will(state: SocketState, message: Record<string, unknown>): void {
    const { topic, data } = message;
    if (!isTopic(topic) || !state.topics.has(topic)) {
      this.#log.debug('ignored a will for a topic the socket is not subscribed to');
      return;
    }
    if (data === undefined) {
      if (state.will?.topic === topic) delete state.will;
      return;
    }
    if (typeof data !== 'string' || data.length > MAX_WILL_CHARS) {
      this.#log.debug(`ignored a will whose data is not a string of at most ${MAX_WILL_CHARS} characters`);
      return;
    }
    state.will = { topic, data };
  }

  #publish(message: Record<string, unknown>): void {
    const topic = message.topic;
    if (!isTopic(topic)) {
      this.#log.debug('ignored a publish without a topic');
      return;
    }
    const subscribers = this.#topics.get(topic);
    if (!subscribers) return;
    // Serialised once for all subscribers; `clients` is what y-webrtc's server adds and
    // what y-webrtc clients read to learn the room's size.
    const text = JSON.stringify({ ...message, clients: subscribers.size });
    for (const subscriber of subscribers) send(subscriber, text);
  }

  #sweep(): void {
    for (const [socket, state] of this.#sockets) {
      if (!state.alive) {
        this.#log.debug('closing a signaling socket that did not answer the last ping');
        socket.terminate();
        continue;
      }
      state.alive = false;
      socket.ping();
    }
  }

  /** `died`: the socket closed on its own (not by {@link close}), so its will is published. */
  #forget(socket: WebSocket, state: SocketState, died = false): void {
    if (!this.#sockets.delete(socket)) return;
    for (const topic of state.topics) this.#removeSubscriber(topic, socket);
    state.topics.clear();
    const will = state.will;
    delete state.will;
    if (died && will && !this.#closed) this.#publish({ type: 'publish', topic: will.topic, data: will.data });
  }

  #removeSubscriber(topic: string, socket: WebSocket): void {
    const subscribers = this.#topics.get(topic);
    if (!subscribers) return;
    subscribers.delete(socket);
    if (subscribers.size === 0) this.#topics.delete(topic);
  }
}

function isTopic(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** The message as a plain object with a string `type`, or undefined for anything else. */
function parseMessage(data: WebSocket.Data): (Record<string, unknown> & { type: string }) | undefined {
  let text: string;
  if (typeof data === 'string') text = data;
  else if (Array.isArray(data)) text = Buffer.concat(data).toString('utf8');
  else if (data instanceof ArrayBuffer) text = Buffer.from(data).toString('utf8');
  else text = data.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON: the caller logs and ignores it like any other malformed message.
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  return typeof record.type === 'string' ? (record as Record<string, unknown> & { type: string }) : undefined;
}

function send(socket: WebSocket, text: string): void {
  // A subscriber that is already closing is about to be forgotten; nothing to deliver.
  if (socket.readyState === socket.OPEN) socket.send(text);
}
