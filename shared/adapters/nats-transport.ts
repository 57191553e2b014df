/**
 * The NATS transport: the mesh beyond one site runs over a NATS cluster (browsers over
 * WebSocket, Node over TCP). The connection is made by a factory the caller injects
 * (`node-host/nats/` or `web/`), so this file uses web-standard APIs only. See ADR 0023.
 *
 * Subjects (`<h>` = the mesh topic derived from the mesh name and secret, never the
 * secret itself):
 * - `lm.<h>.hello`: announcements `{id, s (session), pk (ECDH public key), bye?}`,
 *   sealed with the mesh key (AES-GCM) behind the session id and a goodbye flag in clear
 *   (so a repeat of a known session costs no decryption; a goodbye is always opened), repeated every `announceMs` (they are the
 *   heartbeat too; with a bound, see below, they back off and links keep themselves alive).
 * - `lm.<h>.in.<peer id>`: a peer's inbox. Frames addressed to one session of it.
 *
 * Links: hearing an announcement of a new session, a peer derives a key for the pair
 * (ECDH P-256 + HKDF over both ids and sessions) and sends `hi` (its own announcement)
 * to the other's inbox. The receiver of `hi` knows both keys and that the sender knows
 * it, so it joins and answers with a sealed `ack`; the ack (or any frame sealed with the
 * pair key) makes the first side join. A newer session of a peer replaces the older
 * one only once it has proven itself that way, and only if it began later (announcements
 * carry their session's start), so replayed announcements and hellos cannot break a link.
 *
 * Every data frame is sealed with the pair key, the header (type, both ends, both
 * sessions, seq) as associated data: the cluster's operators and other clients see
 * subjects, sizes and timing, not contents, and cannot forge or reorder frames.
 *
 * Delivery: NATS is at-most-once, and a client that is between servers loses what was
 * published to it meanwhile. Frames carry a sequence number per link; the receiver
 * delivers only the next one and acknowledges cumulatively; the sender keeps what is
 * unacknowledged (at most `windowFrames`, which is its backpressure). It sends all of it
 * again when its connection comes back or when the receiver reports a gap (a nack:
 * go-back-N), and only the oldest frame when an ack is overdue (`retransmitMs`, doubling
 * while nothing is acknowledged): a late ack usually means a busy receiver, not a loss,
 * and repeating whole windows to busy receivers made a 100-peer process collapse.
 *
 * Bound (`maxLinks`): instead of linking every pair (n² pair keys, every announcement
 * heard by everyone every second), a peer links to at most `maxLinks` peers chosen at
 * random among those it heard announce (`nats-overlay.ts`) and the mesh routes through
 * them (ADR 0029). A peer at its bound answers a `hi` with `no` (sealed with the pair
 * key) unless the mesh names a redundant link to give up for it (`makeRoomWith`); the
 * dialer then tries another peer. Dials in progress do not count against the bound.
 * Announcements back off to `quietAnnounceMs` and a joined link is kept alive by a
 * sealed ack every `announceMs`, so a mesh at rest costs each peer its few links plus
 * n / `quietAnnounceMs` announcements a second, skipped without decryption.
 *
 * Over 400 lines because discovery, the pair handshake and the reliable window act on
 * the same per-link state; apart, each would need the others' bookkeeping.
 * @module
 */
import type { BusMemo } from '../bus-memo.ts';
import { concatBytes, fromHex, plainBytes, randomBytes, toHex, utf8 } from '../bytes.ts';
import { InvalidParamsError, NotConnectedError, PayloadTooLargeError, PeerUnreachableError } from '../errors.ts';
import { Emitter, type Unsubscribe } from '../events.ts';
import { createLogger, type Logger } from '../log.ts';
import { type Clock, every, type TimerHandle } from '../ports/clock.ts';
import type { PeerId, Transport, TransportEvents } from '../ports/transport.ts';
import { SystemClock } from '../system-clock.ts';
import { deriveMeshKeys, fromBase64, type MeshKeys, parseJsonObject, toBase64 } from './mesh-secret.ts';
import { type NatsCandidate, NatsCandidates } from './nats-overlay.ts';
import { NatsBus } from './nats-bus.ts';
import type { MeshBus } from '../ports/mesh-bus.ts';

/** A message as a NATS client hands it over (the part this transport reads). */
export interface NatsMessage {
  subject: string;
  data: Uint8Array;
  /** Where an answer goes (mesh-bus requests). */
  reply?: string;
}

/** A connection status event of a NATS client (`disconnect`, `reconnect`, …). */
export interface NatsStatus {
  type: string;
}

/**
 * The part of a NATS client connection this transport uses: the official clients'
 * `NatsConnection` (`@nats-io/transport-node`'s `connect`, `@nats-io/nats-core`'s
 * `wsconnect`) fits it as it is.
 */
export interface NatsConnectionLike {
  publish(subject: string, payload?: Uint8Array, options?: { reply?: string }): void;
  subscribe(subject: string, options: { queue?: string; callback: (error: Error | null, message: NatsMessage) => void }): { unsubscribe(): void };
  flush(): Promise<void>;
  close(): Promise<void>;
  status(): AsyncIterable<NatsStatus>;
}

