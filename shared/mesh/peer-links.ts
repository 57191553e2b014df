/**
 * Authenticated links over any number of transports. A transport only says "peer X
 * joined"; before trusting that claim each side proves it holds X's private key:
 *
 *   A → B  hello { id: A, pk: A's public key, nonce: nA }
 *   B → A  hello { id: B, pk, nonce: nB }
 *   A → B  auth  { pk: A's public key, sig: sign_A("liquidmesh-auth-v1" ‖ nB ‖ A ‖ B) }
 *   B → A  auth  { pk: B's public key, sig: sign_B("liquidmesh-auth-v1" ‖ nA ‖ B ‖ A) }
 *
 * A link is up once the remote's id derives from its key and its signature over our
 * fresh nonce verifies. Until then its other messages wait (bounded); a failed proof
 * rejects the link and drops them. Hellos are repeated until the link is up, so a lost
 * handshake message only delays it. Messages above a transport's maximum are
 * fragmented here and reassembled on the other side.
 * @module
 */
import { bytesEqual, concatBytes, randomBytes, utf8 } from '../bytes.ts';
import { BadSignatureError, IdentityMismatchError, MalformedMessageError, MeshError, PeerUnreachableError } from '../errors.ts';
import { Emitter, type Unsubscribe } from '../events.ts';
import { type Identity, peerIdFromPublicKey, verifySignature } from '../identity/identity.ts';
import type { Logger } from '../log.ts';
import { type Clock, every } from '../ports/clock.ts';
import type { PeerId, Transport } from '../ports/transport.ts';
import { Reassembler } from '../protocol/reassembler.ts';
import { BULK_TAG, type BulkPiece, bulkFramesOf, decodeBulk, decodeMessage, encodeMessage, fragmentsOf, framesOf, PROTOCOL_VERSION, type WireMessage } from '../protocol/wire.ts';

const AUTH_CONTEXT = utf8('liquidmesh-auth-v1');
const MAX_WAITING = 1024;
/** Handshake failures that mean the remote is not who it claims to be. */
const PROOF_FAILURES = new Set(['ERR_IDENTITY_MISMATCH', 'ERR_BAD_SIGNATURE', 'ERR_MALFORMED_MESSAGE']);

/** Events of {@link PeerLinks}. */
export interface LinkEvents {
  /** A peer is authenticated on at least one transport. */
  up: PeerId;
  /** A peer is no longer reachable on any transport. */
  down: PeerId;
  /**
   * A peer's link on one transport closed while another transport still reaches it (a
   * bounded site gave the link up, or it failed; up or still handshaking): what was in
   * flight on the closed link may be lost, and messages go over the other one from now on.
   */
  moved: PeerId;
  /** A transport hints that a peer may be gone (see the transport's `peer-suspect`). */
  suspect: PeerId;
  /** A peer failed authentication. */
  rejected: { peer: PeerId; error: MeshError };
  /** An authenticated, decoded message (never a handshake or fragment). */
  message: { from: PeerId; message: WireMessage };
  /** A bulk piece from an authenticated peer (see `sendBulk`). */
  bulk: { from: PeerId; piece: BulkPiece };
  /** A fragment of a large message arrived. */
  fragment: { from: PeerId; key: string; received: number; total: number; bytes: number };
}

interface Link {
  transport: Transport;
  peer: PeerId;
  /**
   * Whose fragments these are, per transport: a message's fragments all travel over one
   * link, and a message sent again over another transport after this link closed must not
   * be mixed with what this one delivered of it.
   */
  source: string;
  nonce: Uint8Array;
  remoteKey: Uint8Array | null;
  up: boolean;
  rejected: boolean;
  /** Handshake work in progress; messages behind it wait so order is kept. */
  busy: Promise<void> | null;
  waiting: Uint8Array[];
}

