/**
 * The WebRTC transport: PeerJS data connections between peers, found through encrypted
 * announcements on the signaling server's y-webrtc pub/sub topics. One reliable data
 * channel per pair carries everything — registry sync, presence, RPC, blobs (see ADR 0008).
 *
 * - Discovery: each peer subscribes to its mesh's topic (derived from the mesh name and
 *   secret) and publishes `{id, pj}` sealed with the mesh key; the lower id dials.
 * - Admission: the first frame each way is an HMAC proof of the mesh secret bound to both
 *   ends; a connection whose proof fails is closed before anything is delivered.
 * - Liveness: a keepalive every `heartbeatMs` when idle while a link is young or was just
 *   probed, every `restMs` once it settled (a rest ping, which tells the other end to allow
 *   that much more silence); a connection silent for longer than its timeout is closed and
 *   its peer reported gone (a killed tab or process never says goodbye). The timeout adapts
 *   to each link's own rhythm between `timeoutMs` and `maxTimeoutMs`, and a stall of this
 *   process is never blamed on the remote (see link-liveness.ts). Each peer leaves a sealed
 *   will with the signaling server (`{type: 'will'}`, published to the mesh's topic when its
 *   socket closes without a goodbye, as a killed process's socket does at once): the will
 *   makes that peer's links suspect and probes them; a living remote answers at its next
 *   check, and a suspect link that stays silent for two of its usual gaps after the probe
 *   is closed. Failover within about a second, without a short floor that would drop a
 *   living peer whose main thread is busy, and with one keepalive every two seconds per
 *   idle link. Links vouch for presence (`closesSilentLinks`): a peer's unchanged heartbeat
 *   crosses a link only where the other end passes it on (ADR 0032, fourth amendment).
 * - Backpressure: `send` waits while the channel's buffer is above a high-water mark;
 *   once one send waits, later ones queue behind it, so messages leave in call order.
 * - Never a public server: ICE servers default to none, signaling is explicit.
 * - Bound: `maxConnections` caps the connections per peer (large sites; see ADR 0023).
 *   Dials in progress do not count against it when accepting; a peer at its bound
 *   answers a dial with a refusal frame (not silence), and the dialler tries another peer.
 *
 * Over 400 lines because discovery, admission, liveness, backpressure and the bound act
 * on the same per-connection state; apart, each would need the others' bookkeeping.
 * @module
 */
import * as peerjs from 'peerjs';
import type { DataConnection, Peer } from 'peerjs';
import { utf8 } from '../bytes.ts';
import { DuplicatePeerError, NotConnectedError, PayloadTooLargeError, PeerUnreachableError } from '../errors.ts';
import { Emitter, type Unsubscribe } from '../events.ts';
import { createLogger, type Logger } from '../log.ts';
import { type Clock, type TimerHandle } from '../ports/clock.ts';
import type { PeerId, Transport, TransportEvents } from '../ports/transport.ts';
import { SystemClock } from '../system-clock.ts';
import { type KeepaliveOptions, LinkChecks, LinkKeepalive, LinkSilence, type LivenessOptions } from './link-liveness.ts';
import { SendQueue } from './send-queue.ts';
import { deriveMeshKeys, fromBase64, type MeshKeys, parseJsonObject, toBase64 } from './mesh-secret.ts';

/** An ICE server entry (as RTCPeerConnection takes it). */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** Options of a {@link WebRtcTransport}. */
export interface WebRtcTransportOptions {
  /** The signaling server, e.g. `http://127.0.0.1:4444` (y-webrtc at /signal, PeerJS at /peerjs). */
  signalUrl: string;
  /** Mesh name. */
  mesh: string;
  /** Mesh secret; peers with another secret cannot find or join this mesh. */
  secret?: string;
  /** ICE servers (default none: only host candidates; never a public STUN/TURN server). */
  iceServers?: IceServer[];
  /** Largest message `send` accepts (default 64 KiB: below every data channel's limit). */
  maxMessageSize?: number;
  /** Keepalive period when idle, while a link is young or was just probed (default 250 ms). */
  heartbeatMs?: number;
  /** Keepalive period when idle once a link settled (default 1000 ms; the silence allowed grows by the difference). */
  restMs?: number;
  /** A link sends keepalives every `heartbeatMs` for this long after it joined or was probed (default 5000 ms). */
  settleMs?: number;
  /**
   * A connection is closed after this much silence at the least (default
   * {@link DEFAULT_SILENCE_FLOOR_MS}): more when its frames usually come further apart
   * (three of its usual gaps).
   */
  timeoutMs?: number;
  /** ...and at the most this much (default 5000 ms). */
  maxTimeoutMs?: number;
  /** Re-announce period on the signaling topic (default 3000 ms; at rest it backs off to 5×). */
  announceMs?: number;
  /**
   * Extra RTCPeerConnection configuration for the platform's implementation, e.g.
   * node-datachannel's `bindAddress` (ignored by browsers).
   */
  rtcConfig?: Record<string, unknown>;
  /** PeerJS's own log level (0 = silent … 3 = everything), for debugging signaling. */
  peerJsDebug?: 0 | 1 | 2 | 3;
  /** Which pairs may connect (default all); lets tests build other topologies. */
  links?: (a: PeerId, b: PeerId) => boolean;
  /**
   * Most data connections this peer holds (default no bound). Browsers cap
   * RTCPeerConnections and each costs a DTLS session: in a large site, give peers the
   * NATS backbone too and bound this; peers beyond it reach each other there (ADR 0023).
   * Links that joined never exceed it. Dials in progress count only against dialling
   * more (a dial that comes through once the bound is full is dropped), so with them a
   * peer holds at most twice this many connections for a moment. A peer at the bound accepts no
   * connection: it answers with a refusal, and the dialler waits 10 s before dialling
   * that peer again and dials another one it has heard meanwhile.
   */
  maxConnections?: number;
  /** Random source of the bound's lottery (who makes room for a lonely peer; seeded in tests). */
  random?: () => number;
  clock?: Clock;
  logger?: Logger;
}

