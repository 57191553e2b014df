/**
 * Registry and presence over a mesh bus (ADR 0023) instead of flooding them over links:
 * messages per peer at rest stay bounded however large the mesh grows.
 *
 * - Every peer publishes its own registry updates and heartbeats (and those it heard over
 *   links from peers without the bus) on `up`, merged over `batchMs`.
 * - A few **collectors** (the `collectors` lowest ids among the peers alive, stepping up
 *   one at a time by rank, see {@link BusSync} `#review`; a collector steps down only when
 *   it hears that many lower ids digesting, so views that differ do not make it flap)
 *   subscribe to `up`, apply what arrives and publish a digest
 *   on `down`: the registry updates merged over `batchMs`, and every heartbeat period the
 *   presence of everyone alive, full states only where they changed and renewals
 *   (client, clock) for the rest (full every {@link FULL_EVERY}th digest). A peer thus
 *   hears a few digests per period, not one heartbeat per peer.
 * - A joiner asks one peer (`state`, a NATS queue group every peer is in) for the
 *   registry it lacks and the presence it has not heard; every `antiEntropyMs` a peer asks
 *   again for the registry only, and sends on `up` what the answer's state vector shows
 *   the answerer lacks (push-pull), which repairs what an at-most-once bus lost. A peer
 *   that finds itself behind (a digest's update waits for content it never received, or
 *   renews presence it never heard) asks one collector at once, not a random peer later.
 *
 * Every message is signed by its sender's identity (Ed25519) inside the mesh-key seal:
 * the sender is known, a revoked member is refused (`admit`), and the registry's own
 * signatures (ADR 0025) still judge each entry. A collector vouches for the presence it
 * relays, as relays over links did (ADR 0029).
 * @module
 */
import * as Y from 'yjs';
import { bytesEqual, concatBytes, toHex, utf8 } from '../bytes.ts';
import type { MeshError } from '../errors.ts';
import type { Identity } from '../identity/identity.ts';
import { verifySync } from '../identity/ed25519-sync.ts';
import type { Logger } from '../log.ts';
import { type Clock, every } from '../ports/clock.ts';
import type { MeshBus } from '../ports/mesh-bus.ts';
import type { PeerId } from '../ports/transport.ts';
import type { Presence } from '../registry/presence.ts';
import { applyRemoteUpdate, isEmptyUpdate, missingUpdate, stateVector } from '../registry/sync.ts';
import { peerIdOfKey } from '../trust/keys.ts';

/** Origins of what arrives over the bus start so (`bus:<sender>`): never sent back to it, nor over its transport's links. */
export const BUS_ORIGIN = 'bus:';

/** Every this many digests, a collector sends every state in full (for peers that missed a change). */
export const FULL_EVERY = 6;


const CONTEXT = utf8('liquidmesh-bus-v1');
/** Flags of a state request: answer with everyone's presence; compare whole documents, deletions included. */
const ASK_PRESENCE = 1;
const ASK_FULL = 2;
const UP = 1;
const DIGEST = 2;
const ASK = 3;
const ANSWER = 4;
const HEAD = 1 + 32 + 64;

/** Options of {@link BusSync}. */
export interface BusSyncOptions {
  bus: MeshBus;
  identity: Identity;
  doc: Y.Doc;
  presence: Presence;
  clock: Clock;
  logger: Logger;
  heartbeatMs: number;
  /** Updates are merged over this long before they go out. */
  batchMs: number;
  antiEntropyMs: number;
  /** How many collectors the mesh keeps (default 2). */
  collectors?: number;
  /** A named error refuses a sender (a revoked member). */
  admit?: (peer: PeerId, publicKey: Uint8Array) => MeshError | undefined;
}

/** Parts of an `up`, a digest or an answer. */
interface Parts {
  registry: Uint8Array | null;
  presence: Uint8Array | null;
  renewals: Uint32Array | null;
  /** An answer's state vector: the requester sends on `up` what the answerer lacks. */
  sv?: Uint8Array | null;
}

