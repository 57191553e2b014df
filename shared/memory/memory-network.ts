/**
 * An in-process network for unit tests and the simulator. Transports created from one
 * `MemoryNetwork` reach each other according to a link rule (all-to-all by default,
 * or e.g. hub-and-spoke), minus any partition. Delivery is asynchronous and FIFO in
 * `auto` mode; in `manual` mode messages wait in a queue that the simulator drains in
 * any order, dropping or duplicating some — the faults a real network can show.
 * @module
 */

import { Emitter, type Unsubscribe } from '../events.ts';
import { DuplicatePeerError, NotConnectedError, PayloadTooLargeError, PeerUnreachableError } from '../errors.ts';
import type { PeerId, Transport, TransportEvents } from '../ports/transport.ts';

/** A message waiting in a manual-mode network. */
export interface QueuedMessage {
  from: PeerId;
  to: PeerId;
  data: Uint8Array;
  /** Connection number of the pair when sent: a message never leaks into a later connection. */
  epoch: number;
  /** Position in the order of sending, over the whole network. */
  seq: number;
}

/** Options of a {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Which pairs may reach each other. Default: every pair. */
  links?: (a: PeerId, b: PeerId) => boolean;
  /**
   * The ids each id may reach, when the links are sparse: lets the network touch only
   * those pairs on every change (large simulations), instead of every pair. Must agree
   * with `links`.
   */
  neighbors?: (id: PeerId) => Iterable<PeerId>;
  /** Largest message a transport accepts (default 256 KiB, like a WebRTC data channel). */
  maxMessageSize?: number;
  /** `auto` (default): deliver asynchronously in order. `manual`: queue until drained. */
  delivery?: 'auto' | 'manual';
}

/** Link rule: every peer reaches only `hub`. */
export function hubAndSpoke(hub: PeerId): (a: PeerId, b: PeerId) => boolean {
  return (a, b) => a === hub || b === hub;
}