/** Options of a {@link NatsTransport}. */
export interface NatsTransportOptions {
  /** Opens the connection to the cluster (servers, credentials and reconnect policy live there). */
  connect: () => Promise<NatsConnectionLike>;
  /** Mesh name. */
  mesh: string;
  /** Mesh secret; peers with another secret neither find nor read this mesh. */
  secret?: string;
  /** Largest message `send` accepts (default 256 KiB; the server's max_payload must exceed it by 128 bytes). */
  maxMessageSize?: number;
  /** Announcement (and heartbeat) period in ms (default 1000). */
  announceMs?: number;
  /** A peer not heard from this long is reported gone (default 5000). */
  timeoutMs?: number;
  /** Unacknowledged frames are sent again after this long (default 1000). */
  retransmitMs?: number;
  /** Most unacknowledged frames per link; `send` waits beyond it (default 256). */
  windowFrames?: number;
  /** Which pairs may link (default every pair); lets tests build other topologies. */
  links?: (local: PeerId, remote: PeerId) => boolean;
  /**
   * Most links this peer holds (default no bound: every pair of the mesh links). With a
   * bound the peers form a random overlay of at most this many links each, and the mesh
   * routes through it (a thousand peers, ADR 0023).
   */
  maxLinks?: number;
  /** With a bound, announcements back off from `announceMs` to this (default 30 000). */
  quietAnnounceMs?: number;
  /**
   * With a bound and a mesh bus beside the transport (default false): announcements go to
   * one peer, not to everyone. They are published on `lm.<h>.dial`, a NATS queue group of
   * the peers short of their bound, so the cluster hands each to one of them, which dials
   * the announcer; a peer announces only while short of its bound (every `announceMs`
   * without a link, backing off to `quietAnnounceMs` with one) and listens only then. A
   * crowd joining costs one delivery per announcement instead of one per peer, and a mesh
   * at rest hears at most one announcement per short peer every `quietAnnounceMs`, spread
   * over the short peers. Presence (over the bus) tells peers of each other and the bus
   * carries calls to peers no link path reaches, so nothing needs everyone to hear
   * everyone: no room is made for strangers either.
   */
  quietAtRest?: boolean;
  /** Random source of the overlay's choices (seeded in tests). */
  random?: () => number;
  /**
   * The mesh keys, derived once for many transports of one process (a bench running
   * hundreds of peers); default: derived from `mesh` and `secret` on connect (PBKDF2).
   */
  meshKeys?: Promise<MeshKeys>;
  /**
   * Shared with the other transports of one process (a bench running hundreds of peers):
   * their buses decrypt and check each message once, not once per peer (`bus-memo.ts`).
   */
  busMemo?: BusMemo;
  clock?: Clock;
  logger?: Logger;
}

const FRAME_HI = 1;
const FRAME_MSG = 2;
const FRAME_ACK = 3;
/** "No": a refused `hi` (at the bound), or a link given up; sealed with the pair key. */
const FRAME_NO = 4;
/** Cumulative ack that also says "a frame after a gap arrived": send everything unacknowledged again. */
const FRAME_NACK = 5;
/** A peer that refused us is not dialled again for this long. */
const REFUSED_BACKOFF_MS = 30_000;
/** About this many peers at their bound answer the announcement of a peer the mesh does not know. */
const ROOM_RESPONDERS = 2;
const SESSION_BYTES = 8;
/** The longest wait before unacknowledged frames go again. */
const MAX_RTO_MS = 16_000;
const HEADER = 41;
const ID = /^[0-9a-f]{32}$/;
const SESSION = /^[0-9a-f]{16}$/;
const ACK_EVERY = 32;
const ACK_DELAY_MS = 10;
const MAX_RETIRED = 4096;

/** The subjects of a mesh. */
export function natsSubjects(keys: MeshKeys): { hello: string; dial: string; inbox: (peer: PeerId) => string } {
  const h = keys.topic.replace(/^liquidmesh-/, '');
  return { hello: `lm.${h}.hello`, dial: `lm.${h}.dial`, inbox: (peer) => `lm.${h}.in.${peer}` };
}

interface Sent {
  seq: number;
  frame: Uint8Array;
  sentAt: number;
  /** Sent more than once (its ack then says nothing about the round trip). */
  again?: boolean;
}

/** One session of a remote peer. */
interface Link {
  remote: PeerId;
  session: string;
  started: number;
  key: Promise<CryptoKey>;
  joined: boolean;
  lastHeard: number;
  /** Our announcement as `hi` was last sent to it at (ms). */
  hiAt: number;
  /** We dialled it (sent `hi` first, bounded mode), at this time; -1 when not. */
  dialAt: number;
  nextSeq: number;
  unacked: Sent[];
  /**
   * Wait before sending the oldest unacknowledged frame again: four round trips but at
   * least `retransmitMs`, doubled after each timeout without progress (a receiver slowed
   * by its machine's load must not be buried under repeats).
   */
  rto: number;
  /** Smoothed time from sending a frame to its ack (ms; 0 until measured). */
  srtt: number;
  /** An ack for a repeat or a gap is due (sent once per ack delay, not once per frame). */
  gapAck: boolean;
  /** When every unacknowledged frame was last sent again. */
  goBackAt: number;
  /** Waiting for room in the window. */
  waiters: (() => void)[];
  /** Seals and publishes in seq order. */
  chain: Promise<void>;
  delivered: number;
  unackedIn: number;
  ackTimer: boolean;
  closed: boolean;
}

interface Announcement {
  id: PeerId;
  session: string;
  /** When the session began, by the announcer's wall clock: of two sessions of a peer, the later one is current. */
  started: number;
  pk: Uint8Array;
  bye: boolean;
  /** The announcer had no link when it announced (a newcomer, or cut off): peers at their bound may make room for it. */
  lonely: boolean;
}

