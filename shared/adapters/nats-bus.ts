/**
 * The mesh bus over a NATS transport's connection (the MeshBus port, ADR 0023): three
 * subjects beside the transport's hello and inboxes, everything on them sealed with the
 * mesh key (AES-GCM), so the cluster sees sizes and timing, never contents, and a client
 * without the mesh secret can neither read nor inject.
 *
 * - `lm.<h>.up`: peers' own registry updates and heartbeats; only collectors subscribe.
 * - `lm.<h>.down`: collectors' digests; every peer subscribes.
 * - `lm.<h>.state`: a joiner's request, in the queue group `state` (NATS hands each to one
 *   subscriber); answered on the requester's `lm.<h>.rs.<id>`.
 * - `lm.<h>.cs`: the same requests for the collectors alone (queue group `cs`: one of
 *   them answers), so a peer behind catches up from a peer that hears every update.
 * - `lm.<h>.to.<id>`: messages for one peer (routed calls to a peer that no link path
 *   reaches; the caller signs them end to end, `shared/routing/router.ts`).
 * @module
 */
import type { BusMemo } from '../bus-memo.ts';
import type { Unsubscribe } from '../events.ts';
import { PayloadTooLargeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { BusChannel, MeshBus } from '../ports/mesh-bus.ts';
import type { Clock } from '../ports/clock.ts';
import type { PeerId, Transport } from '../ports/transport.ts';
import type { MeshKeys } from './mesh-secret.ts';

/** The part of a NATS connection the bus uses (the official `NatsConnection` fits it). */
export interface BusConnection {
  publish(subject: string, payload?: Uint8Array, options?: { reply?: string }): void;
  subscribe(subject: string, options: { queue?: string; callback: (error: Error | null, message: { data: Uint8Array; reply?: string }) => void }): { unsubscribe(): void };
}

/** What the bus needs of its transport once connected. */
export interface BusAccess {
  nc: BusConnection;
  keys: MeshKeys;
  self: PeerId;
}

interface Want {
  channel: BusChannel;
  handler: (data: Uint8Array, respond?: (reply: Uint8Array) => void) => void;
  sub: { unsubscribe(): void } | null;
}

/** The {@link MeshBus} of one NATS transport. */
export class NatsBus implements MeshBus {
  readonly transport: Transport;
  readonly #access: () => BusAccess | null;
  readonly #clock: Clock;
  readonly #log: Logger;
  /** The requester waiting for an answer (one request at a time per peer). */
  #waiting: ((reply: Uint8Array) => void) | null = null;
  #replies: { unsubscribe(): void } | null = null;
  /** Subscriptions asked for, made on each connection the transport opens. */
  readonly #wanted = new Set<Want>();
  readonly memo?: BusMemo;

  constructor(transport: Transport, access: () => BusAccess | null, clock: Clock, logger: Logger, memo?: BusMemo) {
    this.transport = transport;
    this.#access = access;
    this.#clock = clock;
    this.#log = logger;
    if (memo) this.memo = memo;
  }

  /** A cluster's `max_payload` is at least 1 MB (ADR 0023); this leaves room for the seal and headers. */
  readonly maxDirectBytes = 512 * 1024;

  publish(channel: 'up' | 'down', data: Uint8Array): void {
    const a = this.#access();
    if (!a) return;
    void this.#send(a, subjectOf(a.keys, channel), data);
  }

  sendTo(peer: PeerId, data: Uint8Array): void {
    if (data.byteLength > this.maxDirectBytes) throw new PayloadTooLargeError(`a bus message of ${data.byteLength} bytes exceeds ${this.maxDirectBytes}`);
    const a = this.#access();
    if (!a) return;
    void this.#send(a, `${subjectOf(a.keys, 'to')}.${peer}`, data);
  }

  subscribe(channel: BusChannel, handler: (data: Uint8Array, respond?: (reply: Uint8Array) => void) => void): Unsubscribe {
    const want: Want = { channel, handler, sub: null };
    this.#wanted.add(want);
    const a = this.#access();
    if (a) want.sub = this.#subscribe(a, want);
    return () => {
      this.#wanted.delete(want);
      want.sub?.unsubscribe();
      want.sub = null;
    };
  }

  /** The transport connected (again): subscribe whatever is wanted. */
  attach(): void {
    const a = this.#access();
    if (!a) return;
    for (const want of this.#wanted) want.sub ??= this.#subscribe(a, want);
  }

  #subscribe(a: BusAccess, { channel, handler }: Want): { unsubscribe(): void } {
    const subject = channel === 'direct' ? `${subjectOf(a.keys, 'to')}.${a.self}` : subjectOf(a.keys, channel === 'collectors' ? 'cs' : channel);
    return a.nc.subscribe(subject, {
      ...(channel === 'state' ? { queue: 'state' } : channel === 'collectors' ? { queue: 'cs' } : {}),
      callback: (error, message) => {
        if (error) return this.#log.debug(`bus ${channel}: ${error.message}`);
        const reply = message.reply;
        void this.#open(a, message.data).then((plain) => {
          if (!plain) return this.#log.debug(`dropped a ${channel} message not sealed with this mesh key`);
          handler(plain, reply === undefined || !reply.startsWith(`${subjectOf(a.keys, 'rs')}.`) ? undefined : (answer) => void this.#send(a, reply, answer));
        });
      },
    });
  }

  async request(data: Uint8Array, timeoutMs: number, of: 'state' | 'collectors' = 'state'): Promise<Uint8Array | null> {
    const a = this.#access();
    if (!a || this.#waiting) return null;
    const inbox = `${subjectOf(a.keys, 'rs')}.${a.self}`;
    this.#replies ??= a.nc.subscribe(inbox, {
      callback: (error, message) => {
        if (error) return;
        void this.#open(a, message.data).then((plain) => plain && this.#waiting?.(plain));
      },
    });
    return new Promise<Uint8Array | null>((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#waiting = null;
        resolve(null);
      }, timeoutMs);
      this.#waiting = (reply) => {
        this.#clock.clearTimeout(timer);
        this.#waiting = null;
        resolve(reply);
      };
      void this.#send(a, subjectOf(a.keys, of === 'collectors' ? 'cs' : 'state'), data, inbox);
    });
  }

  /** The transport disconnects: its connection's subscriptions go with it (kept as wanted for the next one). */
  close(): void {
    this.#replies?.unsubscribe();
    this.#replies = null;
    for (const want of this.#wanted) {
      want.sub?.unsubscribe();
      want.sub = null;
    }
  }

  async #send(a: BusAccess, subject: string, data: Uint8Array, reply?: string): Promise<void> {
    try {
      const sealed = await a.keys.encrypt(data);
      a.nc.publish(subject, sealed, reply === undefined ? undefined : { reply });
    } catch (error) {
      // The connection closed for good: the bus is as lossy as NATS core, anti-entropy repairs.
      this.#log.debug(`bus message not sent: ${(error as Error).message}`);
    }
  }

  async #open(a: BusAccess, sealed: Uint8Array): Promise<Uint8Array | null> {
    const decrypt = (bytes: Uint8Array): Promise<Uint8Array | null> => a.keys.decrypt(bytes).catch(() => null);
    return this.memo ? this.memo.open(a.keys, sealed, decrypt) : decrypt(sealed);
  }
}

function subjectOf(keys: MeshKeys, channel: Exclude<BusChannel, 'direct' | 'collectors'> | 'cs' | 'rs' | 'to'): string {
  return `lm.${keys.topic.replace(/^liquidmesh-/, '')}.${channel}`;
}