// Bundlers see peerjs's ES build (named `Peer`); Node loads its CommonJS build, whose
// exports arrive under `default`.
const PeerClass: typeof Peer = ((peerjs as unknown as { Peer?: typeof Peer }).Peer ??
  (peerjs as unknown as { default: { Peer?: typeof Peer } }).default.Peer ??
  (peerjs as unknown as { default: typeof Peer }).default) as typeof Peer;

/** At rest, announcements back off to this many times `announceMs`. */
const QUIET_ANNOUNCE_FACTOR = 5;
const FRAME_DATA = 0;
const FRAME_PING = 1;
const FRAME_PROOF = 2;
/** "No": this peer is at its bound (sent instead of a proof, then the connection closes). */
const FRAME_REFUSE = 3;
/** "I am at rest": a ping after which the next frame may take `restMs` (see LinkSilence). */
const FRAME_REST_PING = 4;
/** "Are you there?" (your will reached us): answered with a ping at the remote's next check. */
const FRAME_PROBE = 5;
/** A refused connection is closed this long after the refusal is sent, so that it arrives. */
const REFUSE_LINGER_MS = 1000;
/**
 * The most a remote's messages may hold while its proof is being checked (they wait for the
 * join, see `Link.early`); more ends the link. A member sends only once it joined, which is
 * after its proof left, so this is what it can send in the time a check takes.
 */
const MAX_EARLY_BYTES = 8 * 1024 * 1024;
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const DIAL_TIMEOUT_MS = 10_000;
/**
 * A connection whose channel has not opened after this much of our own running time is
 * given up (see `Link.openBy`). A longer wait (30 s) was tried for crowded sites, where a
 * dial reached the dialled peer after 10 s at the median: the transport suite then failed,
 * because a dial that hangs on a quiet machine too is rescued by the retry after 10 s.
 */
const OPEN_TIMEOUT_MS = DIAL_TIMEOUT_MS;
const REFUSED_BACKOFF_MS = 10_000;
/** A dial that failed before opening is made again after about this long (0.5–1.5×)… */
const QUICK_REDIAL_MS = 200;
/** …at most this many times in a row. */
const QUICK_REDIALS = 3;
/** About this many peers at their bound answer the announcement of a peer that needs room (ADR 0029). */
const ROOM_RESPONDERS = 2;
/** A peer heard announcing this many announcement periods without a link to us is a stranger: maybe another island. */
const STRANGER_PERIODS = 5;
/** Most announcers remembered (the lottery counts them; a site has far fewer). */
const MAX_ANNOUNCERS = 4096;
/**
 * Announcements (and wills) opened before, kept by their sealed text, at most this many: each
 * peer re-announces the same sealed bytes while what it says is unchanged, so at rest a
 * repeat costs a lookup instead of a decryption (AES-GCM authenticates the first; the same
 * bytes always open to the same words, and replaying them was possible before).
 */
const MAX_OPENED = 1024;
/** Our own sealed announcements kept by their words, at most this many (one per peer a directed one names). */
const MAX_SEALED = 64;
const DEFAULT_HEARTBEAT_MS = 250;
/**
 * Keepalives at rest: one every two seconds per idle link instead of four a second. Each
 * costs a native send through SCTP and DTLS and a wake-up at both ends; in a full mesh of
 * twenty they were most of what an idle peer did (ADR 0032). The margin for a stall of the
 * remote stays the floor less a quick heartbeat (see LinkSilence); only a death that leaves
 * no will is noticed later at rest (up to 4.75 s instead of 3.25 s; ADR 0032).
 */
const DEFAULT_REST_MS = 2000;
/** Quick keepalives this long after a link joins: both ends are busiest then (registry sync, first calls). */
const DEFAULT_SETTLE_MS = 5000;
/**
 * The least silence that ends a link. Keepalives come from the main thread, so a remote
 * whose main thread stalls (a page compiling a large module or loading a 10 MiB model on
 * a busy two-core machine) falls silent for over a second while alive: a 1 s floor caused
 * false departures there. 2.5 s keeps failover near 3 s without them (ADR 0032).
 */
const DEFAULT_SILENCE_FLOOR_MS = 2500;

interface Link {
  remote: PeerId;
  conn: DataConnection;
  open: boolean;
  proven: boolean;
  /**
   * Our proof on its way out: settles once it is on the channel. Null until we start it (again
   * after a second open). The join waits for it, so nothing we send can go before it.
   */
  proofSent: Promise<void> | null;
  joined: boolean;
  /** How long it has been silent, and how long it may be. */
  silence: LinkSilence;
  /** When our keepalives leave. */
  keepalive: LinkKeepalive;
  dialing: boolean;
  /**
   * A connection whose channel has not opened by then is given up: the dialler's dial timed
   * out, or (accepted) its dialler gave up, which nothing tells us. Pushed back by our own
   * stalls: in a crowd on two cores a process may not run for many seconds, and its timers
   * then fire before the channel events that came meanwhile (ADR 0029).
   */
  openBy: number;
  /** Accepted only to say no (we are at our bound): never joins, closes after the refusal. */
  refusing?: boolean;
  /** Ordered, backpressured sends once the channel is open. */
  queue: SendQueue | null;
  /**
   * The remote's messages that came after its proof while we were still checking it: the
   * remote joins as soon as it checked ours, and its first messages can overtake our check.
   * Delivered, in order, when we join; dropped with the link when the proof fails. Null
   * until its proof arrives.
   */
  early: Uint8Array[] | null;
  earlyBytes: number;
}