/** Link options. */
export interface PeerLinksOptions {
  identity: Identity;
  transports: Transport[];
  clock: Clock;
  logger: Logger;
  handshakeRetryMs: number;
  /** Most bytes held for incomplete fragmented messages (default 512 MiB). */
  maxReassemblyBytes?: number;
  /**
   * Asked once a peer has proven its key, before its link comes up: a named error refuses
   * it (a revoked member). Default: everyone who proves a key is admitted.
   */
  admit?: (peer: PeerId, publicKey: Uint8Array) => MeshError | undefined;
}

/** Authenticated, fragmenting links to directly reachable peers. */
export class PeerLinks {
  readonly #identity: Identity;
  readonly #transports: Transport[];
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #retryMs: number;
  readonly #admit: PeerLinksOptions['admit'];
  readonly #events: Emitter<LinkEvents>;
  readonly #links = new Map<Transport, Map<PeerId, Link>>();
  readonly #reassembler: Reassembler;
  readonly #unsubscribe: Unsubscribe[] = [];
  #stopRetry: (() => void) | null = null;
  #fragmentCounter = 0;
  /** Handshake steps in progress, over all links. */
  #busyLinks = 0;

  constructor(options: PeerLinksOptions) {
    this.#identity = options.identity;
    this.#transports = options.transports;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#retryMs = options.handshakeRetryMs;
    this.#admit = options.admit;
    this.#reassembler = new Reassembler(options.maxReassemblyBytes ?? 512 * 1024 * 1024);
    this.#events = new Emitter((e) => this.#log.error('link listener failed', e));
    for (const t of this.#transports) this.#links.set(t, new Map());
  }

  /** Subscribe. */
  on<K extends keyof LinkEvents>(event: K, listener: (payload: LinkEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /** Connect every transport and start handshaking with whoever joins. */
  async start(): Promise<void> {
    for (const transport of this.#transports) {
      this.#unsubscribe.push(
        transport.on('peer-joined', (peer) => this.#joined(transport, peer)),
        transport.on('peer-left', (peer) => this.#left(transport, peer)),
        transport.on('peer-suspect', (peer) => {
          if (this.isUp(peer)) this.#events.emit('suspect', peer);
        }),
        transport.on('message', ({ from, data }) => this.#receive(transport, from, data)),
      );
    }
    await Promise.all(this.#transports.map((t) => t.connect(this.#identity.id)));
    // Peers that joined before our listeners could see them.
    for (const transport of this.#transports) for (const peer of transport.peers()) this.#joined(transport, peer);
    this.#stopRetry = every(this.#clock, this.#retryMs, () => this.#retryHandshakes());
  }

  /** Disconnect every transport. Idempotent. */
  async stop(): Promise<void> {
    this.#stopRetry?.();
    this.#stopRetry = null;
    for (const off of this.#unsubscribe.splice(0)) off();
    const wereUp = this.up();
    for (const map of this.#links.values()) map.clear();
    await Promise.all(this.#transports.map((t) => t.disconnect()));
    for (const peer of wereUp) this.#events.emit('down', peer);
    this.#events.clear();
  }

  /** True while a handshake step is in progress on some link. */
  get busy(): boolean {
    return this.#busyLinks > 0;
  }

  /** Resolves once no handshake step is in progress (the simulator waits on it to stay deterministic). */
  async idle(): Promise<void> {
    for (;;) {
      const busy: Promise<void>[] = [];
      for (const map of this.#links.values()) for (const link of map.values()) if (link.busy) busy.push(link.busy);
      if (busy.length === 0) return;
      await Promise.all(busy);
    }
  }

  /** Peers authenticated on at least one transport. */
  up(): PeerId[] {
    const out = new Set<PeerId>();
    for (const map of this.#links.values()) for (const link of map.values()) if (link.up) out.add(link.peer);
    return [...out];
  }

  /** True when `peer` is authenticated on some transport. */
  isUp(peer: PeerId): boolean {
    return this.#route(peer) !== undefined;
  }

  /**
   * True when `peer` is authenticated on a transport that closes silent links itself: that
   * link being up is proof enough that the peer is alive (presence relies on it).
   */
  watched(peer: PeerId): boolean {
    for (const [transport, map] of this.#links) if (transport.closesSilentLinks === true && map.get(peer)?.up) return true;
    return false;
  }

  /** The transport messages to `peer` go over now (undefined: not linked). */
  transportOf(peer: PeerId): Transport | undefined {
    return this.#route(peer)?.transport;
  }

  /** The transports `peer` is authenticated on, the one in use first. */
  transportsOf(peer: PeerId): Transport[] {
    return this.#transports.filter((t) => this.#links.get(t)?.get(peer)?.up === true);
  }

  /** The verified public key of an authenticated peer. */
  publicKey(peer: PeerId): Uint8Array | undefined {
    const link = this.#route(peer);
    return link?.remoteKey ?? undefined;
  }

  /**
   * Refuse `peer` from now on (e.g. it was revoked): every link to it is rejected and, if
   * it was up, it goes down. It is admitted again only through a new link that `admit`
   * accepts.
   */
  expel(peer: PeerId, error: MeshError): void {
    const wasUp = this.isUp(peer);
    for (const map of this.#links.values()) {
      const link = map.get(peer);
      if (!link) continue;
      this.#reject(link, error);
      this.#reassembler.dropSource(link.source);
    }
    if (wasUp) this.#events.emit('down', peer);
  }

  /**
   * Send a message to an authenticated peer, fragmenting it if it is larger than the
   * transport allows. `key` names the fragments (for progress on the other side).
   */
  send(to: PeerId, message: WireMessage, key?: string): Promise<void> {
    const link = this.#route(to);
    if (!link) return Promise.reject(new PeerUnreachableError(`no authenticated link to ${to}`));
    try {
      const headroom = link.transport.sendFramed ? link.transport.headroom : undefined;
      if (headroom !== undefined) {
        const frames = framesOf(message, link.transport.maxMessageSize, headroom, () => key ?? `m${(this.#fragmentCounter++).toString(36)}`);
        if (frames.length === 1) return link.transport.sendFramed!(to, frames[0]!);
        return this.#sendFrames(link, frames);
      }
      const encoded = encodeMessage(message);
      // The usual case, one transport message: handed over with no generator or extra promise.
      if (encoded.byteLength <= link.transport.maxMessageSize) return link.transport.send(to, encoded);
      return this.#sendFragments(link, encoded, key ?? `m${(this.#fragmentCounter++).toString(36)}`);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * Send `bytes` as the bulk pieces of `stream` from `offset` on, in order, over the link
   * messages to `to` go over now; resolves once the last is on its way (a message sent
   * after that leaves behind them). Stops early, resolving, when `signal` aborts. Rejects
   * with ERR_PEER_UNREACHABLE without a direct link.
   */
  async sendBulk(to: PeerId, stream: number, offset: number, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    const link = this.#route(to);
    if (!link) throw new PeerUnreachableError(`no authenticated link to ${to}`);
    const transport = link.transport;
    const framed = transport.sendFramed !== undefined && transport.headroom !== undefined;
    for (const frame of bulkFramesOf(stream, offset, bytes, transport.maxMessageSize, framed ? transport.headroom! : 0)) {
      if (signal?.aborted) return;
      if (framed) await transport.sendFramed!(to, frame);
      else await transport.send(to, frame);
    }
  }

  async #sendFrames(link: Link, frames: Uint8Array[]): Promise<void> {
    for (const frame of frames) await link.transport.sendFramed!(link.peer, frame);
  }

  async #sendFragments(link: Link, encoded: Uint8Array, key: string): Promise<void> {
    for (const data of fragmentsOf(encoded, link.transport.maxMessageSize, key)) await link.transport.send(link.peer, data);
  }

  /** Send to every authenticated peer except `except`; failures are logged, not thrown. */
  broadcast(message: WireMessage, except?: PeerId): void {
    for (const peer of this.up()) {
      if (peer === except) continue;
      this.send(peer, message).catch((error: unknown) => this.#log.debug(`broadcast to ${peer} failed: ${(error as Error).message}`));
    }
  }

  #route(peer: PeerId): Link | undefined {
    for (const transport of this.#transports) {
      const link = this.#links.get(transport)?.get(peer);
      if (link?.up) return link;
    }
    return undefined;
  }

  #joined(transport: Transport, peer: PeerId): void {
    const map = this.#links.get(transport)!;
    if (map.has(peer)) return;
    const link: Link = { transport, peer, source: `${peer}/${this.#transports.indexOf(transport)}`, nonce: randomBytes(32), remoteKey: null, up: false, rejected: false, busy: null, waiting: [] };
    map.set(peer, link);
    this.#sendHello(link);
  }

  #left(transport: Transport, peer: PeerId): void {
    const link = this.#links.get(transport)?.get(peer);
    if (!link) return;
    this.#links.get(transport)!.delete(peer);
    this.#reassembler.dropSource(link.source);
    // Even a link not yet up on our side may have carried messages: the remote may have
    // counted it up already (and answered over it), and what arrived early waited here.
    if (this.isUp(peer)) this.#events.emit('moved', peer);
    else if (link.up) this.#events.emit('down', peer);
  }

  #sendHello(link: Link): void {
    const hello: WireMessage = { t: 'hello', v: PROTOCOL_VERSION, id: this.#identity.id, pk: this.#identity.publicKey, nonce: link.nonce };
    link.transport.send(link.peer, encodeMessage(hello)).catch((error: unknown) => this.#log.debug(`hello to ${link.peer} not sent: ${(error as Error).message}`));
  }

  #retryHandshakes(): void {
    for (const map of this.#links.values()) for (const link of map.values()) if (!link.up && !link.rejected) this.#sendHello(link);
  }

  #receive(transport: Transport, from: PeerId, data: Uint8Array): void {
    const link = this.#links.get(transport)?.get(from);
    if (!link || link.rejected) return;
    if (link.busy) {
      if (link.waiting.length < MAX_WAITING) link.waiting.push(data);
      else this.#log.warn(`dropping message from ${from}: too many waiting behind its handshake`);
      return;
    }
    this.#process(link, data);
  }

  #process(link: Link, data: Uint8Array): void {
    if (data[0] === BULK_TAG) {
      this.#bulk(link, data);
      return;
    }
    const decoded = decodeMessage(data);
    if (!decoded.ok) {
      this.#log.warn(`dropping malformed message from ${link.peer}: ${decoded.error}`);
      return;
    }
    const message = decoded.value;
    if (message.t === 'hello' || message.t === 'auth') {
      this.#runHandshakeStep(link, message.t === 'hello' ? this.#onHello(link, message) : this.#onAuth(link, message));
      return;
    }
    if (!link.up) {
      // Arrived before the remote's proof: hold it until the link is up (or rejected).
      if (link.waiting.length < MAX_WAITING) link.waiting.push(data);
      return;
    }
    if (message.t === 'frag') {
      const outcome = this.#reassembler.add(link.source, message);
      if (outcome.kind === 'rejected') this.#log.warn(`dropping fragments from ${link.peer}: ${outcome.reason}`);
      else if (outcome.kind === 'partial') this.#events.emit('fragment', { from: link.peer, key: message.k, ...outcome });
      else this.#processWhole(link, outcome.data);
      return;
    }
    this.#events.emit('message', { from: link.peer, message });
  }

  #bulk(link: Link, data: Uint8Array): void {
    // Only an authenticated peer's pieces count; none is ever asked for before its link is up.
    if (!link.up) return;
    const piece = decodeBulk(data);
    if (!piece.ok) {
      this.#log.warn(`dropping malformed bulk piece from ${link.peer}: ${piece.error}`);
      return;
    }
    this.#events.emit('bulk', { from: link.peer, piece: piece.value });
  }

  #processWhole(link: Link, data: Uint8Array): void {
    const decoded = decodeMessage(data);
    if (!decoded.ok || decoded.value.t === 'frag' || decoded.value.t === 'hello' || decoded.value.t === 'auth') {
      this.#log.warn(`dropping reassembled message from ${link.peer}: ${decoded.ok ? 'nested ' + decoded.value.t : decoded.error}`);
      return;
    }
    this.#events.emit('message', { from: link.peer, message: decoded.value });
  }

  /** Run an async handshake step; messages arriving meanwhile wait, then are processed in order. */
  #runHandshakeStep(link: Link, step: Promise<void>): void {
    this.#busyLinks++;
    link.busy = step
      .catch((error: unknown) => {
        if (error instanceof MeshError && PROOF_FAILURES.has(error.code)) this.#reject(link, error);
        else this.#log.debug(`handshake with ${link.peer} interrupted: ${(error as Error).message}`);
      })
      .finally(() => {
        this.#busyLinks--;
        link.busy = null;
        const waiting = link.waiting.splice(0);
        for (let i = 0; i < waiting.length; i++) {
          if (link.rejected) return;
          if (link.busy) {
            // Another handshake step started: the rest waits behind it again.
            link.waiting.unshift(...waiting.slice(i));
            return;
          }
          this.#process(link, waiting[i]!);
        }
      });
  }

  async #onHello(link: Link, hello: Extract<WireMessage, { t: 'hello' }>): Promise<void> {
    if (hello.v !== PROTOCOL_VERSION) throw new MalformedMessageError(`peer speaks protocol ${hello.v}, we speak ${PROTOCOL_VERSION}`);
    if (hello.id !== link.peer) throw new IdentityMismatchError(`peer joined as ${link.peer} but says it is ${hello.id}`);
    const derived = await peerIdFromPublicKey(hello.pk);
    if (derived !== link.peer) throw new IdentityMismatchError(`peer ${link.peer} presented a key that belongs to ${derived}`);
    link.remoteKey = hello.pk;
    const signature = await this.#identity.sign(concatBytes([AUTH_CONTEXT, hello.nonce, utf8(this.#identity.id), utf8(link.peer)]));
    // The connection may have been replaced while we signed: never answer a new one with an old proof.
    if (!this.#current(link)) return;
    await link.transport.send(link.peer, encodeMessage({ t: 'auth', pk: this.#identity.publicKey, sig: signature }));
  }

  async #onAuth(link: Link, auth: Extract<WireMessage, { t: 'auth' }>): Promise<void> {
    if (link.up) return;
    if (!link.remoteKey) {
      // Their hello was lost or is late: the auth carries the key, checked the same way.
      const derived = await peerIdFromPublicKey(auth.pk);
      if (derived !== link.peer) throw new IdentityMismatchError(`peer ${link.peer} presented a key that belongs to ${derived}`);
      if (!this.#current(link)) return;
      link.remoteKey = auth.pk;
    } else if (!bytesEqual(link.remoteKey, auth.pk)) {
      throw new IdentityMismatchError(`peer ${link.peer} presented two different keys`);
    }
    const signed = concatBytes([AUTH_CONTEXT, link.nonce, utf8(link.peer), utf8(this.#identity.id)]);
    const valid = await verifySignature(link.remoteKey, auth.sig, signed);
    if (!this.#current(link)) return;
    if (!valid) throw new BadSignatureError(`peer ${link.peer} could not prove it holds the key of its id`);
    const refused = this.#admit?.(link.peer, link.remoteKey);
    if (refused) {
      this.#reject(link, refused);
      return;
    }
    const wasUp = this.isUp(link.peer);
    link.up = true;
    if (!wasUp) this.#events.emit('up', link.peer);
  }

  #current(link: Link): boolean {
    return this.#links.get(link.transport)?.get(link.peer) === link;
  }

  #reject(link: Link, error: MeshError): void {
    if (link.rejected) return;
    link.rejected = true;
    link.up = false;
    link.waiting.length = 0;
    this.#log.warn(`rejected link from ${link.peer}: ${error.message}`);
    this.#events.emit('rejected', { peer: link.peer, error });
  }
}