/** A peer's registry and presence over the bus (see the module comment). */
export class BusSync {
  readonly #o: BusSyncOptions;
  readonly #k: number;
  readonly #self: PeerId;
  #collector: (() => void) | null = null;
  /** What we publish on `up` at the next flush. */
  #outUpdates: Uint8Array[] = [];
  readonly #outClients = new Set<number>();
  #outPending = false;
  /** What a collector puts in its next digest. */
  #digestUpdates: Uint8Array[] = [];
  #digestPending = false;
  readonly #sent = new Map<number, string>();
  #digests = 0;
  /** Until the first answer (or its time limit), a joiner does not make itself a collector. */
  #joined = false;
  #askedPresenceAt = -Infinity;
  /** Anti-entropy rounds so far. */
  #rounds = 0;
  /** Peers whose digests we heard, and when last. */
  readonly #digesters = new Map<PeerId, number>();
  /** Since when it has been our turn to collect (see #review); null while it is not. */
  #dueSince: number | null = null;
  /** When we last asked a collector to catch up. */
  #caughtUpAt = -Infinity;
  /** Since when an update from the bus has waited for content we lack (null: none waits). */
  #pendingSince: number | null = null;
  #stopped = false;
  readonly #stops: (() => void)[] = [];

  constructor(options: BusSyncOptions) {
    this.#o = options;
    this.#k = Math.max(1, options.collectors ?? 2);
    this.#self = options.identity.id;
  }

  /** Whether this peer collects and digests for the mesh now. */
  get collecting(): boolean {
    return this.#collector !== null;
  }

