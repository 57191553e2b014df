/**
 * The composition root of a peer: identity + transports (authenticated links) +
 * registry sync + presence + RPC. The same class runs in a browser tab, a worker,
 * headless Chromium and Node; everything environment-specific arrives through the
 * constructor (`new Peer({ transports, store, clock, device })`).
 *
 * Registry sync floods: an update this peer makes, or receives and had not seen, goes
 * to every other linked peer, so any connected topology converges (hub-and-spoke
 * included). A periodic state-vector exchange (anti-entropy) repairs whatever a lossy
 * link dropped.
 * Over 400 lines because it is the one place where the parts meet: splitting the wiring
 * would scatter what a newcomer should read in one sitting.
 * @module
 */
import * as Y from 'yjs';
import { fetchBlob as fetchFromMesh, type FetchBlobOptions } from './blob-fetch.ts';
import { type BulkSink, BulkStreams, type OpenStream } from './bulk-streams.ts';
import { sha256Hex, toHex } from '../bytes.ts';
import { BlobNotFoundError, InvalidParamsError, type MeshError, NotConnectedError, PeerUnreachableError } from '../errors.ts';
import { Emitter, type Unsubscribe } from '../events.ts';
import { Identity } from '../identity/identity.ts';
import { createLogger, type Logger } from '../log.ts';
import { type Clock, every, type TimerHandle } from '../ports/clock.ts';
import type { PeerStore } from '../ports/key-value-store.ts';
import type { PeerId, Transport } from '../ports/transport.ts';
import type { MeshBus } from '../ports/mesh-bus.ts';
import type { Deflate } from '../ports/deflate.ts';
import type { Sha256Factory } from '../ports/sha256.ts';
import { BUS_ORIGIN, BusSync } from './bus-sync.ts';
import { decodeMessage, encodeMessage, type RouteMessage, type WireMessage } from '../protocol/wire.ts';
import { PeerLinks } from './peer-links.ts';
import { MeshRouting } from '../routing/mesh-routing.ts';
import { Presence, type PresenceState, type Telemetry } from '../registry/presence.ts';
import { RegistryPersistence } from '../registry/persistence.ts';
import { LOCAL_ORIGIN, Registry } from '../registry/registry.ts';
import type { BrowserInfo, DeviceDescription, Engine } from '../registry/schema.ts';
import { applyRemoteUpdate, isEmptyUpdate, missingUpdate, stateVector } from '../registry/sync.ts';
import type { MeshMethods } from '../rpc/methods.ts';
import { type CallOptions, Rpc } from '../rpc/rpc.ts';
import type { MethodName, ParamsOf, ResultOf } from '../rpc/methods.ts';
import { SystemClock } from '../system-clock.ts';
import { MeshTrust, revokedKey, type Standing } from '../trust/mesh-trust.ts';
import { peerIdOfKey } from '../trust/keys.ts';
import { NotAMemberError } from '../trust/roles.ts';
import { deploymentOfParams, refuseCall } from '../trust/rpc-policy.ts';
import { joinWithRoles, type PeerRoles } from '../registry/join-roles.ts';
import { Checkpointer } from '../registry/checkpointer.ts';
import { AntiEntropyRounds } from './anti-entropy-rounds.ts';
import type { CapabilityPolicy } from '../trust/capability-policy.ts';

/** Version of the host software, reported in the device description. */
export const HOST_VERSION = '0.1.0';

/**
 * Sampled load is published when it moved by this much (a share of 0..1) or calls were
 * served: an idle device's load average and free memory drift a little every sample, and
 * each change goes to every peer.
 */
const TELEMETRY_STEP = 0.05;

/** Anti-entropy answers kept until the document changes (distinct state vectors heard). */
const MISSING_CACHE_ENTRIES = 64;
/** ...and only for state vectors up to this size (a few hundred writers). */
const MISSING_CACHE_KEY_BYTES = 4096;

/** Trust map keys of revocations start so. */
const REVOKED_PREFIX = revokedKey('');

/** Timing of a peer's background work, all in ms. */
export interface PeerTiming {
  /** Presence heartbeat period. */
  heartbeatMs: number;
  /** A peer not heard from for this long is gone. */
  livenessTimeoutMs: number;
  /** Period of the registry state-vector exchange with every linked peer. */
  antiEntropyMs: number;
  /** Period of repeated hellos on links not yet authenticated. */
  handshakeRetryMs: number;
  /** Default RPC time limit. */
  rpcTimeoutMs: number;
  /**
   * How long registry and presence updates are collected before they go out, merged, to
   * each peer. 0 sends them at the end of the current task; larger values trade latency
   * for far fewer messages under bursts (large meshes).
   */
  relayBatchMs: number;
}

