/**
 * A {@link Transport} on the web-standard `BroadcastChannel`: peers in the same origin of
 * one browser (tabs, iframes, workers) or in one Node process (threads included) reach
 * each other with no server. Every transport of a mesh opens its own `BroadcastChannel`
 * object on the mesh's one channel name (an object never receives its own posts, so
 * transports cannot share one) and every post is a structured-cloned envelope
 * `{ type, from, session, seq, to?, toSession?, ack?, data? }`.
 *
 * Discovery: `connect` broadcasts `hello`; every linked transport answers with a `here`
 * addressed to the newcomer, and each side emits `peer-joined` once. `disconnect`
 * broadcasts `bye`. A tab that is killed says nothing, so every transport broadcasts a
 * `beat` each `heartbeatMs` and drops a peer not heard from for `timeoutMs`.
 *
 * Connection epochs: each `connect` draws a random session id carried in every envelope,
 * and directed envelopes name the receiver's session too. A peer that comes back under
 * the same id with a new session is reported `peer-left` then `peer-joined`, and nothing
 * sent by or to the old session reaches the new one. A peer that was dropped for silence
 * but is alive after all (a throttled or frozen tab) is re-linked as a new connection on
 * both sides: see `#onBeat` and `#onHello`.
 *
 * Duplicate ids: before saying `hello`, `connect` broadcasts a `claim` and waits
 * `duplicateCheckMs`; a transport already connected under that id answers `taken` and
 * `connect` rejects with ERR_DUPLICATE_PEER. This is best effort: a holder that cannot
 * answer in time (a frozen tab) goes unnoticed, and then the last instance to say
 * `hello` is the one the others talk to.
 *
 * Limits: no backpressure signal exists, so `send` resolves as soon as the envelope is
 * posted; nothing is authenticated (any script of the origin can post on the channel),
 * which is why the peer authenticates every link on top (`shared/mesh/peer-links.ts`).
 * Hidden tabs may have their timers throttled to once a minute by Chromium; give such
 * meshes a `timeoutMs` above that or run the peer in a worker.
 *
 * Over 400 lines because discovery, epochs and duplicate detection act on the same
 * per-peer state; split apart, each would need the others' bookkeeping.
 * @module
 */

import { randomBytes, toHex } from '../bytes.ts';
import { DuplicatePeerError, InvalidParamsError, type MeshError, NotConnectedError, PayloadTooLargeError, PeerUnreachableError } from '../errors.ts';
import { Emitter, type Unsubscribe } from '../events.ts';
import { createLogger, type Logger } from '../log.ts';
import { type Clock, every, type TimerHandle } from '../ports/clock.ts';
import type { PeerId, Transport, TransportEvents } from '../ports/transport.ts';
import { SystemClock } from '../system-clock.ts';

/** Options of a {@link BroadcastChannelTransport}. */
export interface BroadcastChannelTransportOptions {
  /** Name of the mesh; transports with the same name (same origin) reach each other. */
  channel: string;
  /** Largest message `send` accepts (default 256 KiB, like a WebRTC data channel). */
  maxMessageSize?: number;
  /** Period of the liveness heartbeat in ms (default 1000). */
  heartbeatMs?: number;
  /** A peer not heard from for this many ms is reported `peer-left` (default 5000). */
  timeoutMs?: number;
  /** How long `connect` listens for another transport claiming the same id, in ms (default 100; 0 skips the check). */
  duplicateCheckMs?: number;
  /** Time source of heartbeats, timeouts and the duplicate check (default the system clock). */
  clock?: Clock;
  /** Which pairs may link (`local`, `remote`); others never join each other. Default: every pair. */
  links?: (local: PeerId, remote: PeerId) => boolean;
  /** Where dropped envelopes and failed posts are reported. */
  logger?: Logger;
  /**
   * Opens the channel (default `new BroadcastChannel(name)`): lets a caller supply a
   * polyfill where the global is missing, or wrap the channel to observe it.
   */
  createChannel?: (name: string) => BroadcastChannel;
}

/** Defaults of {@link BroadcastChannelTransportOptions}. */
export const BROADCAST_CHANNEL_DEFAULTS: {
  readonly maxMessageSize: number;
  readonly heartbeatMs: number;
  readonly timeoutMs: number;
  readonly duplicateCheckMs: number;
} = {
  maxMessageSize: 256 * 1024,
  heartbeatMs: 1000,
  timeoutMs: 5000,
  duplicateCheckMs: 100,
};

/** The `BroadcastChannel` name a mesh uses; prefixed so unrelated channels of the origin do not collide with it. */
export function broadcastChannelName(mesh: string): string {
  return `liquidmesh:${mesh}`;
}

type EnvelopeType = 'claim' | 'taken' | 'hello' | 'here' | 'beat' | 'msg' | 'bye';