  /** Listen to digests, ask for the state we lack, and keep our role under review. */
  start(): void {
    const o = this.#o;
    this.#stops.push(o.bus.subscribe('down', (data) => this.#receive(data)));
    this.#stops.push(o.bus.subscribe('state', (data, respond) => this.#answer(data, respond)));
    this.#stops.push(every(o.clock, o.heartbeatMs, () => this.#tick()));
    // Every FULL_EVERYth round compares whole documents, deletions included (see #answer).
    this.#stops.push(every(o.clock, o.antiEntropyMs, () => void this.#ask(false, this.#rounds++ % FULL_EVERY === 0)));
    void this.#ask(true).finally(() => {
      this.#joined = true;
      this.#review();
      // What we hold already (our own device at least) reaches the mesh through the
      // collectors, now that the answer told us of them (or we are one).
      this.update(Y.encodeStateAsUpdate(o.doc));
    });
  }

  /** A registry update made here or heard over a link (not from the bus): it goes on `up`. */
  update(update: Uint8Array): void {
    this.#outUpdates.push(update);
    this.#scheduleOut();
  }

  /** Awareness clients changed here or over a link: their states go on `up`. */
  presence(clients: Iterable<number>): void {
    for (const c of clients) this.#outClients.add(c);
    this.#scheduleOut();
  }

  /**
   * Say goodbye: our presence removal goes to everyone at once on `down` (a collector would
   * not carry a removal in its digests) and to the collectors on `up`.
   */
  goodbye(removal: Uint8Array): void {
    if (this.#stopped) return;
    const parts = encodeParts({ registry: null, presence: removal, renewals: null });
    this.#o.bus.publish('down', this.#sign(DIGEST, parts));
    this.#o.bus.publish('up', this.#sign(UP, parts));
  }

  /** Stop everything. */
  stop(): void {
    this.#flushOut();
    this.#stopped = true;
    this.#stepDown();
    for (const stop of this.#stops.splice(0)) stop();
  }

  #scheduleOut(): void {
    if (this.#outPending || this.#stopped) return;
    this.#outPending = true;
    this.#o.clock.setTimeout(() => this.#flushOut(), this.#o.batchMs);
  }

  #flushOut(): void {
    this.#outPending = false;
    if (this.#stopped) return;
    const registry = this.#outUpdates.length === 0 ? null : this.#outUpdates.length === 1 ? this.#outUpdates[0]! : Y.mergeUpdates(this.#outUpdates);
    const presence = this.#outClients.size === 0 ? null : this.#o.presence.encode(this.#outClients);
    this.#outUpdates = [];
    this.#outClients.clear();
    if (!registry && !presence) return;
    // A collector hears its own `up` only through its digest; other collectors hear it on `up`.
    if (this.#collector && registry) this.#toDigest(registry);
    this.#o.bus.publish('up', this.#sign(UP, encodeParts({ registry, presence, renewals: null })));
  }

  #toDigest(update: Uint8Array): void {
    this.#digestUpdates.push(update);
    if (this.#digestPending) return;
    this.#digestPending = true;
    this.#o.clock.setTimeout(() => {
      this.#digestPending = false;
      if (this.#collector) this.#publishDigest(false);
    }, this.#o.batchMs);
  }

  #publishDigest(withPresence: boolean): void {
    const registry = this.#digestUpdates.length === 0 ? null : Y.mergeUpdates(this.#digestUpdates);
    this.#digestUpdates = [];
    let presence: Uint8Array | null = null;
    let renewals: Uint32Array | null = null;
    if (withPresence) {
      const d = this.#o.presence.encodeDigest(this.#sent, this.#digests++ % FULL_EVERY === 0);
      presence = d.update;
      renewals = d.renewals.length > 0 ? d.renewals : null;
    }
    if (!registry && !presence && !renewals) return;
    this.#o.bus.publish('down', this.#sign(DIGEST, encodeParts({ registry, presence, renewals })));
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#review();
    this.#catchUpIfBehind();
    if (this.#collector) this.#publishDigest(true);
  }

  /**
   * Become a collector, or step down. It is our turn when fewer than `collectors` lower ids
   * are heard digesting and either we rank among the `collectors` lowest, or the mesh is
   * short of collectors as we hear it. We step up once our turn has lasted one window (two
   * heartbeat periods) per rank, plus one: the lowest first, the next a window later, each
   * hearing whoever stepped up before it. Before, peers stepped up as soon as their rank
   * allowed, or all together after three windows without a digest: a crowd still joining,
   * or a process so far behind that presence had timed everyone out, had whole processes
   * collect at once (70 of 125 seen at a thousand), each then hearing every heartbeat, which
   * put them further behind. A collector steps down only when it hears `collectors` lower
   * ids digesting, not by rank: lower ids may not have stepped up yet, and stepping down for
   * them early left the mesh with none (seen at a thousand).
   */
  #review(): void {
    if (this.#stopped || !this.#joined) return;
    const now = this.#o.clock.now();
    const window = 2 * this.#o.heartbeatMs;
    let lower = 0;
    for (const [peer, at] of this.#digesters) {
      if (now - at > window) this.#digesters.delete(peer);
      else if (peer < this.#self) lower++;
    }
    if (this.#collector) {
      this.#dueSince = null;
      if (lower >= this.#k) this.#stepDown();
      return;
    }
    const rank = this.#rank();
    if (lower >= this.#k || (rank >= this.#k && this.#digesters.size >= this.#k)) {
      this.#dueSince = null;
      return;
    }
    this.#dueSince ??= now;
    if (now - this.#dueSince >= window * (1 + rank)) this.#stepUp();
  }

  /**
   * How many ids rank below ours: among the peers alive, when presence holds at least half
   * the devices the registry lists; otherwise (a crowd still joining, or a process so far
   * behind that presence timed everyone out, where by that view nearly every peer ranks
   * lowest) among the registry's devices, which every peer of the mesh ranks alike.
   */
  #rank(): number {
    const alive = this.#o.presence.alive();
    const devices = this.#o.doc.getMap('devices');
    let rank = 0;
    if (2 * (alive.length + 1) >= devices.size) {
      for (const peer of alive) if (peer < this.#self) rank++;
    } else {
      for (const id of devices.keys()) if (id < this.#self) rank++;
    }
    return rank;
  }

  #stepUp(): void {
    const bus = this.#o.bus;
    this.#o.logger.debug('collecting for the mesh');
    this.#sent.clear();
    this.#digests = 0;
    const up = bus.subscribe('up', (data) => this.#receive(data));
    const asks = bus.subscribe('collectors', (data, respond) => this.#answer(data, respond));
    this.#collector = () => {
      up();
      asks();
    };
    // What was published before we collected: pull it from one peer (and push what it lacks).
    void this.#ask(false, true);
  }

  #stepDown(): void {
    if (!this.#collector) return;
    this.#o.logger.debug('no longer collecting');
    this.#collector();
    this.#collector = null;
    this.#digestUpdates = [];
  }

  /** Ask a collector for everyone's presence, at most once a heartbeat period. */
  #askPresence(): void {
    const now = this.#o.clock.now();
    if (now - this.#askedPresenceAt < this.#o.heartbeatMs) return;
    this.#askedPresenceAt = now;
    void this.#ask(true, false, 'collectors');
  }

  /**
   * Behind: an update from the bus has waited a heartbeat period for content we never
   * received (Yjs holds it pending; for less, it is usually the other collector's digest
   * arriving second). Waiting for the next anti-entropy round with a random peer, itself
   * perhaps behind, left peers stuck for minutes at a thousand; one collector hears every
   * update, so ask it now (at most once a heartbeat period).
   */
  #catchUpIfBehind(): void {
    const store = this.#o.doc.store;
    const now = this.#o.clock.now();
    if (store.pendingStructs === null && store.pendingDs === null) {
      this.#pendingSince = null;
      return;
    }
    this.#pendingSince ??= now;
    if (now - this.#pendingSince < this.#o.heartbeatMs) return;
    if (now - this.#caughtUpAt < this.#o.heartbeatMs) return;
    this.#caughtUpAt = now;
    // A collector behind asks any peer: on the collectors' queue group it might reach itself.
    void this.#ask(false, false, this.#collector ? 'state' : 'collectors');
  }

  /** Ask one peer (or one collector) for what we lack (and, joining, for everyone's presence). */
  async #ask(withPresence: boolean, full = false, of: 'state' | 'collectors' = 'state'): Promise<void> {
    if (this.#stopped) return;
    const sv = stateVector(this.#o.doc);
    const answer = await this.#o.bus.request(this.#sign(ASK, concatBytes([new Uint8Array([(withPresence ? ASK_PRESENCE : 0) | (full ? ASK_FULL : 0)]), sv])), Math.max(1000, Math.min(5000, this.#o.heartbeatMs * 2)), of);
    if (answer && !this.#stopped) this.#receive(answer, full);
  }

  #answer(data: Uint8Array, respond: ((reply: Uint8Array) => void) | undefined): void {
    const message = this.#open(data);
    if (!message || message.type !== ASK || !respond || message.body.byteLength < 1 || message.from === this.#self) return;
    const theirs = message.body.subarray(1);
    const ours = stateVector(this.#o.doc);
    let registry: Uint8Array | null = null;
    // At rest the two state vectors are the same bytes (Yjs writes them sorted): no insert
    // is missing, and encoding what is missing walks the whole document (for its deletions),
    // every peer every round. A deletion alone leaves the vector as it was, so a full round
    // now and then still compares everything.
    if ((message.body[0]! & ASK_FULL) !== 0 || !bytesEqual(theirs, ours)) {
      try {
        registry = missingUpdate(this.#o.doc, theirs);
      } catch {
        return this.#o.logger.warn(`from ${message.from}: a state request with a malformed state vector`);
      }
    }
    const presence = (message.body[0]! & ASK_PRESENCE) !== 0 ? this.#o.presence.encodeAll() : null;
    respond(this.#sign(ANSWER, encodeParts({ registry: registry === null || isEmptyUpdate(registry) ? null : registry, presence, renewals: null, sv: ours })));
  }

  /** `full`: the answer to a full anti-entropy round (push what the answerer lacks even when the vectors match). */
  #receive(data: Uint8Array, full = false): void {
    if (this.#stopped) return;
    const message = this.#open(data);
    if (!message || message.from === this.#self) return;
    if (message.type === ASK) return;
    if (message.type === UP && !this.#collector) return;
    if (message.type === DIGEST) this.#digesters.set(message.from, this.#o.clock.now());
    const parts = decodeParts(message.body);
    if (!parts) return this.#o.logger.warn(`from ${message.from}: a malformed bus message`);
    const origin = `${BUS_ORIGIN}${message.from}`;
    if (parts.registry) {
      // Only what was new here goes into a digest (the rest everyone has, or will get from whoever sent it).
      const fresh: Uint8Array[] = [];
      const collect = (update: Uint8Array): void => void fresh.push(update);
      this.#o.doc.on('update', collect);
      const error = applyRemoteUpdate(this.#o.doc, parts.registry, origin);
      this.#o.doc.off('update', collect);
      if (error) this.#o.logger.warn(`from ${message.from}: ${error}`);
      else if (message.type === UP) for (const update of fresh) this.#toDigest(update);
      if (message.type === DIGEST) this.#catchUpIfBehind();
    }
    if (parts.presence) {
      const error = this.#o.presence.apply(parts.presence, origin);
      if (error) this.#o.logger.warn(`from ${message.from}: ${error}`);
    }
    // Renewals of states we never had: a joiner whose first answer came from another joiner.
    if (parts.renewals && this.#o.presence.renew(parts.renewals) > 0) this.#askPresence();
    if (message.type === ANSWER && parts.sv && (full || !bytesEqual(parts.sv, stateVector(this.#o.doc)))) {
      // Push-pull: what the answerer lacks goes to the collectors (a lost `up` is repaired so).
      try {
        const missing = missingUpdate(this.#o.doc, parts.sv);
        if (!isEmptyUpdate(missing)) this.update(missing);
      } catch {
        this.#o.logger.warn(`from ${message.from}: an answer with a malformed state vector`);
      }
    }
  }

  #sign(type: number, body: Uint8Array): Uint8Array {
    const head = new Uint8Array(HEAD);
    head[0] = type;
    head.set(this.#o.identity.publicKey, 1);
    head.set(this.#o.identity.signSync(concatBytes([CONTEXT, new Uint8Array([type]), body])), 33);
    return concatBytes([head, body]);
  }

  /** The sender and body of a signed message; null when forged, malformed or refused. */
  #open(data: Uint8Array): { type: number; from: PeerId; body: Uint8Array } | null {
    if (data.byteLength < HEAD) return null;
    const type = data[0]!;
    const key = data.subarray(1, 33);
    const body = data.subarray(HEAD);
    const check = (): boolean => verifySync(key, data.subarray(33, HEAD), concatBytes([CONTEXT, new Uint8Array([type]), body]));
    // Peers of one process given the same plaintext check its signature once (bus-memo.ts).
    if (!(this.#o.bus.memo ? this.#o.bus.memo.verified(data, check) : check())) {
      this.#o.logger.warn('dropped a bus message with a bad signature');
      return null;
    }
    const from = peerIdOfKey(toHex(key));
    const refused = this.#o.admit?.(from, key);
    if (refused) {
      this.#o.logger.debug(`dropped a bus message from ${from}: ${refused.message}`);
      return null;
    }
    return { type, from, body };
  }
}


/** Four length-prefixed parts (registry update, awareness update, renewals, state vector); empty = absent. */
function encodeParts(p: Parts): Uint8Array {
  let renewals: Uint8Array | null = null;
  if (p.renewals) {
    renewals = new Uint8Array(p.renewals.length * 4);
    const view = new DataView(renewals.buffer);
    p.renewals.forEach((x, i) => view.setUint32(i * 4, x));
  }
  const parts = [p.registry, p.presence, renewals, p.sv ?? null];
  const out: Uint8Array[] = [];
  for (const part of parts) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, part?.byteLength ?? 0);
    out.push(len, part ?? new Uint8Array(0));
  }
  return concatBytes(out);
}

function decodeParts(body: Uint8Array): Parts | null {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const parts: (Uint8Array | null)[] = [];
  let at = 0;
  for (let i = 0; i < 4; i++) {
    if (at + 4 > body.byteLength) return null;
    const len = view.getUint32(at);
    at += 4;
    if (at + len > body.byteLength) return null;
    parts.push(len === 0 ? null : body.subarray(at, at + len));
    at += len;
  }
  const r = parts[2];
  if (r && r.byteLength % 8 !== 0) return null;
  let renewals: Uint32Array | null = null;
  if (r) {
    const rv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    renewals = new Uint32Array(r.byteLength / 4);
    for (let i = 0; i < renewals.length; i++) renewals[i] = rv.getUint32(i * 4);
  }
  return { registry: parts[0]!, presence: parts[1]!, renewals, sv: parts[3]! };
}