/** Defaults: liveness decided within 5 s. */
export const DEFAULT_TIMING: PeerTiming = {
  heartbeatMs: 1000,
  livenessTimeoutMs: 5000,
  antiEntropyMs: 5000,
  handshakeRetryMs: 1000,
  rpcTimeoutMs: 10_000,
  relayBatchMs: 0,
};

/** What the peer says about its device; the id and key are filled in from its identity. */
export interface DeviceInit {
  name: string;
  engine: Engine;
  platform?: DeviceDescription['platform'];
  capabilities?: string[];
  simulated?: string[];
  /** IPv4 addresses of this host, advertised in the device description. */
  addresses?: string[];
  /** Browser peers: which browser this is (see {@link BrowserInfo}). */
  browser?: BrowserInfo;
  /** What the device's owner offers of its capabilities, and to whom. */
  policy?: CapabilityPolicy;
}

/** Constructor options of {@link Peer}. */
export interface PeerOptions {
  transports: Transport[];
  store: PeerStore;
  device: DeviceInit;
  clock?: Clock;
  /** Use this identity instead of the one persisted in `store.kv`. */
  identity?: Identity;
  logger?: Logger;
  timing?: Partial<PeerTiming>;
  /** Wall-clock time source for timestamps written to the registry (default Date.now). */
  wallClock?: () => number;
  /**
   * Load of this device, sampled every anti-entropy round into presence (cpu and memory in
   * use, 0..1); placement prefers idle devices with free memory. Default: not measured (0).
   */
  sampleLoad?: () => { cpu: number; memory: number };
  /**
   * Keep the registry in `store.kv` (default true): a restarted peer starts from its last
   * known registry, offline too, instead of an empty one.
   */
  persistRegistry?: boolean;
  /**
   * Roles (ADR 0025): the mesh's owner keys and this peer's grant or invitation. With
   * them, every registry entry is signed and checked, requests are authorised by the
   * caller's role, and revoked members are disconnected. Without, any member may do
   * anything (the mesh secret is the only gate).
   */
  roles?: PeerRoles;
  /**
   * A mesh-wide bus (the NATS transport's `bus`, ADR 0023): registry and presence go over
   * it instead of flooding over that transport's links, which then carry calls and blobs.
   */
  bus?: MeshBus;
  /**
   * An incremental SHA-256 (Node: node-host/node-sha256.ts): a blob fetch then hashes its
   * ranges as they arrive instead of the whole after the last (ADR 0031). Default: none.
   */
  sha256?: Sha256Factory;
  /**
   * Synchronous zlib (Node: node-host/node-deflate.ts): a migration's snapshot parts are
   * deflated and inflated on this thread instead of through `CompressionStream` (ADR 0033).
   * Default: none.
   */
  deflate?: Deflate;
}

/** Events of a peer. */
export interface PeerEvents {
  /** An authenticated link to a peer came up. */
  'link-up': PeerId;
  /** The last link to a peer went down. */
  'link-down': PeerId;
  /** A peer failed authentication; nothing it sent is used. */
  'link-rejected': { peer: PeerId; error: MeshError };
  /** A device became alive (heard from through presence). */
  'device-joined': PeerId;
  /** A device was not heard from within the liveness timeout, or left. */
  'device-left': PeerId;
  /**
   * A linked peer may be gone: a hint (its will, ADR 0032), not a departure. A hot
   * standby acts on it at once (ADR 0038); nothing else should.
   */
  'link-suspect': PeerId;
}

type PeerState = 'new' | 'starting' | 'running' | 'stopped';

/** One peer of the mesh. */
export class Peer {
  /** The shared registry. */
  readonly registry: Registry;
  /** The peer's storage. */
  readonly store: PeerStore;
  /** The clock timers run on. */
  readonly clock: Clock;
  readonly #options: PeerOptions;
  readonly #timing: PeerTiming;
  readonly #log: Logger;
  readonly #events: Emitter<PeerEvents>;
  readonly #wallClock: () => number;
  #state: PeerState = 'new';
  #identity: Identity | null = null;
  #links: PeerLinks | null = null;
  #rpc: Rpc<MeshMethods> | null = null;
  #presence: Presence | null = null;
  #routing: MeshRouting | null = null;
  #busSync: BusSync | null = null;
  #persistence: RegistryPersistence | null = null;
  #checkpointer: Checkpointer | undefined;
  #stopAntiEntropy: (() => void) | null = null;
  #offDoc: (() => void) | null = null;
  #offDirect: (() => void) | null = null;
  #offRevocations: (() => void) | null = null;
  /** Callers' standing by peer id, until the registry changes (a grant or revocation arrives). */
  readonly #standings = new Map<PeerId, Standing>();
  #callsServed = 0;
  /** Blobs served from memory, never stored: bytes and how many offers hold them. */
  readonly #offered = new Map<string, { bytes: Uint8Array; holds: number }>();
  /** Bulk streams this peer opened to receive blob ranges (ADR 0031). */
  readonly #bulk = new BulkStreams();
  /** Registry updates and awareness clients waiting to go to each peer (see relayBatchMs). */
  readonly #outbox = new Map<PeerId, { updates: Uint8Array[]; clients: Set<number> }>();
  #flushPending = false;
  /**
   * What a peer with a given state vector lacks, until the document changes: at rest every
   * linked peer sends the same one each anti-entropy round, and computing the answer walks
   * the whole document.
   */
  readonly #missing = new Map<string, Uint8Array>();
  #goodbye: Promise<unknown> | null = null;