/** What crosses the channel. */
interface Envelope {
  /** Marks our envelopes among anything else posted under the same name. */
  lm: 1;
  type: EnvelopeType;
  from: PeerId;
  /** The sender's session: one per `connect`. */
  session: string;
  /** Position in the sender's session; `ack` and the link bookkeeping refer to it. */
  seq: number;
  /** Addressee of a directed envelope; others ignore it. */
  to?: PeerId;
  /** The addressee's session as the sender knows it: a later session of `to` ignores it. */
  toSession?: string;
  /** `hello`: the last seq the sender has seen from the addressee; `here`: the seq of the hello answered. */
  ack?: number;
  /** `msg` payload. */
  data?: Uint8Array;
}

type Outgoing = Omit<Envelope, 'lm' | 'from' | 'session' | 'seq'>;

/** A joined peer. */
interface Link {
  session: string;
  /** Clock time the peer's session was last heard from. */
  lastHeard: number;
  lastSeq: number;
  /**
   * Seq of our envelope after which the other side counts us as joined (the `here` we
   * answered with, or the `hello` its `here` answered). A `hello` from it acknowledging
   * this seq or later means it has dropped us since.
   */
  established: number;
}

type State = 'idle' | 'claiming' | 'connected';

const TYPES = new Set<string>(['claim', 'taken', 'hello', 'here', 'beat', 'msg', 'bye']);
/** Sessions remembered as over, so late envelopes from them cannot revive a link. */
const MAX_RETIRED = 1024;

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 128;
}

/** The envelope in `value`, or null for anything malformed or foreign. */
function asEnvelope(value: unknown): Envelope | null {
  if (typeof value !== 'object' || value === null) return null;
  const e = value as Record<string, unknown>;
  if (e.lm !== 1 || typeof e.type !== 'string' || !TYPES.has(e.type)) return null;
  if (!isName(e.from) || !isName(e.session) || !isSeq(e.seq)) return null;
  if (e.to !== undefined && !(isName(e.to) && isName(e.toSession))) return null;
  if (e.ack !== undefined && !isSeq(e.ack)) return null;
  const directed = e.to !== undefined;
  switch (e.type) {
    case 'taken':
      if (!directed) return null;
      break;
    case 'here':
      if (!directed || e.ack === undefined) return null;
      break;
    case 'msg':
      if (!directed || !(e.data instanceof Uint8Array)) return null;
      break;
    default:
      break;
  }
  return e as unknown as Envelope;
}

/** A {@link Transport} between tabs, workers and threads of one origin or process, over `BroadcastChannel`. */
export class BroadcastChannelTransport implements Transport {
  readonly kind = 'broadcast-channel';
  readonly maxMessageSize: number;
  readonly #name: string;
  readonly #heartbeatMs: number;
  readonly #timeoutMs: number;
  readonly #duplicateCheckMs: number;
  readonly #clock: Clock;
  readonly #linkable: (local: PeerId, remote: PeerId) => boolean;
  readonly #log: Logger;
  readonly #createChannel: (name: string) => BroadcastChannel;
  readonly #events: Emitter<TransportEvents>;
  readonly #links = new Map<PeerId, Link>();
  readonly #retired = new Set<string>();
  #state: State = 'idle';
  #id: PeerId | null = null;
  #session = '';
  #seq = 0;
  #channel: BroadcastChannel | null = null;
  #stopHeartbeat: (() => void) | null = null;
  #lastTick = 0;
  #claim: { promise: Promise<void>; resolve: () => void; reject: (error: MeshError) => void; timer: TimerHandle } | null = null;