/** {@link Transport} over PeerJS data connections. */
export class WebRtcTransport implements Transport {
  readonly kind = 'webrtc';
  readonly maxMessageSize: number;
  /** A link closes itself when silent (keepalives, see link-liveness.ts): it vouches for its peer's presence. */
  readonly closesSilentLinks = true;
  readonly #o: WebRtcTransportOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: Emitter<TransportEvents>;
  readonly #links = new Map<PeerId, Link>();
  #keys: MeshKeys | null = null;
  #id: PeerId | null = null;
  #pj: Peer | null = null;
  #ws: WebSocket | null = null;
  #stopTimers: (() => void)[] = [];
  /** The checks of the links (keepalives, silences, dial deadlines); null until connected. */
  #checks: LinkChecks | null = null;
  readonly #liveness: LivenessOptions;
  readonly #keepaliveOptions: KeepaliveOptions;
  readonly #phase: number;
  #lastAnnounceTo = new Map<PeerId, number>();
  /** Go back to announcing every `announceMs` (the mesh changed). */
  #announceSoon: () => void = () => undefined;
  /** Chooses a link to give up for an unreachable peer when at the bound (see makeRoomWith). */
  #roomFor: ((remote: PeerId, cutOff?: boolean) => PeerId | undefined) | undefined;
  /** Peers whose connection ended before it joined (refused at their bound), and until when not to dial them. */
  #backoff = new Map<PeerId, number>();
  /** Dials made again in a row after failing before opening, per remote (see #redialSoon). */
  #quickRedials = new Map<PeerId, number>();
  /** Peers heard announcing that we may dial (higher ids), so a refused dial can try another at once. */
  #heard = new Set<PeerId>();
  /**
   * Every peer heard announcing while not linked to us: since when (reset when a link to it
   * ends), and whether its last announcement said it has no link at all.
   */
  #announcers = new Map<PeerId, { since: number; lonely: boolean }>();
  /** Connections accepted only to refuse them. */
  #refusing = new Set<Link>();
  #refusals = 0;
  #roomsMade = 0;
  /** Announcements opened, by sealed text (see MAX_OPENED); cleared with new keys. */
  readonly #opened = new Map<string, Uint8Array>();
  /** Our announcements sealed, by their words (see MAX_SEALED); cleared with new keys. */
  readonly #sealed = new Map<string, string>();
  #closed = false;

  constructor(options: WebRtcTransportOptions) {
    this.#o = options;
    this.maxMessageSize = options.maxMessageSize ?? 64 * 1024;
    this.#clock = options.clock ?? new SystemClock();
    this.#log = options.logger ?? createLogger('webrtc');
    this.#events = new Emitter((e) => this.#log.error('transport listener failed', e));
    const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    const restMs = Math.max(heartbeatMs, options.restMs ?? DEFAULT_REST_MS);
    this.#liveness = { heartbeatMs, restMs, floorMs: options.timeoutMs ?? DEFAULT_SILENCE_FLOOR_MS, ceilingMs: Math.max(options.timeoutMs ?? DEFAULT_SILENCE_FLOOR_MS, options.maxTimeoutMs ?? 5000) };
    // The system clock counts from this process's start: its origin makes it wall time, which
    // every peer shares, so that all of them ping and check their links in the same instants.
    this.#phase = options.clock ? 0 : performance.timeOrigin;
    this.#keepaliveOptions = { heartbeatMs, restMs, settleMs: options.settleMs ?? DEFAULT_SETTLE_MS, phase: this.#phase };
  }

  /** Links given up to make room for a peer the mesh could not reach (diagnostics: churn in a crowded site shows here). */
  get roomsMade(): number {
    return this.#roomsMade;
  }

  /** Dials of ours that a peer at its bound refused (diagnostics: a crowded site shows here). */
  get refusals(): number {
    return this.#refusals;
  }

  /** Open RTCPeerConnections held by this transport (a kiosk must not accumulate them). */
  get connectionCount(): number {
    return this.#links.size;
  }