/** {@link Transport} over a NATS cluster. */
export class NatsTransport implements Transport {
  readonly kind = 'nats';
  readonly maxMessageSize: number;
  readonly #o: NatsTransportOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: Emitter<TransportEvents>;
  readonly #announceMs: number;
  readonly #timeoutMs: number;
  readonly #retransmitMs: number;
  readonly #window: number;
  /** Every known remote session (joined or not), by session. */
  readonly #sessions = new Map<string, Link>();
  /** The joined session of each peer. */
  readonly #joined = new Map<PeerId, Link>();
  readonly #retired = new Set<string>();
  #nc: NatsConnectionLike | null = null;
  #keys: MeshKeys | null = null;
  #subjects: ReturnType<typeof natsSubjects> | null = null;
  #ecdh: CryptoKeyPair | null = null;
  #publicKey = new Uint8Array(0);
  #id: PeerId | null = null;
  #session = '';
  #started = 0;
  #stop: (() => void)[] = [];
  #incoming: Promise<void> = Promise.resolve();
  readonly #bound: number;
  readonly #quietMs: number;
  readonly #candidates: NatsCandidates;
  /** Chooses a link to give up for an unreachable peer when at the bound (see makeRoomWith). */
  #roomFor: ((remote: PeerId, cutOff?: boolean) => PeerId | undefined) | undefined;
  #announceDelay = 0;
  #announceTimer: TimerHandle | undefined;
  #bus: NatsBus | undefined;
  /** The subscription to announcements (quiet at rest: held only while short of the bound). */
  #hello: { unsubscribe(): void } | null = null;