  constructor(options: BroadcastChannelTransportOptions) {
    const d = BROADCAST_CHANNEL_DEFAULTS;
    this.maxMessageSize = options.maxMessageSize ?? d.maxMessageSize;
    this.#heartbeatMs = options.heartbeatMs ?? d.heartbeatMs;
    this.#timeoutMs = options.timeoutMs ?? d.timeoutMs;
    this.#duplicateCheckMs = options.duplicateCheckMs ?? d.duplicateCheckMs;
    if (!isName(options.channel)) throw new InvalidParamsError('channel must be a name of 1 to 128 characters');
    if (!Number.isSafeInteger(this.maxMessageSize) || this.maxMessageSize <= 0) throw new InvalidParamsError('maxMessageSize must be a positive integer');
    if (!(this.#heartbeatMs > 0)) throw new InvalidParamsError('heartbeatMs must be positive');
    // A timeout within one heartbeat would drop healthy peers between two beats.
    if (!(this.#timeoutMs > this.#heartbeatMs)) throw new InvalidParamsError('timeoutMs must exceed heartbeatMs');
    if (!(this.#duplicateCheckMs >= 0)) throw new InvalidParamsError('duplicateCheckMs must not be negative');
    this.#name = broadcastChannelName(options.channel);
    this.#clock = options.clock ?? new SystemClock();
    this.#linkable = options.links ?? (() => true);
    this.#log = options.logger ?? createLogger('broadcast-channel');
    this.#createChannel = options.createChannel ?? ((name) => new BroadcastChannel(name));
    this.#events = new Emitter((e) => this.#log.error('transport listener failed', e));
  }

  /** The id this transport connected with, or null. */
  get localId(): PeerId | null {
    return this.#state === 'connected' ? this.#id : null;
  }

  /**
   * Open the channel, check that no transport already holds `localId`, then say hello.
   * Rejects with ERR_DUPLICATE_PEER when one does; a transport already connected (or
   * connecting) returns at once, as the port asks.
   */
  async connect(localId: PeerId): Promise<void> {
    if (this.#state === 'connected') return;
    if (this.#claim) return this.#claim.promise;
    this.#id = localId;
    this.#session = toHex(randomBytes(16));
    this.#seq = 0;
    const channel = this.#createChannel(this.#name);
    channel.addEventListener('message', this.#onMessage);
    channel.addEventListener('messageerror', this.#onMessageError);
    this.#channel = channel;
    if (this.#duplicateCheckMs === 0) {
      this.#enter();
      return;
    }
    this.#state = 'claiming';
    let resolve!: () => void;
    let reject!: (error: MeshError) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const timer = this.#clock.setTimeout(() => this.#settleClaim(null), this.#duplicateCheckMs);
    this.#claim = { promise, resolve, reject, timer };
    this.#post({ type: 'claim' });
    return promise;
  }

  async send(to: PeerId, data: Uint8Array): Promise<void> {
    if (this.#state !== 'connected') throw new NotConnectedError('transport is not connected');
    if (data.byteLength > this.maxMessageSize) {
      throw new PayloadTooLargeError(`message of ${data.byteLength} bytes exceeds ${this.maxMessageSize}`);
    }
    const link = this.#links.get(to);
    if (!link) throw new PeerUnreachableError(`peer ${to} is not reachable`);
    // A copy: cloning a view clones its whole buffer, and shared memory cannot be posted at all.
    const posted = this.#post({ type: 'msg', to, toSession: link.session, data: data.slice() });
    if (posted === null) throw new NotConnectedError('the broadcast channel is closed');
  }

  async disconnect(): Promise<void> {
    this.#events.clear();
    if (this.#state === 'claiming') this.#settleClaim(new NotConnectedError('disconnected while connecting'));
    else if (this.#state === 'connected') {
      this.#post({ type: 'bye' });
      this.#close();
    }
  }

  peers(): PeerId[] {
    return [...this.#links.keys()];
  }

  on<K extends keyof TransportEvents>(event: K, listener: (payload: TransportEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /** End the claim: `null` means nobody else holds the id, so go on to hello. */
  #settleClaim(error: MeshError | null): void {
    const claim = this.#claim;
    if (!claim) return;
    this.#claim = null;
    this.#clock.clearTimeout(claim.timer);
    if (error) {
      this.#close();
      claim.reject(error);
    } else {
      this.#enter();
      claim.resolve();
    }
  }

  #enter(): void {
    this.#state = 'connected';
    this.#lastTick = this.#clock.now();
    this.#post({ type: 'hello' });
    this.#stopHeartbeat = every(this.#clock, this.#heartbeatMs, () => this.#tick());
  }

  /** Back to idle without a word; listeners stay (only `disconnect` removes them). */
  #close(): void {
    this.#stopHeartbeat?.();
    this.#stopHeartbeat = null;
    const channel = this.#channel;
    this.#channel = null;
    if (channel) {
      channel.removeEventListener('message', this.#onMessage);
      channel.removeEventListener('messageerror', this.#onMessageError);
      channel.close();
    }
    this.#links.clear();
    this.#state = 'idle';
    this.#id = null;
  }

  /** Post an envelope; its seq, or null when the channel refused it (closed under us). */
  #post(fields: Outgoing): number | null {
    const channel = this.#channel;
    if (!channel || this.#id === null) return null;
    const seq = this.#seq++;
    const envelope: Envelope = { lm: 1, from: this.#id, session: this.#session, seq, ...fields };
    try {
      channel.postMessage(envelope);
      return seq;
    } catch (error) {
      this.#log.debug(`${fields.type} not posted: ${(error as Error).message}`);
      return null;
    }
  }

  #tick(): void {
    const now = this.#clock.now();
    // A tick this late means this context was suspended (frozen tab, sleeping laptop) and
    // could not hear anyone either: judge nobody by that silence.
    const suspended = now - this.#lastTick > this.#timeoutMs;
    this.#lastTick = now;
    this.#post({ type: 'beat' });
    const silent: PeerId[] = [];
    for (const [peer, link] of this.#links) {
      if (suspended) link.lastHeard = now;
      else if (now - link.lastHeard > this.#timeoutMs) silent.push(peer);
    }
    for (const peer of silent) {
      if (this.#state !== 'connected') return;
      this.#log.debug(`${peer} silent for over ${this.#timeoutMs} ms`);
      this.#drop(peer);
    }
  }

  readonly #onMessageError = (): void => {
    this.#log.debug('an envelope could not be deserialized in this context and is lost');
  };

  readonly #onMessage = (event: MessageEvent): void => {
    if (this.#state === 'idle') return;
    const env = asEnvelope(event.data);
    if (!env) {
      this.#log.debug('dropped a malformed or foreign message on the channel');
      return;
    }
    if (env.to !== undefined && (env.to !== this.#id || env.toSession !== this.#session)) return;
    if (env.from === this.#id) {
      this.#onSameId(env);
      return;
    }
    // Claims concern the id only; while claiming nothing else is heard, since our own
    // hello, still to come, makes every peer introduce itself anyway.
    if (this.#state !== 'connected' || env.type === 'claim' || env.type === 'taken') return;
    if (this.#retired.has(env.session) || !this.#linkable(this.#id!, env.from)) return;
    const link = this.#links.get(env.from);
    const now = this.#clock.now();
    if (link && link.session === env.session) {
      // BroadcastChannel neither reorders nor repeats: a seq going back is a broken or forged sender.
      if (env.seq <= link.lastSeq) return;
      link.lastHeard = now;
      link.lastSeq = env.seq;
    }
    switch (env.type) {
      case 'hello':
        this.#onHello(env, link);
        return;
      case 'here':
        // A here from a session other than the joined one is from an instance replaced since.
        if (!link) this.#join(env, env.ack!);
        return;
      case 'beat':
        this.#onBeat(env, link);
        return;
      case 'msg':
        if (link?.session === env.session) this.#events.emit('message', { from: env.from, data: env.data! });
        return;
      case 'bye':
        this.#retire(env.session);
        if (link?.session === env.session) this.#drop(env.from);
        return;
      default:
        return;
    }
  };

  /** An envelope from another transport using our id. */
  #onSameId(env: Envelope): void {
    if (env.session === this.#session) return;
    if (env.type === 'claim') {
      // While both are still claiming, the smaller session keeps the id, so exactly one
      // of two simultaneous claimants goes on even if only one of them hears the other.
      if (this.#state === 'claiming' && env.session < this.#session) {
        this.#settleClaim(new DuplicatePeerError(`peer id ${this.#id} is being claimed by another transport`));
        return;
      }
      this.#post({ type: 'taken', to: env.from, toSession: env.session });
    } else if (env.type === 'taken' && this.#state === 'claiming') {
      this.#settleClaim(new DuplicatePeerError(`peer id ${this.#id} is already connected on channel ${this.#name}`));
    } else if (env.type === 'hello' && this.#state === 'connected') {
      this.#log.warn(`another transport said hello as ${env.from} (it skipped or missed the duplicate check); peers will follow the latest hello`);
    }
  }

  /**
   * A hello, broadcast by a newcomer or addressed to us as a probe. From the joined
   * session it means the sender no longer counts us as joined once it acknowledges the
   * envelope that linked us; until then our answer is merely still on its way.
   */
  #onHello(env: Envelope, link: Link | undefined): void {
    if (link) {
      if (link.session === env.session && (env.ack ?? -1) < link.established) return;
      // The old link is over: a new instance of that id, or the sender dropped us for silence.
      if (link.session !== env.session) this.#retire(link.session);
      this.#drop(env.from);
      if (this.#state !== 'connected') return;
    }
    // Post the answer before telling listeners: what they send on peer-joined must not
    // overtake the here that makes the other side accept it.
    const here = this.#post({ type: 'here', to: env.from, toSession: env.session, ack: env.seq });
    if (here !== null) this.#join(env, here);
  }

  /** A heartbeat from a session we have no link with: it is alive, so ask it to link again. */
  #onBeat(env: Envelope, link: Link | undefined): void {
    if (link) return;
    this.#post({ type: 'hello', to: env.from, toSession: env.session, ack: env.seq });
  }

  #join(env: Envelope, established: number): void {
    this.#links.set(env.from, { session: env.session, lastHeard: this.#clock.now(), lastSeq: env.seq, established });
    this.#events.emit('peer-joined', env.from);
  }

  #drop(peer: PeerId): void {
    if (!this.#links.delete(peer)) return;
    this.#events.emit('peer-left', peer);
  }

  #retire(session: string): void {
    this.#retired.add(session);
    if (this.#retired.size > MAX_RETIRED) this.#retired.delete(this.#retired.values().next().value!);
  }
}