  async connect(localId: PeerId): Promise<void> {
    if (this.#id !== null) return;
    this.#closed = false;
    this.#keys = await deriveMeshKeys(this.#o.mesh, this.#o.secret ?? '');
    this.#opened.clear();
    this.#sealed.clear();
    const url = new URL(this.#o.signalUrl);
    const id = `lm-${this.#keys.tag}-${localId}`;
    // A restarted peer may find its id still held by its previous life until the server
    // notices that socket closed: retry for a while before calling it a duplicate.
    for (let attempt = 0; ; attempt++) {
      try {
        this.#pj = await this.#openPeerJs(id, url);
        break;
      } catch (error) {
        if (!(error instanceof DuplicatePeerError) || attempt >= 15) throw error;
        await new Promise<void>((r) => this.#clock.setTimeout(r, 200));
      }
    }
    this.#id = localId;
    const pj = this.#pj!;
    pj.on('connection', (conn) => this.#accept(conn));
    pj.on('disconnected', () => {
      // Lost the signaling server: existing data channels live on; reconnect to be dialable.
      if (!this.#closed) this.#clock.setTimeout(() => this.#pj?.disconnected && !this.#closed && this.#pj.reconnect(), 1000);
    });
    pj.on('error', (err: Error & { type?: string }) => this.#log.debug(`${short(localId)}: peerjs: ${err.type ?? ''} ${err.message}`));
    this.#openDiscovery(url);
    // Checked twice per heartbeat: a keepalive leaves at most a quarter period late, and a
    // silence is noticed at most half a period after it became too long. While every link
    // rests, every quarter of the rest period: a slot's first check still falls on its start.
    const check = Math.max(10, Math.floor(this.#liveness.heartbeatMs / 2));
    const checks = new LinkChecks(this.#clock, { quickMs: check, restMs: Math.max(check, Math.floor(this.#liveness.restMs / 4)), phase: this.#phase }, (stalled) => this.#keepalive(stalled), () => this.#resting());
    this.#checks = checks;
    this.#stopTimers.push(() => checks.stop(), this.#announcing());
  }

  async send(to: PeerId, data: Uint8Array): Promise<void> {
    if (this.#id === null) throw new NotConnectedError('transport is not connected');
    if (data.byteLength > this.maxMessageSize) throw new PayloadTooLargeError(`message of ${data.byteLength} bytes exceeds ${this.maxMessageSize}`);
    const link = this.#links.get(to);
    if (!link || !link.joined) throw new PeerUnreachableError(`peer ${to} is not reachable`);
    const frame = new Uint8Array(data.byteLength + 1);
    frame[0] = FRAME_DATA;
    frame.set(data, 1);
    if (!link.queue) {
      this.#writeFrame(link, frame);
      return;
    }
    return link.queue.send(frame);
  }

  /** One byte: the frame kind. */
  readonly headroom = 1;

  async sendFramed(to: PeerId, frame: Uint8Array): Promise<void> {
    if (this.#id === null) throw new NotConnectedError('transport is not connected');
    if (frame.byteLength - 1 > this.maxMessageSize) throw new PayloadTooLargeError(`message of ${frame.byteLength - 1} bytes exceeds ${this.maxMessageSize}`);
    const link = this.#links.get(to);
    if (!link || !link.joined) throw new PeerUnreachableError(`peer ${to} is not reachable`);
    frame[0] = FRAME_DATA;
    if (!link.queue) {
      this.#writeFrame(link, frame);
      return;
    }
    return link.queue.send(frame);
  }

  async disconnect(): Promise<void> {
    if (this.#closed && this.#id === null) return;
    this.#closed = true;
    this.#id = null;
    // A goodbye, not a death: the links close below, so no will is needed.
    if (this.#ws?.readyState === 1 && this.#keys) this.#ws.send(JSON.stringify({ type: 'will', topic: this.#keys.topic }));
    for (const stop of this.#stopTimers.splice(0)) stop();
    this.#events.clear();
    for (const link of [...this.#links.values()]) {
      link.joined = false;
      link.queue?.close(new PeerUnreachableError(`peer ${link.remote}: the transport disconnected`));
      link.conn.close();
    }
    this.#links.clear();
    this.#announcers.clear();
    this.#quickRedials.clear();
    for (const link of this.#refusing) link.conn.close();
    this.#refusing.clear();
    this.#ws?.close();
    this.#ws = null;
    this.#pj?.destroy();
    this.#pj = null;
  }

  peers(): PeerId[] {
    return [...this.#links.values()].filter((l) => l.joined).map((l) => l.remote);
  }

  on<K extends keyof TransportEvents>(event: K, listener: (payload: TransportEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  #openPeerJs(id: string, url: URL): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const pj = new PeerClass(id, {
        host: url.hostname,
        port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
        path: '/peerjs/',
        secure: url.protocol === 'https:',
        key: 'peerjs',
        config: { ...this.#o.rtcConfig, iceServers: this.#o.iceServers ?? [] },
        debug: this.#o.peerJsDebug ?? 0,
      });
      const onError = (err: Error & { type?: string }): void => {
        pj.destroy();
        reject(err.type === 'unavailable-id' ? new DuplicatePeerError(`peer id ${id} is already connected to the signaling server`) : new NotConnectedError(`signaling: ${err.message}`));
      };
      pj.once('error', onError);
      pj.once('open', () => {
        pj.off('error', onError);
        resolve(pj);
      });
    });
  }

  #openDiscovery(url: URL): void {
    if (this.#closed) return;
    const ws = new WebSocket(`${url.protocol === 'https:' ? 'wss' : 'ws'}://${url.host}/signal`);
    this.#ws = ws;
    const keys = this.#keys!;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'subscribe', topics: [keys.topic] }));
      void this.#announce();
      void this.#leaveWill(ws);
    };
    ws.onmessage = (event: MessageEvent) => void this.#onSignal(String(event.data));
    ws.onclose = () => {
      if (this.#ws === ws && !this.#closed) this.#clock.setTimeout(() => this.#openDiscovery(url), 1000);
    };
    ws.onerror = () => this.#log.debug('signaling socket error');
  }

  async #announce(to?: PeerId): Promise<void> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== 1 || this.#id === null || !this.#keys) return;
    // `lonely`: under a bound, we hold no link at all, so peers at their bound make room for us (ADR 0029).
    const lonely = this.#o.maxConnections !== undefined && !this.#hasJoined();
    const keys = this.#keys;
    const words = JSON.stringify({ id: this.#id, ...(to ? { to } : {}), ...(lonely ? { lonely: true } : {}) });
    let data = this.#sealed.get(words);
    if (data === undefined) {
      data = toBase64(await keys.encrypt(utf8(words)));
      if (keys !== this.#keys) return;
      if (this.#sealed.size >= MAX_SEALED) this.#sealed.clear();
      this.#sealed.set(words, data);
    }
    if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'publish', topic: keys.topic, data }));
  }

  /**
   * Deposit our will: published by the server to the mesh's topic if this socket closes
   * without our unsubscribing, i.e. when this process dies. Sealed like an announcement,
   * so the server can neither read nor forge it.
   */
  async #leaveWill(ws: WebSocket): Promise<void> {
    if (this.#id === null || !this.#keys) return;
    const sealed = await this.#keys.encrypt(utf8(JSON.stringify({ id: this.#id, gone: true })));
    if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'will', topic: this.#keys.topic, data: toBase64(sealed) }));
  }

  async #onSignal(text: string): Promise<void> {
    const keys = this.#keys;
    const message = parseJsonObject(utf8(text));
    if (!keys || !message || message.type !== 'publish' || message.topic !== keys.topic || typeof message.data !== 'string') return;
    let plain = this.#opened.get(message.data);
    if (plain === undefined) {
      const sealed = fromBase64(message.data);
      const opened = sealed && (await keys.decrypt(sealed));
      if (!opened) return;
      plain = opened;
      // Only announcement-sized texts are kept: the cache stays under MAX_OPENED × 1 KiB.
      if (keys === this.#keys && message.data.length <= 1024) {
        if (this.#opened.size >= MAX_OPENED) this.#opened.delete(this.#opened.keys().next().value!);
        this.#opened.set(message.data, plain);
      }
    }
    const announce = parseJsonObject(plain);
    const remote = announce?.id;
    if (typeof remote !== 'string' || !/^[0-9a-f]{32}$/.test(remote) || remote === this.#id || this.#id === null) return;
    if (announce?.gone === true) {
      // A will: its signaling socket closed. Only a hint (it may have lost only the
      // server); the link's own silence decides. Not a peer to seek a link from meanwhile.
      this.#announcers.delete(remote);
      const link = this.#links.get(remote);
      if (link?.joined) {
        link.silence.suspect(this.#clock.now());
        this.#checks?.quicken();
        this.#sendFrame(link, FRAME_PROBE, new Uint8Array(0));
        this.#events.emit('peer-suspect', remote);
        this.#log.debug(`${remote} left the signaling server: its link is probed and suspect until it is heard`);
      }
      return;
    }
    if (this.#links.has(remote) || !this.#allowed(remote)) return;
    const lonely = announce?.lonely === true;
    // Under a bound most peers stay unlinked to most others for good, so only a newcomer or
    // a peer with no link is news. Speeding up and answering every announcement of a peer
    // already heard kept a settled site of 30 announcing every period, each announcement
    // drawing answers from half the site, each decrypted by all: the site's largest cost
    // at rest (ADR 0029).
    const news = this.#o.maxConnections === undefined || lonely || !this.#announcers.has(remote);
    if (news) this.#announceSoon();
    this.#heardAnnounce(remote, lonely);
    // With no connection at all, dial whoever we hear, whatever the ids: under the
    // lower-id-dials rule alone, a peer near the top of the id space waits for a lower id
    // with room or a lottery to dial it, and in a crowd neither may come (ADR 0029).
    if (this.#seek(remote)) return;
    if (this.#id < remote) {
      this.#heard.add(remote);
      if ((this.#backoff.get(remote) ?? -Infinity) > this.#clock.now()) return;
      // Of the lower ids at their bound, only about two answer a peer that needs room: when
      // every one of them did, each lonely newcomer of a crowd cost dozens of links (ADR 0029).
      if (this.#links.size >= this.#bound()) {
        const needs = this.#needsRoom(remote);
        const won = needs && this.#lottery(remote);
        if (!(won && this.#makeRoom(remote, this.#announcers.get(remote)?.lonely === true))) {
          if (won) this.#log.debug(`${short(this.#id)}: ${short(remote)} needs room, we are at our bound: no redundant link to give up`);
          return;
        }
      }
      this.#dial(remote);
    }
    else if (news) {
      // The lower id dials: tell the newcomer about us (at most once per period).
      const last = this.#lastAnnounceTo.get(remote) ?? -Infinity;
      if (this.#clock.now() - last > (this.#o.announceMs ?? 3000) / 2) {
        this.#lastAnnounceTo.set(remote, this.#clock.now());
        void this.#announce(remote);
      }
    }
  }

  /**
   * Re-announce every `announceMs` while the mesh changes, backing off to
   * `QUIET_ANNOUNCE_FACTOR` times that at rest: a newcomer is found through its own
   * announcements, which are answered at once, so an idle mesh need not have every member
   * decrypt every other's every few seconds. Returns the stop function.
   */
  #announcing(): () => void {
    const base = this.#o.announceMs ?? 3000;
    let delay = base;
    let handle: TimerHandle | undefined;
    const tick = (): void => {
      void this.#announce();
      // A peer with no link keeps announcing every period, and dials someone it heard.
      const seeking = this.#seeking();
      if (seeking) this.#seek(undefined, true);
      delay = seeking ? base : Math.min(delay * 2, base * QUIET_ANNOUNCE_FACTOR);
      handle = this.#clock.setTimeout(tick, delay);
    };
    this.#announceSoon = () => {
      if (delay === base || handle === undefined) return;
      delay = base;
      this.#clock.clearTimeout(handle);
      handle = this.#clock.setTimeout(tick, base);
    };
    handle = this.#clock.setTimeout(tick, base);
    return () => {
      if (handle !== undefined) this.#clock.clearTimeout(handle);
      handle = undefined;
    };
  }

  #heardAnnounce(remote: PeerId, lonely: boolean): void {
    const known = this.#announcers.get(remote);
    if (known) {
      known.lonely = lonely;
      return;
    }
    if (this.#announcers.size >= MAX_ANNOUNCERS) this.#announcers.delete(this.#announcers.keys().next().value!);
    this.#announcers.set(remote, { since: this.#clock.now(), lonely });
  }

  /**
   * Whether `remote` may be given room: it holds no link at all (its announcement says
   * so), or it has announced for a while without linking to us (maybe another island).
   * Not any peer the mesh does not know yet: while a crowd joins, presence lags the links,
   * and making room for every such peer kept a site of 50 churning (ADR 0029). The chooser
   * then decides whether the mesh can reach it already.
   */
  #needsRoom(remote: PeerId): boolean {
    const heard = this.#announcers.get(remote);
    if (!heard) return false;
    return heard.lonely || this.#clock.now() - heard.since >= STRANGER_PERIODS * (this.#o.announceMs ?? 3000);
  }

  /** Under a bound, with no link joined: this peer seeks one, whatever the ids. */
  #seeking(): boolean {
    return this.#o.maxConnections !== undefined && this.#id !== null && !this.#hasJoined();
  }

  /**
   * When seeking, dial `prefer` if it may be dialled now, else a peer picked at random among
   * those heard announcing (a crowd's seekers spread over the site instead of all dialling
   * the same peer). The dialled peer makes room for us if it is at its bound and can (our
   * announcements say we are lonely), or refuses, and we try another. One dial at a time
   * (`more`: one more, each announcement period, up to the bound, in case a dial hangs).
   * Dials from others in progress do not stop us: one may be from a dialler that already
   * gave up. True when it dialled.
   */
  #seek(prefer?: PeerId, more = false): boolean {
    if (!this.#seeking()) return false;
    let dialing = 0;
    for (const link of this.#links.values()) if (link.dialing) dialing++;
    if (dialing >= (more ? this.#bound() : 1)) return false;
    const now = this.#clock.now();
    const free = (id: PeerId): boolean => !this.#links.has(id) && (this.#backoff.get(id) ?? -Infinity) <= now && this.#allowed(id);
    let pick = prefer !== undefined && free(prefer) ? prefer : undefined;
    if (pick === undefined) {
      const candidates = [...this.#announcers.keys()].filter(free);
      if (candidates.length === 0) return false;
      pick = candidates[Math.floor((this.#o.random ?? Math.random)() * candidates.length)]!;
    }
    this.#log.debug(`${short(this.#id)}: no link: seeking one from ${short(pick)}`);
    this.#dial(pick);
    return true;
  }

  /** True for about `ROOM_RESPONDERS` of the peers with lower ids than `remote` (those that dial it). */
  #lottery(remote: PeerId): boolean {
    let lower = 1;
    for (const id of this.#announcers.keys()) if (id < remote) lower++;
    return (this.#o.random ?? Math.random)() < ROOM_RESPONDERS / lower;
  }

  #joinedCount(): number {
    let n = 0;
    for (const link of this.#links.values()) if (link.joined) n++;
    return n;
  }

  #hasJoined(): boolean {
    for (const link of this.#links.values()) if (link.joined) return true;
    return false;
  }

  /** Make room for `remote` (`cutOff`: it says it holds no link) if our chooser names a link to give up; true when it did. */
  #makeRoom(remote: PeerId, cutOff: boolean): boolean {
    const victim = this.#roomFor?.(remote, cutOff);
    const link = victim !== undefined && victim !== remote ? this.#links.get(victim) : undefined;
    if (!link) return false;
    this.#roomsMade++;
    this.#log.debug(`at the bound: giving up the link to ${victim} (reachable through others) for ${remote}, which is not`);
    this.#drop(link, 'room made for an unreachable peer');
    return this.#links.size < this.#bound();
  }

  /** See {@link Transport.makeRoomWith}. */
  makeRoomWith(choose: (remote: PeerId, cutOff?: boolean) => PeerId | undefined): void {
    this.#roomFor = choose;
  }

  #bound(): number {
    return this.#o.maxConnections ?? Infinity;
  }

  /** At the bound for accepting: connections that joined or are joining from the remote's dial; our own dials in progress do not count. */
  #full(except?: Link): boolean {
    let n = 0;
    for (const link of this.#links.values()) if (link !== except && (link.joined || !link.dialing)) n++;
    return n >= this.#bound();
  }

  /** After a refusal: dial another peer we heard (one we may dial, not backing off), if there is room to dial. */
  #dialAnother(): void {
    if (this.#id === null || this.#links.size >= this.#bound() || this.#seek()) return;
    const now = this.#clock.now();
    for (const remote of this.#heard) {
      if (this.#links.has(remote) || (this.#backoff.get(remote) ?? -Infinity) > now || !this.#allowed(remote)) continue;
      this.#dial(remote);
      return;
    }
    // Nobody left to try: be heard, so that peers with room (and lower ids) dial us.
    this.#announceSoon();
  }

  #allowed(remote: PeerId): boolean {
    return this.#id !== null && (this.#o.links?.(this.#id, remote) ?? true);
  }

  #dial(remote: PeerId): void {
    if (!this.#pj || !this.#keys) return;
    this.#log.debug(`${short(this.#id)}: dialling ${short(remote)} (${this.#links.size} connections, bound ${this.#bound()})`);
    const conn = this.#pj.connect(`lm-${this.#keys.tag}-${remote}`, { reliable: true, serialization: 'raw' });
    this.#track(remote, conn, true);
  }

  #accept(conn: DataConnection): void {
    const keys = this.#keys;
    const prefix = keys ? `lm-${keys.tag}-` : null;
    const remote = prefix && conn.peer.startsWith(prefix) ? conn.peer.slice(prefix.length) : null;
    if (!remote || !/^[0-9a-f]{32}$/.test(remote) || this.#id === null || !this.#allowed(remote)) {
      conn.close();
      return;
    }
    const existing = this.#links.get(remote);
    if (!existing && this.#full()) {
      // The dialler chose us, so no lottery; but room only for a peer that needs it.
      if (this.#needsRoom(remote)) this.#makeRoom(remote, this.#announcers.get(remote)?.lonely === true);
      if (this.#full()) {
        this.#refuse(remote, conn);
        return;
      }
    }
    if (existing && existing.dialing && !existing.joined && this.#id < remote) {
      // Both dialled at once (a seeking peer dials lower ids too): the lower id's dial
      // stands on both sides, or each side would close the other's and neither would join.
      this.#log.debug(`${short(this.#id)}: ${short(remote)} dials us while we dial it: our dial stands`);
      conn.close();
      return;
    }
    if (existing) {
      // The remote dialled us while we dialled it (it has the lower id), or it restarted: the newest connection from the remote wins.
      if (existing.joined) this.#leave(existing);
      this.#links.delete(remote);
      existing.conn.close();
    }
    this.#log.debug(`${short(this.#id)}: ${short(remote)} dials us (${this.#links.size} connections, bound ${this.#bound()})`);
    // Given up if its channel does not open in time (see Link.openBy): a dial whose dialler
    // gave up first is never closed on our side, and such connections held slots of the
    // bound for good: a site of 50 filled with them while most peers held one link or none.
    this.#track(remote, conn, false);
  }

  /**
   * Say no to a connection at our bound: open it only to send a refusal, then close it,
   * so the dialler knows at once instead of after its dial timeout.
   */
  #refuse(remote: PeerId, conn: DataConnection): void {
    const now = this.#clock.now();
    const link: Link = { remote, conn, open: false, proven: false, proofSent: null, joined: false, silence: new LinkSilence(now, this.#liveness), keepalive: new LinkKeepalive(now, this.#keepaliveOptions), dialing: false, openBy: now + DIAL_TIMEOUT_MS, refusing: true, queue: null, early: null, earlyBytes: 0 };
    this.#refusing.add(link);
    const end = (): void => {
      if (!this.#refusing.delete(link)) return;
      conn.close();
    };
    conn.on('open', () => {
      this.#log.debug(`${short(this.#id)}: refusing a connection from ${short(remote)}: at the bound of ${this.#bound()}`);
      this.#sendFrame(link, FRAME_REFUSE, new Uint8Array(0));
      this.#clock.setTimeout(end, REFUSE_LINGER_MS);
    });
    conn.on('close', end);
    conn.on('error', end);
    // A connection that never opens is not kept either.
    this.#clock.setTimeout(end, DIAL_TIMEOUT_MS);
  }

  #track(remote: PeerId, conn: DataConnection, dialing: boolean): Link {
    const now = this.#clock.now();
    const link: Link = { remote, conn, open: false, proven: false, proofSent: null, joined: false, silence: new LinkSilence(now, this.#liveness), keepalive: new LinkKeepalive(now, this.#keepaliveOptions), dialing, openBy: now + OPEN_TIMEOUT_MS, queue: null, early: null, earlyBytes: 0 };
    this.#links.set(remote, link);
    this.#checks?.quicken();
    conn.on('open', () => {
      // PeerJS can open one connection twice (a second data channel under it, seen on a
      // busy machine): a proof sent before that never arrives, the remote never joins and
      // the link half-forms until its silence ends it. Prove ourselves again on the new one.
      if (link.open) link.proofSent = null;
      link.open = true;
      link.silence = new LinkSilence(this.#clock.now(), this.#liveness);
      const channel = conn.dataChannel;
      if (channel) {
        channel.binaryType = 'arraybuffer';
        channel.bufferedAmountLowThreshold = LOW_WATER;
        link.queue = new SendQueue(channel, HIGH_WATER, (frame) => this.#writeFrame(link, frame));
      }
      void this.#sendProof(link);
    });
    conn.on('data', (data: unknown) => this.#onFrame(link, data));
    conn.on('close', () => this.#drop(link, 'closed'));
    conn.on('error', (err: Error) => this.#drop(link, err.message));
    this.#watchFailure(link);
    return link;
  }

  /**
   * A connection that fails before its channel opens is given up at once, and our own dial
   * made again soon, instead of waiting for the dial timeout. libdatachannel sometimes closes
   * the offerer's connection before it opens (in traces, when the answerer's ICE had connected
   * before the offerer set the answer; "Got a remote candidate without ICE transport" follows),
   * and says so only in
   * `connectionstatechange`: PeerJS, which watches the ICE state, never learns, and the link
   * hung for the dial timeout (ADR 0032, "connections that fail before they open").
   */
  #watchFailure(link: Link): void {
    // The connection's RTCPeerConnection, as far as this needs it (shared/ has no DOM types).
    type Watched = { connectionState: string; addEventListener(type: string, listener: () => void): void; removeEventListener(type: string, listener: () => void): void };
    const pc = (link.conn as unknown as { peerConnection?: Watched | null }).peerConnection;
    if (!pc || typeof pc.addEventListener !== 'function') return;
    const onState = (): void => {
      const state = pc.connectionState;
      if (link.open || (state !== 'failed' && state !== 'closed')) return;
      pc.removeEventListener('connectionstatechange', onState);
      if (this.#links.get(link.remote) !== link) return;
      this.#drop(link, `the connection ${state} before its channel opened`, { failed: true });
      if (link.dialing) this.#redialSoon(link.remote);
    };
    pc.addEventListener('connectionstatechange', onState);
  }

  /**
   * Dial `remote` again shortly after our dial to it failed before opening: at most
   * `QUICK_REDIALS` times in a row (a join resets the count); after that, the usual path —
   * the next announcement heard — takes over.
   */
  #redialSoon(remote: PeerId): void {
    const tries = (this.#quickRedials.get(remote) ?? 0) + 1;
    if (tries > QUICK_REDIALS) return;
    this.#quickRedials.set(remote, tries);
    const delay = QUICK_REDIAL_MS * (0.5 + (this.#o.random ?? Math.random)());
    this.#clock.setTimeout(() => {
      if (this.#closed || this.#id === null || this.#links.has(remote) || !this.#allowed(remote) || this.#links.size >= this.#bound()) return;
      this.#log.debug(`${short(this.#id)}: dialling ${short(remote)} again: the last dial failed before opening`);
      this.#dial(remote);
    }, delay);
  }

  /**
   * Put our proof on the link, once per open; the same promise for every caller. Computing it
   * is asynchronous: a caller that means to send after it (the join) awaits this, or its first
   * message could overtake the proof, and the remote, not yet holding anything of ours, would
   * drop it.
   */
  #sendProof(link: Link): Promise<void> {
    if (!this.#keys || this.#id === null) return Promise.resolve();
    const keys = this.#keys;
    const id = this.#id;
    link.proofSent ??= (async () => {
      const proof = await keys.prove(id, link.remote);
      if (this.#links.get(link.remote) === link) this.#sendFrame(link, FRAME_PROOF, proof);
    })();
    return link.proofSent;
  }

  /** Synchronous for data frames (the hot path: no promise per message); a proof is checked apart. */
  #onFrame(link: Link, data: unknown): void {
    if (this.#links.get(link.remote) !== link) return;
    const bytes = toBytes(data);
    if (!bytes || bytes.byteLength === 0) return;
    const now = this.#clock.now();
    const kind = bytes[0];
    if (kind === FRAME_PING || kind === FRAME_REST_PING) {
      link.silence.heard(now, kind === FRAME_REST_PING);
      // The remote left its rest: its silence is judged on quick gaps again.
      if (kind === FRAME_PING) this.#checks?.quicken();
      return;
    }
    link.silence.heard(now);
    if (kind === FRAME_PROBE) {
      link.keepalive.probed(now);
      // Answered at the next check: a quick one.
      this.#checks?.quicken();
      return;
    }
    if (kind === FRAME_REFUSE) {
      // The remote is at its bound (or was filled while our dial came through): back off
      // from it and dial someone else now.
      const dialed = link.dialing;
      if (dialed && !link.joined) this.#refusals++;
      this.#drop(link, 'refused: the remote is at its bound');
      if (dialed) this.#dialAnother();
      return;
    }
    if (kind === FRAME_PROOF) {
      if (!link.joined) link.early ??= [];
      void this.#onProof(link, bytes.subarray(1));
      return;
    }
    if (!link.joined) {
      if (kind === FRAME_DATA && link.early) this.#holdEarly(link, bytes);
      return;
    }
    // Each message arrives in a buffer of its own: a view of it is safe to hand on.
    if (kind === FRAME_DATA) this.#events.emit('message', { from: link.remote, data: bytes.subarray(1) });
  }

  async #onProof(link: Link, proof: Uint8Array): Promise<void> {
    if (link.proven || !this.#keys) return;
    const ok = await this.#keys.verify(link.remote, this.#id ?? '', proof);
    if (this.#links.get(link.remote) !== link) return;
    if (!ok) {
      this.#log.warn(`closing connection from ${link.remote}: it does not know the mesh secret`);
      this.#drop(link, 'bad mesh proof');
      return;
    }
    link.proven = true;
    // Ours must be on the channel before anything the join lets us send (and the bound below
    // is judged after this wait, not before it).
    await this.#sendProof(link);
    if (this.#links.get(link.remote) !== link) return;
    // Our dial came through, but connections accepted meanwhile filled the bound: say no
    // after all — unless it would be our first link (a seeker takes it: the others may be
    // from diallers that gave up). Links that joined never exceed the bound either way.
    if (!link.joined && ((link.dialing && this.#hasJoined() && this.#full(link)) || this.#joinedCount() >= this.#bound())) {
      this.#sendFrame(link, FRAME_REFUSE, new Uint8Array(0));
      this.#drop(link, 'at our bound when the dial came through');
      return;
    }
    if (!link.joined && this.#id !== null) {
      // Our first link under a bound: say at once that we are no longer lonely (no more room made for us).
      const first = this.#o.maxConnections !== undefined && !this.#hasJoined();
      link.joined = true;
      link.keepalive.joined(this.#clock.now());
      this.#checks?.quicken();
      this.#log.debug(`${short(this.#id)}: joined ${short(link.remote)} (${link.dialing ? 'we dialled' : 'it dialled'})`);
      this.#quickRedials.delete(link.remote);
      this.#events.emit('peer-joined', link.remote);
      // What the remote sent while we checked its proof, before anything that comes after.
      const early = link.early ?? [];
      link.early = null;
      link.earlyBytes = 0;
      for (const bytes of early) {
        if (this.#links.get(link.remote) !== link || !link.joined) break;
        this.#events.emit('message', { from: link.remote, data: bytes.subarray(1) });
      }
      if (first) void this.#announce();
    }
  }

  /** Keep a message that came while the remote's proof was being checked (see `Link.early`), within `MAX_EARLY_BYTES`. */
  #holdEarly(link: Link, bytes: Uint8Array): void {
    link.earlyBytes += bytes.byteLength;
    if (link.earlyBytes > MAX_EARLY_BYTES) {
      link.early = null;
      this.#drop(link, `sent more than ${MAX_EARLY_BYTES} bytes before its proof was checked`);
      return;
    }
    link.early?.push(bytes);
  }

  #sendFrame(link: Link, kind: number, payload: Uint8Array): void {
    const frame = new Uint8Array(payload.byteLength + 1);
    frame[0] = kind;
    frame.set(payload, 1);
    this.#writeFrame(link, frame);
  }

  /** Put a whole frame (kind byte first; possibly a view of a larger buffer) on the link's channel. */
  #writeFrame(link: Link, frame: Uint8Array): void {
    link.keepalive.sent(this.#clock.now());
    // Straight onto the open channel: PeerJS's own send only adds a second check of the
    // buffered amount (a call into the native channel, per message) for a buffer limit of
    // 8 MiB that the send queue never lets it reach.
    const channel = link.conn.dataChannel;
    try {
      if (channel?.readyState === 'open') channel.send(frame as Uint8Array<ArrayBuffer>);
      // PeerJS sends whole ArrayBuffers: a view of a larger one goes as a copy of its own.
      else link.conn.send(frame.byteLength === frame.buffer.byteLength ? frame.buffer : frame.slice().buffer);
    } catch (error) {
      // A native channel can close before its readyState says so (node-datachannel throws
      // "DataChannel is closed"): that connection is gone, the process is not.
      this.#drop(link, `send failed: ${(error as Error).message}`);
    }
  }

  /** True when every link may wait the rest period between checks: open and joined, neither end quick, no hint standing, its remote at rest. */
  #resting(): boolean {
    const now = this.#clock.now();
    for (const link of this.#links.values()) {
      if (!link.open || !link.joined || link.keepalive.quick(now) || link.silence.suspected || !link.silence.atRest) return false;
    }
    return true;
  }

  /** `stalledMs`: how long this process was stalled since the last check (not the links' fault). */
  #keepalive(stalledMs: number): void {
    const now = this.#clock.now();
    for (const link of [...this.#links.values()]) {
      if (!link.open) {
        if (stalledMs > 0) link.openBy += stalledMs;
        if (now < link.openBy) continue;
        if (link.dialing) this.#heard.delete(link.remote);
        this.#drop(link, link.dialing ? 'dial timed out: the channel never opened (signaling or ICE)' : `the channel never opened within ${OPEN_TIMEOUT_MS} ms of its dial (its dialler gave up)`);
        continue;
      }
      if (stalledMs > 0) link.silence.forgive(stalledMs);
      if (link.silence.expired(now)) {
        this.#drop(link, `silent for more than ${Math.round(link.silence.timeoutMs)} ms`);
        continue;
      }
      if (!link.joined) continue;
      const action = link.keepalive.due(now);
      if (action !== null) this.#sendFrame(link, action === 'ping' ? FRAME_PING : FRAME_REST_PING, new Uint8Array(0));
    }
  }

  #drop(link: Link, reason: string, how: { failed?: boolean } = {}): void {
    if (this.#links.get(link.remote) !== link) return;
    this.#links.delete(link.remote);
    // Heard without a link from now on: a stranger again only after a while.
    this.#announcers.delete(link.remote);
    this.#announceSoon();
    this.#log.debug(`${short(this.#id)}: connection to ${short(link.remote)} ended${link.joined ? '' : ' before joining'} (${link.dialing ? 'we dialled' : 'it dialled'}): ${reason}`);
    // Under a bound, a dial that ended before joining was most likely refused at the other's bound.
    // Not so a connection that failed on its way (it is dialled again soon, see #watchFailure).
    if (this.#o.maxConnections !== undefined && link.dialing && !link.joined && !how.failed) this.#backoff.set(link.remote, this.#clock.now() + REFUSED_BACKOFF_MS);
    link.conn.close();
    if (link.joined) this.#leave(link);
  }

  #leave(link: Link): void {
    link.joined = false;
    link.queue?.close(new PeerUnreachableError(`peer ${link.remote} left while the send waited`));
    if (this.#id !== null) this.#events.emit('peer-left', link.remote);
  }
}

/** A peer id shortened for log lines (enough to tell a site's peers apart). */
function short(id: PeerId | null): string {
  return id === null ? '-' : id.slice(0, 8);
}

function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return utf8(data);
  return null;
}