  constructor(options: NatsTransportOptions) {
    this.#o = options;
    this.maxMessageSize = options.maxMessageSize ?? 256 * 1024;
    this.#announceMs = options.announceMs ?? 1000;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#retransmitMs = options.retransmitMs ?? 1000;
    this.#window = options.windowFrames ?? 256;
    if (!(this.#timeoutMs > this.#announceMs)) throw new InvalidParamsError('timeoutMs must exceed announceMs');
    if (!Number.isSafeInteger(this.#window) || this.#window < 1) throw new InvalidParamsError('windowFrames must be a positive integer');
    this.#bound = options.maxLinks ?? Infinity;
    if (options.maxLinks !== undefined && (!Number.isSafeInteger(options.maxLinks) || options.maxLinks < 1)) throw new InvalidParamsError('maxLinks must be a positive integer');
    this.#quietMs = Math.max(this.#announceMs, options.quietAnnounceMs ?? 30_000);
    this.#candidates = new NatsCandidates(options.random);
    this.#clock = options.clock ?? new SystemClock();
    this.#log = options.logger ?? createLogger('nats');
    this.#events = new Emitter((e) => this.#log.error('transport listener failed', e));
  }

  async connect(localId: PeerId): Promise<void> {
    if (this.#id !== null) return;
    if (!ID.test(localId)) throw new InvalidParamsError('a peer id is 32 lowercase hex digits');
    this.#keys ??= await (this.#o.meshKeys ?? deriveMeshKeys(this.#o.mesh, this.#o.secret ?? ''));
    this.#subjects = natsSubjects(this.#keys);
    this.#ecdh = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    this.#publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', this.#ecdh.publicKey));
    const nc = await this.#o.connect();
    this.#nc = nc;
    this.#id = localId;
    this.#session = toHex(randomBytes(8));
    this.#started = Date.now();
    this.#listen();
    const inbox = nc.subscribe(this.#subjects.inbox(localId), { callback: (error, m) => this.#onFrame(error, m) });
    this.#stop.push(() => {
      this.#hello?.unsubscribe();
      this.#hello = null;
    }, () => inbox.unsubscribe());
    this.#bus?.attach();
    // Subscriptions are in place at the server before anyone is told to use them.
    await nc.flush();
    void this.#watch(nc);
    this.#stop.push(every(this.#clock, this.#announceMs, () => this.#tick()), every(this.#clock, Math.max(50, this.#retransmitMs / 4), () => this.#retransmit(false)));
    if (this.#bounded) {
      this.#announceDelay = this.#announceMs;
      this.#scheduleAnnounce();
      this.#stop.push(() => this.#announceTimer !== undefined && this.#clock.clearTimeout(this.#announceTimer));
    }
    await this.#announce(false);
  }

  /**
   * The mesh bus over this transport's connection (registry and presence mesh-wide, ADR
   * 0023): give it to the peer as `bus`; it works while the transport is connected.
   */
  get bus(): MeshBus {
    this.#bus ??= new NatsBus(this, () => (this.#nc && this.#keys && this.#id !== null ? { nc: this.#nc, keys: this.#keys, self: this.#id } : null), this.#clock, this.#log.child('bus'), this.#o.busMemo);
    return this.#bus;
  }

  get #bounded(): boolean {
    return this.#bound !== Infinity;
  }

  /** See {@link Transport.makeRoomWith}. */
  makeRoomWith(choose: (remote: PeerId, cutOff?: boolean) => PeerId | undefined): void {
    this.#roomFor = choose;
  }

  async send(to: PeerId, data: Uint8Array): Promise<void> {
    if (this.#id === null) throw new NotConnectedError('transport is not connected');
    if (data.byteLength > this.maxMessageSize) throw new PayloadTooLargeError(`message of ${data.byteLength} bytes exceeds ${this.maxMessageSize}`);
    const link = this.#joined.get(to);
    if (!link) throw new PeerUnreachableError(`peer ${to} is not reachable`);
    const seq = link.nextSeq++;
    const copy = data.slice();
    const done = link.chain.then(async () => {
      while (link.unacked.length >= this.#window && !link.closed) await new Promise<void>((r) => link.waiters.push(r));
      if (link.closed) throw new PeerUnreachableError(`peer ${to} left while the send waited`);
      const frame = await this.#seal(link, FRAME_MSG, seq, copy);
      if (link.closed) throw new PeerUnreachableError(`peer ${to} left while the send waited`);
      link.unacked.push({ seq, frame, sentAt: this.#clock.now() });
      this.#publish(link.remote, frame);
    });
    // The chain goes on after a failed send; the caller still sees its failure.
    link.chain = done.catch(() => {});
    return done;
  }

  async disconnect(): Promise<void> {
    const nc = this.#nc;
    if (this.#id === null || !nc) return;
    this.#events.clear();
    this.#bus?.close();
    const bye = this.#announce(true).catch(() => {});
    this.#id = null;
    this.#nc = null;
    for (const stop of this.#stop.splice(0)) stop();
    for (const link of this.#sessions.values()) this.#close(link);
    this.#sessions.clear();
    this.#joined.clear();
    await bye;
    await nc.flush().catch(() => {});
    await nc.close().catch((e: unknown) => this.#log.debug(`closing the connection: ${(e as Error).message}`));
  }

  peers(): PeerId[] {
    return [...this.#joined.keys()];
  }

  on<K extends keyof TransportEvents>(event: K, listener: (payload: TransportEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /** React to the client's reconnects: what was lost meanwhile is sent again at once. */
  async #watch(nc: NatsConnectionLike): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (this.#nc !== nc) return;
        this.#log.debug(`connection ${s.type}`);
        if (s.type === 'reconnect') {
          void this.#announce(false);
          this.#retransmit(true);
        }
      }
    } catch (error) {
      this.#log.debug(`status stream ended: ${(error as Error).message}`);
    }
  }

  async #announce(bye: boolean): Promise<void> {
    const nc = this.#nc;
    if (!nc || !this.#keys || !this.#subjects || this.#id === null) return;
    // Flags in clear: 1 goodbye (always opened), 2 no links (a newcomer: worth making room for).
    const flags = (bye ? 1 : 0) | (this.#joined.size === 0 ? 2 : 0);
    const sealed = concatBytes([fromHex(this.#session), new Uint8Array([flags]), await this.#announcement(bye)]);
    if (this.#nc !== nc && !bye) return;
    try {
      nc.publish(this.#o.quietAtRest && !bye ? this.#subjects.dial : this.#subjects.hello, sealed);
    } catch (error) {
      // The connection closed for good (the client gave up or was closed under us).
      this.#log.debug(`announcement not sent: ${(error as Error).message}`);
    }
  }

  #announcement(bye: boolean): Promise<Uint8Array> {
    const body = { id: this.#id, s: this.#session, t: this.#started, pk: toBase64(this.#publicKey), n: this.#joined.size, ...(bye ? { bye: true } : {}) };
    return this.#keys!.encrypt(utf8(JSON.stringify(body)));
  }

  async #open(sealed: Uint8Array): Promise<Announcement | null> {
    const plain = await this.#keys?.decrypt(sealed);
    const a = plain && parseJsonObject(plain);
    if (!a || typeof a.id !== 'string' || !ID.test(a.id) || typeof a.s !== 'string' || !SESSION.test(a.s) || typeof a.pk !== 'string') return null;
    if (typeof a.t !== 'number' || !Number.isSafeInteger(a.t) || a.t < 0) return null;
    const pk = fromBase64(a.pk);
    if (!pk || pk.byteLength !== 65) return null;
    return { id: a.id, session: a.s, started: a.t, pk, bye: a.bye === true, lonely: a.n === 0 };
  }

  #onHello(error: Error | null, message: NatsMessage): void {
    if (error) return this.#log.debug(`hello subscription: ${error.message}`);
    const data = message.data;
    if (this.#id === null || data.byteLength <= SESSION_BYTES + 1) return;
    const session = toHex(data.subarray(0, SESSION_BYTES));
    if (session === this.#session) return;
    // A known session announcing again (not saying goodbye, which is checked below): no decryption.
    const known = this.#sessions.get(session);
    const candidate = this.#candidates.get(session);
    // Quiet at rest, a peer whose links and dials fill its bound would only keep a new
    // session as a candidate: not worth a decryption per newcomer of a crowd (it announces
    // again while it has no link).
    if (!known && !candidate && this.#o.quietAtRest && (data[SESSION_BYTES]! & 1) === 0 && this.#joined.size + this.#pendingDials() >= this.#bound) return;
    this.#serial(async () => {
      if (known || candidate) {
        // With a bound, a link is alive only by its own frames: the remote may announce while
        // it no longer holds the link (it refused or gave it up and the `no` was lost).
        if (known && !this.#bounded) known.lastHeard = this.#clock.now();
        if (candidate) {
          candidate.heardAt = this.#clock.now();
          candidate.lonely = (data[SESSION_BYTES]! & 2) !== 0;
          this.#candidates.heard(candidate);
        }
        if (known && !known.joined && !this.#bounded && this.#clock.now() - known.hiAt >= this.#announceMs / 2) await this.#sendHi(known);
        // A repeat costs nothing more unless it could be a goodbye (those are short-lived, and rare).
        if ((data[SESSION_BYTES]! & 1) === 0) {
          if (candidate && !known) this.#consider(candidate);
          return;
        }
      }
      const a = await this.#open(data.subarray(SESSION_BYTES + 1));
      if (!a || a.session !== session) return this.#log.debug('dropped an announcement not sealed with this mesh key');
      if (this.#id === null || a.id === this.#id || !this.#linkable(a.id)) return;
      if (a.bye) {
        const link = this.#sessions.get(a.session);
        this.#retire(a.session);
        this.#candidates.forget(a.session);
        if (link) this.#drop(link, 'said goodbye');
        return;
      }
      if (this.#bounded) {
        if (this.#retired.has(a.session)) return;
        const c: NatsCandidate = { id: a.id, session: a.session, started: a.started, pk: a.pk, heardAt: this.#clock.now(), firstHeard: this.#clock.now(), lonely: a.lonely };
        this.#candidates.heard(c);
        if (!this.#sessions.has(a.session)) this.#consider(c);
        return;
      }
      const link = this.#learn(a);
      if (!link) return;
      link.lastHeard = this.#clock.now();
      // Not joined yet: say hi (again; a lost hi only delays the link), at most once per period.
      if (!link.joined && this.#clock.now() - link.hiAt >= this.#announceMs / 2) await this.#sendHi(link);
    });
  }

  /** Bounded: a candidate was heard; dial it if we have room, or make room for it if the mesh does not know it. */
  #consider(c: NatsCandidate): void {
    if (this.#id === null || this.#joined.has(c.id) || this.#dialing(c.id) || !this.#linkable(c.id)) return;
    if (this.#candidates.isRefused(c.id, this.#clock.now())) return;
    if (this.#joined.size + this.#pendingDials() < this.#bound) {
      this.#dial(c);
      return;
    }
    if (this.#joined.size < this.#bound || !this.#roomFor) return;
    // Room is made only for a peer with no link at all, or one announcing for long without
    // the mesh hearing of it (another island): not for every stranger of a crowd still
    // joining, whose presence has not spread yet (that churn kept a large mesh from settling).
    if (!c.lonely && !this.#longStranger(c)) return;
    if (!this.#candidates.lottery(ROOM_RESPONDERS)) return;
    const victim = this.#roomFor(c.id, c.lonely);
    const link = victim !== undefined && victim !== c.id ? this.#joined.get(victim) : undefined;
    if (!link) return;
    this.#log.debug(`at the bound: giving up the link to ${victim} (reachable through others) to dial ${c.id}, which is not`);
    this.#refuse(link, 'room made for an unreachable peer');
    this.#dial(c);
  }

  /**
   * A candidate announcing for a while: if the mesh still does not know it (the chooser
   * decides), it is in another island, and a link to it joins the two.
   */
  #longStranger(c: NatsCandidate | undefined): boolean {
    return c !== undefined && this.#clock.now() - c.firstHeard >= this.#quietMs;
  }

  /**
   * Bounded: dial candidates while below the bound (dials in progress fill the gap, so we
   * do not over-dial). With a link already, `one` dial at most: a peer short of its bound
   * in a mesh where most are full would otherwise try every candidate each period.
   */
  #fill(one = false): void {
    if (!this.#bounded || this.#id === null) return;
    const now = this.#clock.now();
    let dials = 0;
    while (this.#joined.size + this.#pendingDials() < this.#bound && !(one && this.#joined.size > 0 && dials >= 1)) {
      dials++;
      const c = this.#candidates.pick(now, (x) => x.id === this.#id || this.#joined.has(x.id) || this.#dialing(x.id) || !this.#linkable(x.id));
      if (!c) break;
      this.#dial(c);
    }
    // Still short of links: let others find us sooner.
    if (this.#joined.size < this.#bound) this.#announceSoon();
  }

  #dial(c: NatsCandidate): void {
    const link = this.#learn({ id: c.id, session: c.session, started: c.started, pk: c.pk, bye: false, lonely: c.lonely });
    if (!link || link.joined) return;
    link.dialAt = this.#clock.now();
    link.lastHeard = link.dialAt;
    void this.#sendHi(link).catch((e: unknown) => this.#log.debug(`hi to ${c.id}: ${(e as Error).message}`));
  }

  /** True while we dial `peer` (a session of it not joined yet that we sent hi to). */
  #dialing(peer: PeerId): boolean {
    for (const link of this.#sessions.values()) if (link.remote === peer && !link.joined && link.dialAt >= 0) return true;
    return false;
  }

  #pendingDials(): number {
    let n = 0;
    for (const link of this.#sessions.values()) if (!link.joined && link.dialAt >= 0) n++;
    return n;
  }

  /**
   * Bounded: may `link` join? Yes below the bound, for a newer session of a peer already
   * joined, or — when the mesh names a link to give up for it — for a peer with no link at
   * all or one from another island; the link given up is told `no`.
   */
  #admit(link: Link, lonely: boolean): boolean {
    if (!this.#bounded || this.#joined.has(link.remote) || this.#joined.size < this.#bound) return true;
    if (!lonely && !this.#longStranger(this.#candidates.get(link.session))) return false;
    const victim = this.#roomFor?.(link.remote, lonely);
    const give = victim !== undefined && victim !== link.remote ? this.#joined.get(victim) : undefined;
    if (!give) return false;
    this.#log.debug(`at the bound: giving up the link to ${victim} (reachable through others) for ${link.remote}, which is not`);
    this.#refuse(give, 'room made for an unreachable peer');
    return true;
  }

  /** Say `no` on a link (refused at our bound, or given up) and end it here. */
  #refuse(link: Link, reason: string): void {
    this.#seal(link, FRAME_NO, 0, new Uint8Array(0))
      .then((frame) => this.#publish(link.remote, frame))
      .catch((e: unknown) => this.#log.debug(`no to ${link.remote}: ${(e as Error).message}`));
    this.#drop(link, reason);
  }

  #scheduleAnnounce(): void {
    this.#announceTimer = this.#clock.setTimeout(() => {
      this.#announceTimer = undefined;
      if (this.#id === null) return;
      if (!this.#o.quietAtRest || this.#joined.size < this.#bound) void this.#announce(false);
      this.#announceDelay = Math.min(this.#announceDelay * 2, this.#quietMs);
      this.#scheduleAnnounce();
    }, this.#announceDelay);
  }

  /** Hear announcements; quiet at rest, only while short of the bound, and each one at only one short peer. */
  #listen(): void {
    const nc = this.#nc;
    if (!nc || !this.#subjects) return;
    const want = !(this.#o.quietAtRest && this.#joined.size >= this.#bound);
    const callback = (error: Error | null, m: NatsMessage): void => this.#onHello(error, m);
    if (want && !this.#hello) this.#hello = this.#o.quietAtRest ? nc.subscribe(this.#subjects.dial, { queue: 'dial', callback }) : nc.subscribe(this.#subjects.hello, { callback });
    else if (!want && this.#hello) {
      this.#hello.unsubscribe();
      this.#hello = null;
    }
  }

  /** Back to announcing every `announceMs` (we are short of links). */
  #announceSoon(): void {
    if (!this.#bounded || this.#id === null || this.#announceDelay <= this.#announceMs) return;
    // Quiet at rest, a peer with a link backs off: its announcements reach one peer each anyway.
    if (this.#o.quietAtRest && this.#joined.size > 0) return;
    this.#announceDelay = this.#announceMs;
    if (this.#announceTimer !== undefined) this.#clock.clearTimeout(this.#announceTimer);
    this.#scheduleAnnounce();
  }

  #onFrame(error: Error | null, message: NatsMessage): void {
    if (error) return this.#log.debug(`inbox subscription: ${error.message}`);
    const frame = message.data;
    this.#serial(async () => {
      if (this.#id === null || frame.byteLength < HEADER) return;
      const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
      const type = frame[0]!;
      const from = toHex(frame.subarray(1, 17));
      const session = toHex(frame.subarray(17, 25));
      if (toHex(frame.subarray(25, 33)) !== this.#session || !this.#linkable(from)) return;
      const seq = view.getUint32(33) * 2 ** 32 + view.getUint32(37);
      if (type === FRAME_HI) {
        const a = await this.#open(frame.subarray(HEADER));
        if (!a || a.id !== from || a.session !== session || a.bye) return this.#log.debug(`dropped a hi from ${from}`);
        const link = this.#learn(a);
        if (!link) return;
        link.lastHeard = this.#clock.now();
        await link.key;
        if (link.closed) return;
        if (this.#bounded) {
          const now = this.#clock.now();
          this.#candidates.heard({ id: a.id, session: a.session, started: a.started, pk: a.pk, heardAt: now, firstHeard: this.#candidates.get(a.session)?.firstHeard ?? now, lonely: a.lonely });
        }
        if (!this.#tryJoin(link, a.lonely)) return;
        this.#sendAck(link);
        return;
      }
      const link = this.#sessions.get(session) ?? (type !== FRAME_NO ? this.#stale(session, from) : undefined);
      if (!link || link.remote !== from || link.closed) return;
      const body = await this.#unseal(link, frame);
      if (body && link.dialAt === -2 && !link.joined) {
        // Frames on a link we do not hold (our `no` was lost, or crossed its ack): say it again.
        this.#refuse(link, 'frames on a link we do not hold');
        return;
      }
      if (!body || link.closed) return this.#log.debug(`dropped a frame from ${from} that does not open with the pair key`);
      link.lastHeard = this.#clock.now();
      if (type === FRAME_NO) {
        // Refused at its bound (or a link it gave up): keep away for a while, try someone else.
        this.#candidates.refused(from, this.#clock.now() + REFUSED_BACKOFF_MS);
        this.#drop(link, 'refused by the remote');
        this.#fill();
        return;
      }
      if (!this.#tryJoin(link)) return;
      if (type === FRAME_ACK) {
        this.#acked(link, seq);
        return;
      }
      if (type === FRAME_NACK) {
        // The remote saw a gap: what followed the loss was dropped there, send it all again.
        this.#acked(link, seq);
        this.#goBack(link);
        return;
      }
      if (type !== FRAME_MSG) return;
      if (seq !== link.delivered + 1) {
        // A repeat: acknowledge what we have. A gap after a loss: say so, the sender goes
        // back. Once for a burst of them, not once per frame.
        const gap = seq > link.delivered + 1;
        if (!link.gapAck) {
          link.gapAck = true;
          this.#clock.setTimeout(() => {
            link.gapAck = false;
            this.#sendAck(link, gap ? FRAME_NACK : FRAME_ACK);
          }, ACK_DELAY_MS);
        }
        return;
      }
      link.delivered = seq;
      if (this.#joined.get(from) === link) this.#events.emit('message', { from, data: body });
      if (++link.unackedIn >= ACK_EVERY) this.#sendAck(link);
      else if (!link.ackTimer) {
        link.ackTimer = true;
        this.#clock.setTimeout(() => {
          link.ackTimer = false;
          if (link.unackedIn > 0) this.#sendAck(link);
        }, ACK_DELAY_MS);
      }
    });
  }

  /** Incoming work runs one item at a time, so frames of one sender keep their order. */
  #serial(step: () => Promise<void>): void {
    this.#incoming = this.#incoming.then(step).catch((error: unknown) => this.#log.warn(`dropped an incoming message: ${(error as Error).message}`));
  }

  #linkable(remote: PeerId): boolean {
    return this.#id !== null && (this.#o.links?.(this.#id, remote) ?? true);
  }

  /** The link of an announced session, made on first sight; null for a retired session. */
  #learn(a: Announcement): Link | null {
    if (this.#retired.has(a.session)) return null;
    const known = this.#sessions.get(a.session);
    if (known) return known.remote === a.id ? known : null;
    const link: Link = {
      remote: a.id, session: a.session, started: a.started, key: this.#pairKey(a), joined: false, lastHeard: this.#clock.now(), hiAt: -Infinity, dialAt: -1,
      nextSeq: 1, unacked: [], rto: this.#retransmitMs, srtt: 0, gapAck: false, goBackAt: -Infinity, waiters: [], chain: Promise.resolve(), delivered: 0, unackedIn: 0, ackTimer: false, closed: false,
    };
    link.key.catch(() => {});
    this.#sessions.set(a.session, link);
    return link;
  }

  async #pairKey(a: Announcement): Promise<CryptoKey> {
    const remote = await crypto.subtle.importKey('raw', plainBytes(a.pk), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
    const shared = await crypto.subtle.deriveBits({ name: 'ECDH', public: remote }, this.#ecdh!.privateKey, 256);
    const hkdf = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
    const ends = [`${this.#id}:${this.#session}`, `${a.id}:${a.session}`].sort().join('|');
    return crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: plainBytes(utf8(this.#keys!.topic)), info: plainBytes(utf8(`liquidmesh-nats-link\u0000${ends}`)) },
      hkdf,
      { name: 'AES-GCM', length: 256 },
      false,
      ['encrypt', 'decrypt'],
    );
  }

  /**
   * Bounded: a link for frames of a session we hold no link with but know from its
   * announcements, made only to tell it `no` (marked by `dialAt` -2).
   */
  #stale(session: string, from: PeerId): Link | undefined {
    const c = this.#bounded ? this.#candidates.get(session) : undefined;
    if (!c || c.id !== from) return undefined;
    const link = this.#learn({ id: c.id, session: c.session, started: c.started, pk: c.pk, bye: false, lonely: c.lonely });
    if (link) link.dialAt = -2;
    return link ?? undefined;
  }

  /** Join `link` unless the bound refuses it (then the remote is told `no`); true when joined. */
  #tryJoin(link: Link, lonely = false): boolean {
    if (link.joined) return true;
    if (!this.#admit(link, lonely)) {
      this.#refuse(link, 'refused at our bound');
      return false;
    }
    this.#join(link);
    return link.joined;
  }

  #join(link: Link): void {
    if (link.joined || link.closed || this.#id === null) return;
    const older = this.#joined.get(link.remote);
    // A session that began before the joined one is a replay or a straggler, never current.
    if (older && older !== link && older.started > link.started) return;
    if (older && older !== link) {
      // The peer came back as a new session that proved itself: the old one is over.
      this.#retire(older.session);
      this.#drop(older, 'replaced by a newer session');
    }
    link.joined = true;
    this.#joined.set(link.remote, link);
    this.#listen();
    this.#events.emit('peer-joined', link.remote);
  }

  async #sendHi(link: Link): Promise<void> {
    link.hiAt = this.#clock.now();
    const body = await this.#announcement(false);
    this.#publish(link.remote, concatBytes([this.#header(FRAME_HI, link, 0), body]));
  }

  #sendAck(link: Link, type = FRAME_ACK): void {
    link.unackedIn = 0;
    // An ack timer may fire after disconnect: nothing to seal it with any more.
    if (this.#id === null) return;
    const seq = link.delivered;
    // Not behind our pending sends: those may wait for the remote's acks (a full window),
    // and the remote's sends for ours.
    this.#seal(link, type, seq, new Uint8Array(0))
      .then((frame) => !link.closed && this.#publish(link.remote, frame))
      .catch((e: unknown) => this.#log.debug(`ack to ${link.remote}: ${(e as Error).message}`));
  }

  #acked(link: Link, seq: number): void {
    let n = 0;
    while (n < link.unacked.length && link.unacked[n]!.seq <= seq) n++;
    if (n === 0) return;
    const last = link.unacked[n - 1]!;
    if (!last.again) {
      // Acks come later on a busy machine: wait what this link's round trips take, not a constant.
      const sample = this.#clock.now() - last.sentAt;
      link.srtt = link.srtt === 0 ? sample : link.srtt * 0.875 + sample * 0.125;
    }
    link.unacked.splice(0, n);
    link.rto = Math.min(MAX_RTO_MS, Math.max(this.#retransmitMs, 4 * link.srtt));
    for (const wake of link.waiters.splice(0)) wake();
  }

  /**
   * Send unacknowledged frames again. When `now` (our connection came back: what was in
   * flight is likely lost) all of them; else, on links whose oldest is overdue, only that
   * one: an ack that is late because the receiver is busy (a loaded machine) is far more
   * common than a loss, and repeating a whole window to a busy receiver buries it. A real
   * loss shows as a gap at the receiver, which answers with a nack (then all go again).
   */
  #retransmit(now: boolean): void {
    const t = this.#clock.now();
    for (const link of this.#joined.values()) {
      const oldest = link.unacked[0];
      if (!oldest) continue;
      if (now) {
        this.#goBack(link, true);
        continue;
      }
      if (t - oldest.sentAt < link.rto) continue;
      link.rto = Math.min(link.rto * 2, MAX_RTO_MS);
      oldest.sentAt = t;
      oldest.again = true;
      this.#publish(link.remote, oldest.frame);
    }
  }

  /** Go-back-N: every unacknowledged frame again (at most twice per `retransmitMs` unless forced). */
  #goBack(link: Link, force = false): void {
    const t = this.#clock.now();
    if (!force && t - link.goBackAt < this.#retransmitMs / 2) return;
    link.goBackAt = t;
    for (const sent of link.unacked) {
      sent.sentAt = t;
      sent.again = true;
      this.#publish(link.remote, sent.frame);
    }
  }

  #tick(): void {
    const now = this.#clock.now();
    if (!this.#bounded) {
      void this.#announce(false);
      for (const link of [...this.#sessions.values()]) {
        if (now - link.lastHeard > this.#timeoutMs) this.#drop(link, `silent for ${this.#timeoutMs} ms`);
      }
      return;
    }
    // A dial unanswered after a few hellos is given up sooner than a link falls silent.
    const dialTimeout = Math.min(this.#timeoutMs, 4 * this.#announceMs);
    for (const link of [...this.#sessions.values()]) {
      if (now - link.lastHeard > (link.joined ? this.#timeoutMs : dialTimeout)) {
        // A dial nobody answered: that session is gone (or unreachable); try someone else.
        if (!link.joined) this.#candidates.forget(link.session);
        this.#drop(link, `silent for ${this.#timeoutMs} ms`);
      } else if (link.joined) {
        // Announcements are rare at rest: the link keeps itself alive.
        this.#sendAck(link);
      } else if (link.dialAt >= 0 && now - link.hiAt >= this.#announceMs) {
        void this.#sendHi(link).catch((e: unknown) => this.#log.debug(`hi to ${link.remote}: ${(e as Error).message}`));
      }
    }
    // A candidate announces at least every quietAnnounceMs while it lives.
    this.#candidates.expire(now - 3 * this.#quietMs);
    this.#fill(true);
  }

  #header(type: number, link: Link, seq: number): Uint8Array {
    const h = new Uint8Array(HEADER);
    const view = new DataView(h.buffer);
    h[0] = type;
    h.set(fromHex(this.#id!), 1);
    h.set(fromHex(this.#session), 17);
    h.set(fromHex(link.session), 25);
    view.setUint32(33, Math.floor(seq / 2 ** 32));
    view.setUint32(37, seq >>> 0);
    return h;
  }

  async #seal(link: Link, type: number, seq: number, body: Uint8Array): Promise<Uint8Array> {
    const header = this.#header(type, link, seq);
    const iv = randomBytes(12);
    const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: plainBytes(iv), additionalData: plainBytes(header) }, await link.key, plainBytes(body));
    return concatBytes([header, iv, new Uint8Array(sealed)]);
  }

  async #unseal(link: Link, frame: Uint8Array): Promise<Uint8Array | null> {
    if (frame.byteLength < HEADER + 12 + 16) return null;
    try {
      const key = await link.key;
      const plain = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: plainBytes(frame.slice(HEADER, HEADER + 12)), additionalData: plainBytes(frame.slice(0, HEADER)) },
        key,
        plainBytes(frame.slice(HEADER + 12)),
      );
      return new Uint8Array(plain);
    } catch {
      // Not sealed with this pair's key: forged, corrupted, or meant for another session.
      return null;
    }
  }

  #publish(to: PeerId, frame: Uint8Array): void {
    const nc = this.#nc;
    if (!nc || !this.#subjects) return;
    try {
      nc.publish(this.#subjects.inbox(to), frame);
    } catch (error) {
      // A closed or draining connection: retransmission covers it if it comes back.
      this.#log.debug(`publish to ${to}: ${(error as Error).message}`);
    }
  }

  #close(link: Link): void {
    link.closed = true;
    link.unacked.length = 0;
    for (const wake of link.waiters.splice(0)) wake();
  }

  #drop(link: Link, reason: string): void {
    if (this.#sessions.get(link.session) !== link) return;
    this.#sessions.delete(link.session);
    this.#close(link);
    this.#log.debug(`link to ${link.remote} (${link.session}) ended: ${reason}`);
    if (this.#joined.get(link.remote) === link) {
      this.#joined.delete(link.remote);
      this.#listen();
      if (this.#id !== null) this.#events.emit('peer-left', link.remote);
      if (this.#bounded && this.#id !== null) {
        this.#announceSoon();
        // Not at once: a link given up to make room is followed by the dial it made room for.
        this.#clock.setTimeout(() => this.#fill(), 0);
      }
    }
  }

  #retire(session: string): void {
    this.#retired.add(session);
    if (this.#retired.size > MAX_RETIRED) this.#retired.delete(this.#retired.values().next().value!);
  }
}