/** A set of in-memory transports that can reach each other. */
export class MemoryNetwork {
  readonly #links: (a: PeerId, b: PeerId) => boolean;
  readonly #neighbors: ((id: PeerId) => Iterable<PeerId>) | undefined;
  readonly #maxMessageSize: number;
  readonly #manual: boolean;
  readonly #attached = new Map<PeerId, MemoryTransport>();
  #partition: Map<PeerId, number> | null = null;
  // A FIFO that also gives up random elements: `#head` is the index of its first message,
  // so taking the first is O(1) even when a simulation queues hundreds of thousands.
  #queue: (QueuedMessage | undefined)[] = [];
  #head = 0;
  /** Per pair of ids, the number of the current connection (bumped whenever the pair reconnects). */
  readonly #epochs = new Map<string, number>();
  #nextEpoch = 1;
  #nextSeq = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.#links = options.links ?? (() => true);
    this.#neighbors = options.neighbors;
    this.#maxMessageSize = options.maxMessageSize ?? 256 * 1024;
    this.#manual = options.delivery === 'manual';
  }

  /** A new, unconnected transport on this network. */
  createTransport(): MemoryTransport {
    return new MemoryTransport(this, this.#maxMessageSize);
  }

  /** Ids of the connected transports. */
  connected(): PeerId[] {
    return [...this.#attached.keys()];
  }

  /**
   * Split the network: peers in different groups cannot reach each other; peers in no
   * group form one more group. `null` heals every partition.
   */
  setPartition(groups: PeerId[][] | null): void {
    if (groups === null) this.#partition = null;
    else {
      this.#partition = new Map();
      groups.forEach((g, i) => g.forEach((id) => this.#partition!.set(id, i)));
    }
    this.#refreshLinks();
  }

  /** Messages waiting in manual mode (a copy; see {@link queueLength} and {@link peek}). */
  get queue(): readonly QueuedMessage[] {
    return this.#queue.slice(this.#head) as QueuedMessage[];
  }

  /** Number of messages waiting in manual mode. */
  get queueLength(): number {
    return this.#queue.length - this.#head;
  }

  /** The waiting message at `index` (0 = oldest), if any. */
  peek(index: number): QueuedMessage | undefined {
    return index < 0 ? undefined : this.#queue[this.#head + index];
  }

  /**
   * Manual mode: deliver (and remove) the queued message at `index`. Index 0 keeps the
   * rest in order; any other index moves the last message into the gap (O(1) — the
   * simulator picks at random anyway).
   */
  deliver(index = 0): void {
    const msg = this.#take(index);
    if (msg) this.#handOver(msg);
  }

  /** Manual mode: deliver the queued message at `index` but keep a copy queued (a duplicate). */
  duplicate(index = 0): void {
    const msg = this.peek(index);
    if (msg) this.#handOver({ ...msg, data: msg.data.slice() });
  }

  /** Manual mode: drop the queued message at `index` (reordering as {@link deliver} does). */
  drop(index = 0): void {
    this.#take(index);
  }

  #take(index: number): QueuedMessage | undefined {
    const at = this.#head + index;
    if (index < 0 || at >= this.#queue.length) return undefined;
    if (index === 0) {
      const msg = this.#queue[at];
      this.#queue[at] = undefined;
      this.#head++;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      } else if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      return msg;
    }
    const last = this.#queue.pop();
    if (at === this.#queue.length) return last;
    const msg = this.#queue[at];
    this.#queue[at] = last;
    return msg;
  }

  /** Sequence number the next message will get. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /**
   * Manual mode: stably re-sort the messages sent since `seq` with `compare`. Messages
   * sent by concurrent asynchronous work (signatures finishing in any order) then sit in
   * an order that does not depend on timing, so a simulator seed replays exactly.
   */
  canonicalizeSince(seq: number, compare: (a: QueuedMessage, b: QueuedMessage) => number): void {
    // Messages are appended in sending order, so those sent since `seq` form the tail.
    let start = this.#queue.length;
    while (start > this.#head && this.#queue[start - 1]!.seq >= seq) start--;
    if (this.#queue.length - start < 2) return;
    const tail = (this.#queue.splice(start) as QueuedMessage[]).sort(compare);
    for (const m of tail) this.#queue.push(m);
  }

  /** Manual mode: deliver everything queued, in order, including what deliveries enqueue. */
  deliverAll(limit = Infinity): number {
    let n = 0;
    while (this.queueLength > 0 && n < limit) {
      this.deliver(0);
      n++;
    }
    return n;
  }

  /** True when `a` and `b` are both connected and the rules let them reach each other. */
  reachable(a: PeerId, b: PeerId): boolean {
    if (a === b || !this.#attached.has(a) || !this.#attached.has(b)) return false;
    if (!this.#links(a, b)) return false;
    const p = this.#partition;
    return p === null || (p.get(a) ?? -1) === (p.get(b) ?? -1);
  }

  /** @internal Called by a transport's connect. */
  attach(transport: MemoryTransport, id: PeerId): void {
    if (this.#attached.has(id)) throw new DuplicatePeerError(`peer id ${id} is already connected`);
    this.#attached.set(id, transport);
    for (const other of this.#candidates(id)) if (other !== id && this.#attached.has(other)) this.#refreshPair(id, other);
  }

  /** @internal Called by a transport's disconnect. */
  detach(id: PeerId): void {
    if (!this.#attached.delete(id)) return;
    this.#queue = this.#queue.slice(this.#head).filter((m) => m !== undefined && m.from !== id && m.to !== id);
    this.#head = 0;
    for (const [other, transport] of this.#attached) {
      if (this.#epochs.delete(pair(id, other))) transport.setLink(id, 0);
    }
  }

  /** @internal The number of the current connection between `a` and `b` (0: none). */
  epoch(a: PeerId, b: PeerId): number {
    return this.#epochs.get(pair(a, b)) ?? 0;
  }

  /** @internal Called by a transport's send. */
  enqueue(partial: Omit<QueuedMessage, 'seq'>): void {
    const msg: QueuedMessage = { ...partial, seq: this.#nextSeq++ };
    if (this.#manual) this.#queue.push(msg);
    else queueMicrotask(() => this.#handOver(msg));
  }

  #handOver(msg: QueuedMessage): void {
    // A message in flight when the link broke is lost, as on a real network.
    if (!this.reachable(msg.from, msg.to) || this.epoch(msg.from, msg.to) !== msg.epoch) return;
    this.#attached.get(msg.to)?.receive(msg.from, msg.data);
  }

  #refreshLinks(): void {
    if (this.#neighbors) {
      for (const id of this.#attached.keys()) {
        for (const other of this.#neighbors(id)) if (id < other && this.#attached.has(other)) this.#refreshPair(id, other);
      }
      return;
    }
    const ids = [...this.#attached.keys()];
    for (let i = 0; i < ids.length; i++) for (let j = i + 1; j < ids.length; j++) this.#refreshPair(ids[i]!, ids[j]!);
  }

  #candidates(id: PeerId): Iterable<PeerId> {
    return this.#neighbors ? this.#neighbors(id) : this.#attached.keys();
  }

  /** Bring the connection between two attached ids in line with the rules. */
  #refreshPair(a: PeerId, b: PeerId): void {
    const key = pair(a, b);
    const reachable = this.reachable(a, b);
    const current = this.#epochs.get(key) ?? 0;
    const ta = this.#attached.get(a)!;
    const tb = this.#attached.get(b)!;
    // A new connection when the pair becomes reachable, or when either side is a new transport.
    if (reachable && (current === 0 || !ta.hasEpoch(b, current) || !tb.hasEpoch(a, current))) {
      const epoch = this.#nextEpoch++;
      this.#epochs.set(key, epoch);
      ta.setLink(b, epoch);
      tb.setLink(a, epoch);
    } else if (!reachable && current !== 0) {
      this.#epochs.delete(key);
      ta.setLink(b, 0);
      tb.setLink(a, 0);
    }
  }
}

function pair(a: PeerId, b: PeerId): string {
  return a < b ? `${a} ${b}` : `${b} ${a}`;
}

/** A {@link Transport} on a {@link MemoryNetwork}. */
export class MemoryTransport implements Transport {
  readonly kind = 'memory';
  readonly maxMessageSize: number;
  readonly #network: MemoryNetwork;
  readonly #events = new Emitter<TransportEvents>();
  /** Reachable peers and the number of the connection to each. */
  readonly #joined = new Map<PeerId, number>();
  #id: PeerId | null = null;

  constructor(network: MemoryNetwork, maxMessageSize: number) {
    this.#network = network;
    this.maxMessageSize = maxMessageSize;
  }

  /** The id this transport connected with, or null. */
  get localId(): PeerId | null {
    return this.#id;
  }

  async connect(localId: PeerId): Promise<void> {
    if (this.#id !== null) return;
    this.#id = localId;
    try {
      this.#network.attach(this, localId);
    } catch (error) {
      this.#id = null;
      throw error;
    }
  }

  async send(to: PeerId, data: Uint8Array): Promise<void> {
    if (this.#id === null) throw new NotConnectedError('transport is not connected');
    if (data.byteLength > this.maxMessageSize) {
      throw new PayloadTooLargeError(`message of ${data.byteLength} bytes exceeds ${this.maxMessageSize}`);
    }
    const epoch = this.#joined.get(to);
    if (epoch === undefined) throw new PeerUnreachableError(`peer ${to} is not reachable`);
    this.#network.enqueue({ from: this.#id, to, data: data.slice(), epoch });
  }

  async disconnect(): Promise<void> {
    const id = this.#id;
    this.#events.clear();
    this.#joined.clear();
    this.#id = null;
    if (id !== null) this.#network.detach(id);
  }

  peers(): PeerId[] {
    return [...this.#joined.keys()];
  }

  on<K extends keyof TransportEvents>(event: K, listener: (payload: TransportEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /** @internal The network delivers a message. */
  receive(from: PeerId, data: Uint8Array): void {
    if (this.#joined.has(from)) this.#events.emit('message', { from, data });
  }

  /** @internal True when the link to `other` is connection number `epoch`. */
  hasEpoch(other: PeerId, epoch: number): boolean {
    return this.#joined.get(other) === epoch;
  }

  /** @internal The network sets the connection to `other` (epoch 0: none). */
  setLink(other: PeerId, epoch: number): void {
    const current = this.#joined.get(other) ?? 0;
    if (current === epoch) return;
    // A new connection under the same id: the old one leaves first.
    if (current !== 0) {
      this.#joined.delete(other);
      this.#announce('peer-left', other);
    }
    if (epoch !== 0) {
      this.#joined.set(other, epoch);
      this.#announce('peer-joined', other);
    }
  }

  #announce(event: 'peer-joined' | 'peer-left', other: PeerId): void {
    const id = this.#id;
    // Asynchronous like a real network; dropped if this transport disconnected meanwhile.
    queueMicrotask(() => {
      if (this.#id !== null && this.#id === id) this.#events.emit(event, other);
    });
  }
}