  constructor(options: PeerOptions) {
    this.#options = options;
    this.store = options.store;
    this.clock = options.clock ?? new SystemClock();
    this.#timing = { ...DEFAULT_TIMING, ...options.timing };
    this.#log = options.logger ?? createLogger('peer');
    this.#events = new Emitter((e) => this.#log.error('peer listener failed', e));
    this.#wallClock = options.wallClock ?? (() => Date.now());
    this.registry = new Registry({ logger: this.#log.child('registry') });
  }

  /** This peer's id; available once started. */
  get id(): PeerId {
    if (!this.#identity) throw new NotConnectedError('peer has not started');
    return this.#identity.id;
  }

  /** The peer's identity; available once started. */
  get identity(): Identity {
    if (!this.#identity) throw new NotConnectedError('peer has not started');
    return this.#identity;
  }

  /** The RPC endpoint; available once started. */
  get rpc(): Rpc<MeshMethods> {
    if (!this.#rpc) throw new NotConnectedError('peer has not started');
    return this.#rpc;
  }

  /** True between a completed `start` and `stop`. */
  get running(): boolean {
    return this.#state === 'running';
  }

  /** Subscribe to peer events. */
  on<K extends keyof PeerEvents>(event: K, listener: (payload: PeerEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /** Load or create the identity, connect every transport, publish our device, start heartbeats. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new NotConnectedError(`peer cannot start from state ${this.#state}`);
    this.#state = 'starting';
    const identity = this.#options.identity ?? (await Identity.loadOrCreate(this.store.kv));
    this.#identity = identity;
    const log = this.#log;

    if (this.#options.persistRegistry !== false) {
      // Before anything links: the stored state then reaches peers through the sync
      // exchange at link-up, never as a relayed flood of "new" updates.
      const persistence = new RegistryPersistence({ doc: this.registry.doc, kv: this.store.kv, clock: this.clock, logger: log.child('registry:persistence') });
      this.#persistence = persistence;
      await persistence.load();
    }

    const roles = this.#options.roles;
    const trust = roles ? new MeshTrust({ mesh: roles.mesh, owners: roles.owners, now: this.#wallClock }) : undefined;
    const lookup = (id: string): unknown => this.registry.trust.get(id);
    if (roles && trust) {
      this.registry.enableRoles({ trust, signer: identity, now: this.#wallClock });
      joinWithRoles({ registry: this.registry, trust, identity, roles, name: this.#options.device.name, now: this.#wallClock(), logger: log.child('trust') });
      // An owner key vouches for what it verified, so that joiners verify less (ADR 0025).
      if (trust.isOwner(toHex(identity.publicKey))) {
        this.#checkpointer = new Checkpointer({ registry: this.registry, mesh: roles.mesh, clock: this.clock, now: this.#wallClock, logger: log.child('trust') });
        this.#checkpointer.start();
      }
    }

    const admit = trust ? (peer: PeerId, key: Uint8Array) => (trust.isRevoked(toHex(key), lookup) ? new NotAMemberError(`peer ${peer} was revoked by an owner`) : undefined) : undefined;
    const links = new PeerLinks({
      identity,
      transports: this.#options.transports,
      clock: this.clock,
      logger: log.child('links'),
      handshakeRetryMs: this.#timing.handshakeRetryMs,
      admit,
    });
    this.#links = links;

    const rpc = new Rpc<MeshMethods>({
      self: identity.id,
      clock: this.clock,
      logger: log.child('rpc'),
      defaultTimeoutMs: this.#timing.rpcTimeoutMs,
      // A peer we hold no link to is reached through linked peers (partial meshes) while
      // presence says it is alive; a departed one is unreachable at once (a stale route would
      // leave the call waiting out its time limit, and failover waiting with it).
      send: (to, frame, key) => (links.isUp(to) || !this.#routing || !this.#presence?.alive().includes(to) ? links.send(to, { t: 'rpc', f: frame }, key) : this.#routing.router.send(to, frame)),
      authorize: trust
        ? (method, from, params) => {
            // A caller reached through other peers (partial meshes) is known by its signed device record.
            const linkKey = links.publicKey(from);
            const key = linkKey ? toHex(linkKey) : this.registry.devices.authorOf(from);
            const standing = key ? this.#standingOf(from, key, trust, lookup) : undefined;
            const refused = refuseCall(method, {
              role: standing?.role,
              error: standing && standing.role === undefined ? standing.error : undefined,
              participant: () => this.#takesPart(from, deploymentOfParams(params)),
            });
            if (refused) throw refused;
          }
        : undefined,
    });
    this.#rpc = rpc;
    rpc.on('served', () => this.#callsServed++);
    this.#serveCoreMethods(rpc);

    try {
      this.registry.devices.set(this.#describe());
    } catch (error) {
      // A peer without a role still links (and is refused what members may do).
      if (!trust) throw error;
      log.error(`could not describe this device to the mesh: ${(error as Error).message}`);
    }

    const presence = new Presence({
      doc: this.registry.doc,
      clock: this.clock,
      self: { peerId: identity.id, name: this.#options.device.name, telemetry: { cpu: 0, memory: 0, callsPerSecond: 0 } },
      heartbeatMs: this.#timing.heartbeatMs,
      timeoutMs: this.#timing.livenessTimeoutMs,
      logger: log.child('presence'),
      vouched: (peer) => links.watched(peer),
      // Over links only: beside a bus, collectors' digests already bound what a peer hears (ADR 0023).
      scaleBeats: this.#options.bus === undefined,
    });
    this.#presence = presence;
    const bus = this.#options.bus;
    const routing = new MeshRouting({
      // Beside a bus, a peer no link path reaches gets routed calls over the bus itself.
      ...(bus ? { direct: (to: PeerId, message: RouteMessage) => bus.sendTo(to, encodeMessage(message)) } : {}),
      identity,
      links,
      presence,
      registry: this.registry,
      clock: this.clock,
      wallClock: this.#wallClock,
      logger: log.child('routing'),
      deliver: (from, frame) => rpc.receive(from, frame),
      unreachable: (peer) => rpc.peerLeft(peer),
    });
    this.#routing = routing;
    this.#offDirect = bus?.subscribe('direct', (data) => {
      const m = decodeMessage(data);
      if (m.ok && m.value.t === 'route') routing.router.receiveDirect(m.value);
      else log.warn(`dropped a direct bus message that is not a routed call${m.ok ? '' : `: ${m.error}`}`);
    }) ?? null;
    const busSync = bus
      ? new BusSync({ bus, identity, doc: this.registry.doc, presence, clock: this.clock, logger: log.child('bus'), heartbeatMs: this.#timing.heartbeatMs, batchMs: Math.max(20, this.#timing.relayBatchMs), antiEntropyMs: this.#timing.antiEntropyMs, ...(admit ? { admit } : {}) })
      : null;
    this.#busSync = busSync;
    const fromBus = (origin: unknown): boolean => typeof origin === 'string' && origin.startsWith(BUS_ORIGIN);
    // A bounded transport at its bound gives up a redundant link for a peer we cannot reach
    // at all, so that bounded peers never settle into islands (ADR 0029).
    for (const transport of this.#options.transports) {
      // "Cannot reach" is judged by presence (a peer in another island is never heard of) as
      // well as by the link graph, which lags presence by a heartbeat: no churn for a
      // peer already in the mesh.
      // With a bus, presence knows every peer at once, so only the link graph tells islands apart.
      transport.makeRoomWith?.((remote, cutOff) => (!cutOff && ((!bus && presence.alive().includes(remote)) || routing.topology.hops(remote) !== undefined) ? undefined : routing.topology.redundantLink()));
    }
    presence.on('outgoing', ({ clients, origin, renewal }) => {
      // Only where the peer would not hear it otherwise: no redundant relays over direct links.
      const owners = clients.map((c) => presence.peerOfClient(c));
      if (busSync && !fromBus(origin)) busSync.presence(clients);
      this.#relay(origin ?? undefined, (box, to) => {
        // Our heartbeat, unchanged: a linked peer whose link vouches for us (it closes when
        // we fall silent) needs it only to pass on, to peers not linked to us.
        if (renewal && links.watched(to) && !routing.relaysOurs(to)) return;
        clients.forEach((c, i) => routing.shouldRelayPresence(owners[i], to) && box.clients.add(c));
      });
    });
    presence.on('joined', (peer) => this.#events.emit('device-joined', peer));
    presence.on('left', (peer) => {
      // Calls to a peer reached through others end when it is gone, not at their time limit.
      if (!links.isUp(peer)) rpc.peerLeft(peer);
      this.#events.emit('device-left', peer);
    });

    const onUpdate = (update: Uint8Array, origin: unknown): void => {
      this.#missing.clear();
      // Flood: forward what we had not seen to everyone but the peer it came from.
      const from = typeof origin === 'string' && origin !== LOCAL_ORIGIN ? origin : undefined;
      if (busSync && !fromBus(origin)) busSync.update(update);
      this.#relay(from, (box) => box.updates.push(update));
    };
    this.registry.doc.on('update', onUpdate);
    this.#offDoc = () => this.registry.doc.off('update', onUpdate);

    links.on('up', (peer) => {
      if (!this.#overBus(peer)) {
        links.send(peer, { t: 'sync1', sv: stateVector(this.registry.doc) }).catch((e: unknown) => log.debug(`sync1 to ${peer}: ${(e as Error).message}`));
        links.send(peer, { t: 'aware', u: presence.encodeAll() }).catch((e: unknown) => log.debug(`presence to ${peer}: ${(e as Error).message}`));
      }
      routing.linksChanged();
      this.#events.emit('link-up', peer);
    });
    links.on('down', (peer) => {
      routing.linksChanged();
      rpc.peerLeft(peer);
      presence.forget(peer);
      this.#events.emit('link-down', peer);
    });
    // A link closed under calls in flight while another transport still reaches the peer.
    links.on('moved', (peer) => rpc.resend(peer));
    links.on('rejected', (r) => this.#events.emit('link-rejected', r));
    links.on('suspect', (peer) => this.#events.emit('link-suspect', peer));
    if (trust) {
      // A revocation cuts the member off at once: its links drop, presence sees it leave.
      this.#offRevocations = this.registry.on('change', ({ map }) => {
        this.#standings.clear();
        if (map !== 'devices') return;
        // Presence too: relayed heartbeats would otherwise keep a revoked peer alive until they time out.
        for (const id of this.registry.doc.getMap('trust').keys()) {
          if (!id.startsWith(REVOKED_PREFIX)) continue;
          const key = id.slice(REVOKED_PREFIX.length);
          if (trust.isRevoked(key, lookup)) presence.exclude(peerIdOfKey(key));
        }
        for (const peer of links.up()) {
          const key = links.publicKey(peer);
          if (key && trust.isRevoked(toHex(key), lookup)) {
            log.warn(`disconnecting ${peer}: an owner revoked its key`);
            links.expel(peer, new NotAMemberError(`peer ${peer} was revoked by an owner`));
          }
        }
      });
    }
    links.on('message', ({ from, message }) => this.#onMessage(from, message));
    links.on('fragment', ({ from, key, received, total, bytes }) => rpc.progress(from, key, { received, total, bytes }));
    links.on('bulk', ({ from, piece }) => {
      if (!this.#bulk.deliver(from, piece)) this.#log.debug(`dropping a bulk piece from ${from}: stream ${piece.stream} is not open for it`);
    });

    await links.start();
    busSync?.start();
    const rounds = new AntiEntropyRounds();
    this.#stopAntiEntropy = every(this.clock, this.#timing.antiEntropyMs, () => {
      const sync1: WireMessage = { t: 'sync1', sv: stateVector(this.registry.doc) };
      for (const peer of rounds.next(links.up().filter((p) => !this.#overBus(p)))) links.send(peer, sync1).catch((e: unknown) => log.debug(`sync1 to ${peer}: ${(e as Error).message}`));
      const telemetry = this.#telemetry();
      const published = presence.state(identity.id)?.telemetry;
      if (!published || telemetryMoved(published, telemetry)) presence.setTelemetry(telemetry);
    });
    this.#state = 'running';
  }

  /**
   * Leave the mesh: announce departure, fail pending calls, disconnect. Idempotent.
   * The goodbye goes to every linked peer before the first `await`, so a page that calls
   * this from `pagehide` (and is gone a moment later) still sends it.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopped';
    this.#stopAntiEntropy?.();
    this.#checkpointer?.stop();
    this.#routing?.stop();
    const goodbye = this.leave();
    this.#presence?.destroy();
    this.#busSync?.stop();
    // Sent, not just queued, before the links close (bounded: a stuck link must not hold us).
    let bound: TimerHandle | undefined;
    await Promise.race([goodbye, new Promise<void>((r) => (bound = this.clock.setTimeout(() => r(), 1000)))]);
    if (bound !== undefined) this.clock.clearTimeout(bound);
    this.#offDoc?.();
    this.#offDirect?.();
    this.#offRevocations?.();
    this.#rpc?.close();
    this.#offered.clear();
    await this.#links?.stop();
    // Last, so what arrived before the links closed is saved too.
    const persistence = this.#persistence;
    if (persistence) {
      await persistence.close().catch((e: unknown) => this.#log.error('could not save the registry on stop', e));
    }
    this.#events.clear();
  }

  /**
   * Say goodbye now, synchronously: our presence removal goes to every linked peer (they
   * see us leave at once and relay it) and heartbeats stop; calls are still served until
   * `stop`. For a page about to be frozen or closed, where nothing after the current task
   * may run. Resolves when every send settled. Idempotent; `stop` calls it too.
   */
  leave(): Promise<unknown> {
    if (this.#goodbye) return this.#goodbye;
    const links = this.#links;
    const presence = this.#presence;
    if (!links || !presence) return Promise.resolve();
    const message: WireMessage = { t: 'aware', u: presence.leave() };
    this.#busSync?.goodbye(message.u);
    this.#goodbye = Promise.allSettled(links.up().map((peer) => links.send(peer, message)));
    return this.#goodbye;
  }

  /**
   * Resolves once every registry change made so far is in this peer's store, so it
   * survives a crash (at once when the registry is not persisted).
   */
  async registrySaved(): Promise<void> {
    await this.#persistence?.saved();
  }

  /** Call `method` on `peer` over the mesh (or locally for our own id). */
  call<K extends MethodName<MeshMethods>>(peer: PeerId, method: K, params: ParamsOf<MeshMethods, K>, options?: CallOptions): Promise<ResultOf<MeshMethods, K>> {
    return this.rpc.call(peer, method, params, options);
  }

  /**
   * The blob `hash` from the local store, or else fetched range by range from a linked
   * peer that has it (resuming from another one if that peer fails), verified against its
   * sha256 and stored (or, with `keep: false`, handed back unstored). Rejects with ERR_BLOB_NOT_FOUND, ERR_HASH_MISMATCH, ERR_ABORTED,
   * ERR_INVALID_HASH or ERR_NOT_CONNECTED (peer not running). The bytes may be the
   * store's own: read them, never write into them. See `blob-fetch.ts`.
   */
  async fetchBlob(hash: string, options: FetchBlobOptions = {}): Promise<Uint8Array> {
    if (this.#state !== 'running') throw new NotConnectedError('peer is not running');
    const bulk = this.#bulk;
    const links = this.#links;
    return fetchFromMesh({
      blobs: this.store.blobs,
      peers: () => this.reachable(),
      rpc: this.rpc,
      logger: this.#log.child('blobs'),
      // Pieces come only over a direct link; a peer reached through others answers inline.
      openStream: (from, sink) => (links?.isUp(from) ? bulk.open(from, sink) : undefined),
      ...(this.#options.sha256 ? { sha256: this.#options.sha256 } : {}),
    }, hash, options);
  }

  /**
   * Serve `bytes` to the mesh from memory, as a blob named by their sha256 (returned),
   * without writing them to the store: for bytes that other peers fetch once, such as a
   * migration's snapshot. Linked peers find and fetch them like any blob until
   * `withdrawBlob(hash)`; offering the same bytes twice needs two withdrawals. The bytes
   * are served as they are, so the caller must not change them while offered.
   */
  async offerBlob(bytes: Uint8Array): Promise<string> {
    const hash = await sha256Hex(bytes);
    const entry = this.#offered.get(hash);
    if (entry) entry.holds++;
    else this.#offered.set(hash, { bytes, holds: 1 });
    return hash;
  }

  /** Stop serving an offered blob (see `offerBlob`); true if it was offered. */
  withdrawBlob(hash: string): boolean {
    const entry = this.#offered.get(hash);
    if (!entry) return false;
    if (--entry.holds === 0) this.#offered.delete(hash);
    return true;
  }

  /** The synchronous zlib this peer was given (`PeerOptions.deflate`), if any. */
  get deflate(): Deflate | undefined {
    return this.#options.deflate;
  }

  /** The incremental SHA-256 this peer was given (`PeerOptions.sha256`), if any. */
  get sha256(): Sha256Factory | undefined {
    return this.#options.sha256;
  }

  /**
   * Open a stream of bulk pieces from `from` (ADR 0031): each piece it sends on the stream
   * goes to `sink`, until `close`; pieces from anyone else are dropped. Undefined without
   * an authenticated direct link to `from` (pieces never travel through other peers).
   */
  openBulkStream(from: PeerId, sink: BulkSink): OpenStream | undefined {
    return this.#links?.isUp(from) ? this.#bulk.open(from, sink) : undefined;
  }

  /**
   * Send `bytes` as the bulk pieces of `to`'s stream `stream` from `offset` on, over the
   * direct link; a message sent after this resolves travels behind them. Rejects with
   * ERR_PEER_UNREACHABLE without a direct link.
   */
  sendBulk(to: PeerId, stream: number, offset: number, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    const links = this.#links;
    if (!links?.isUp(to)) return Promise.reject(new PeerUnreachableError(`no direct link to ${to}`));
    return links.sendBulk(to, stream, offset, bytes, signal);
  }

  /** True while a link handshake is in progress. */
  get busy(): boolean {
    return this.#links?.busy ?? false;
  }

  /** Resolves once no link handshake is in progress (used by the simulator for exact replays). */
  async idle(): Promise<void> {
    await this.#links?.idle();
  }

  /** Whether this peer collects and digests registry and presence for the mesh bus now (ADR 0023). */
  get collecting(): boolean {
    return this.#busSync?.collecting ?? false;
  }

  /** Peers with an authenticated direct link. */
  linked(): PeerId[] {
    return this.#links?.up() ?? [];
  }

  /** The transports `peer` is authenticated on, in our order of preference: direct messages go over the first. */
  transportsOf(peer: PeerId): Transport[] {
    return this.#links?.transportsOf(peer) ?? [];
  }

  /**
   * Peers this one can call: linked ones first, then those reached through others,
   * nearest first.
   */
  reachable(): PeerId[] {
    return [...this.linked(), ...(this.#routing?.routed() ?? [])];
  }

  /** Hops to `peer` over the mesh's links (1 when linked), or undefined when no path is known. */
  hops(peer: PeerId): number | undefined {
    if (this.#links?.isUp(peer)) return 1;
    return this.#routing?.topology.hops(peer);
  }

  /** Routed messages this peer passed on for others. */
  get forwarded(): number {
    return this.#routing?.router.forwarded ?? 0;
  }

  /** Peers alive according to presence (ourselves excluded). */
  alive(): PeerId[] {
    return this.#presence?.alive() ?? [];
  }

  /** Presence state (name, telemetry) of a live peer or ourselves. */
  presenceOf(peer: PeerId): PresenceState | undefined {
    return this.#presence?.state(peer);
  }

  /** Report our telemetry now (also refreshed on every anti-entropy round). */
  setTelemetry(telemetry: Telemetry): void {
    this.#presence?.setTelemetry(telemetry);
  }

  /** True when `peer` is linked over the bus's transport: the bus carries registry and presence to it. */
  #overBus(peer: PeerId): boolean {
    const bus = this.#options.bus;
    return bus !== undefined && this.#links?.transportOf(peer) === bus.transport;
  }

  /** Queue something for every linked peer except `except` (and those the bus reaches), and schedule the flush. */
  #relay(except: PeerId | undefined, add: (box: { updates: Uint8Array[]; clients: Set<number> }, to: PeerId) => void): void {
    for (const peer of this.linked()) {
      if (peer === except || this.#overBus(peer)) continue;
      let box = this.#outbox.get(peer);
      if (!box) this.#outbox.set(peer, (box = { updates: [], clients: new Set() }));
      add(box, peer);
    }
    if (this.#flushPending) return;
    this.#flushPending = true;
    const flush = (): void => this.#flush();
    if (this.#timing.relayBatchMs > 0) this.clock.setTimeout(flush, this.#timing.relayBatchMs);
    else queueMicrotask(flush);
  }

  #flush(): void {
    this.#flushPending = false;
    const links = this.#links;
    const presence = this.#presence;
    if (!links || !presence || this.#state === 'stopped') return;
    // Most peers get the same presence clients: each set is encoded once per flush.
    const encoded = new Map<string, Uint8Array>();
    for (const [peer, box] of this.#outbox) {
      const send = (message: WireMessage): void => {
        links.send(peer, message).catch((e: unknown) => this.#log.debug(`relay to ${peer}: ${(e as Error).message}`));
      };
      if (box.updates.length > 0) send({ t: 'update', u: box.updates.length === 1 ? box.updates[0]! : Y.mergeUpdates(box.updates) });
      if (box.clients.size > 0) {
        const key = [...box.clients].join(',');
        let u = encoded.get(key);
        if (!u) encoded.set(key, (u = presence.encode(box.clients)));
        send({ t: 'aware', u });
      }
    }
    this.#outbox.clear();
  }

  #describe(): DeviceDescription {
    const d = this.#options.device;
    const description: DeviceDescription = {
      id: this.id,
      name: d.name,
      engine: d.engine,
      publicKey: toHex(this.identity.publicKey),
      platform: d.platform ?? { cpu: { humanReadableName: 'unknown', cores: 1 }, memory: { bytes: 0 } },
      capabilities: d.capabilities ?? [],
      version: HOST_VERSION,
      startedAt: this.#wallClock(),
    };
    if (d.simulated) description.simulated = d.simulated;
    if (d.addresses && d.addresses.length > 0) description.addresses = d.addresses;
    if (d.browser) description.browser = d.browser;
    if (d.policy) description.policy = d.policy;
    return description;
  }

  #standingOf(peer: PeerId, key: string, trust: MeshTrust, lookup: (id: string) => unknown): Standing {
    let standing = this.#standings.get(peer);
    const expires = standing?.role !== undefined ? (standing.grant?.expires ?? 0) : 0;
    if (!standing || (expires !== 0 && expires < this.#wallClock())) {
      standing = trust.standing(key, lookup);
      if (this.#standings.size > 10_000) this.#standings.clear();
      this.#standings.set(peer, standing);
    }
    return standing;
  }

  /** Whether `peer` hosts a step (or a copy, or the coordination) of deployment `id`. */
  #takesPart(peer: PeerId, id: string | undefined): boolean {
    if (id === undefined) return false;
    const record = this.registry.deployments.get(id)?.record;
    if (!record) return false;
    if (record.coordinator === peer || Object.values(record.solution).includes(peer)) return true;
    if (record.migration && (record.migration.from === peer || record.migration.to === peer)) return true;
    return Object.values(record.replicas ?? {}).some((peers) => peers.includes(peer));
  }

  /** Publish a new capability policy in this peer's device description (its owner changed it). */
  describePolicy(policy: CapabilityPolicy): void {
    this.#options.device.policy = policy;
    const current = this.registry.devices.get(this.id);
    try {
      this.registry.devices.set({ ...this.#describe(), ...(current ? { startedAt: current.startedAt } : {}) });
    } catch (error) {
      // A peer without a role may not write its description; the policy still applies here.
      this.#log.error(`could not publish this device's capability policy: ${(error as Error).message}`);
    }
  }

  #telemetry(): Telemetry {
    const seconds = this.#timing.antiEntropyMs / 1000;
    const callsPerSecond = this.#callsServed / seconds;
    this.#callsServed = 0;
    const load = this.#options.sampleLoad?.() ?? { cpu: 0, memory: 0 };
    const clamp = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);
    return { cpu: clamp(load.cpu), memory: clamp(load.memory), callsPerSecond };
  }

  #onMessage(from: PeerId, message: WireMessage): void {
    const doc = this.registry.doc;
    switch (message.t) {
      case 'sync1': {
        // Only ordinary state vectors are kept: a huge one (hostile or not) is answered, not cached.
        const key = message.sv.byteLength <= MISSING_CACHE_KEY_BYTES ? toHex(message.sv) : undefined;
        let update = key === undefined ? undefined : this.#missing.get(key);
        if (!update) {
          update = missingUpdate(doc, message.sv);
          if (key !== undefined) {
            if (this.#missing.size >= MISSING_CACHE_ENTRIES) this.#missing.clear();
            this.#missing.set(key, update);
          }
        }
        if (!isEmptyUpdate(update)) this.#links?.send(from, { t: 'sync2', u: update }).catch((e: unknown) => this.#log.debug(`sync2 to ${from}: ${(e as Error).message}`));
        return;
      }
      case 'sync2':
      case 'update': {
        const error = applyRemoteUpdate(doc, message.u, from);
        if (error) this.#log.warn(`from ${from}: ${error}`);
        return;
      }
      case 'aware': {
        const error = this.#presence?.apply(message.u, from);
        if (error) this.#log.warn(`from ${from}: ${error}`);
        return;
      }
      case 'rpc':
        this.#rpc?.receive(from, message.f);
        return;
      case 'route':
        this.#routing?.receive(from, message);
        return;
      default:
        this.#log.warn(`unexpected ${message.t} message from ${from}`);
    }
  }

  #serveCoreMethods(rpc: Rpc<MeshMethods>): void {
    rpc.handle('peer.describe', () => this.registry.devices.get(this.id) ?? this.#describe());
    rpc.handle('peer.ping', ({ sentAt }) => ({ sentAt, peer: this.id }));
    rpc.handle('blob.has', async ({ hash }) => {
      const offered = this.#offered.get(hash);
      if (offered) return { has: true, size: offered.bytes.byteLength };
      if (!(await this.store.blobs.has(hash))) return { has: false, size: 0 };
      // A zero-length read gives the size without loading the blob.
      return { has: true, size: (await this.store.blobs.read(hash, 0, 0)).size };
    });
    rpc.handle('blob.read', async ({ hash, offset, length, stream }, context) => {
      if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || length > 16 * 1024 * 1024) {
        throw new InvalidParamsError('blob.read wants integer offset >= 0 and 0 <= length <= 16 MiB');
      }
      if (stream !== undefined && (!Number.isSafeInteger(stream) || stream < 0)) throw new InvalidParamsError('blob.read wants a stream that is an integer >= 0');
      const offered = this.#offered.get(hash);
      const range = offered
        ? { bytes: offered.bytes.subarray(offset, offset + length), size: offered.bytes.byteLength }
        : await this.store.blobs.read(hash, offset, length).catch((e: unknown) => {
          throw e instanceof Error && 'code' in e ? e : new BlobNotFoundError(`no blob ${hash}`);
        });
      const links = this.#links;
      if (stream === undefined || !links?.isUp(context.from)) return range;
      // The pieces go ahead of this answer on the same link, so the caller has them all when it arrives.
      await links.sendBulk(context.from, stream, offset, range.bytes, context.signal);
      return { size: range.size, streamed: range.bytes.byteLength };
    });
  }
}

/** Re-exported so callers can build documents for tests without importing yjs themselves. */
export { Y };

/** Whether sampled telemetry differs enough from what was published to publish it (see TELEMETRY_STEP). */
function telemetryMoved(published: Telemetry, now: Telemetry): boolean {
  return now.callsPerSecond !== published.callsPerSecond || Math.abs(now.cpu - published.cpu) >= TELEMETRY_STEP || Math.abs(now.memory - published.memory) >= TELEMETRY_STEP;
}
