/**
 * What every seeded simulator starts from — a random stream from the seed, a manual
 * clock, a network that delivers only when told, identities and stores for its peers —
 * and its way of moving the network on.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { toHex, utf8 } from '../../shared/bytes.ts';
import { IDENTITY_KEY, Identity } from '../../shared/identity/identity.ts';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { PeerStore } from '../../shared/ports/key-value-store.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { prng } from './simulator.ts';

/** A simulator's world before its peers start. */
export interface SimWorld {
  rng: () => number;
  pick: <T>(items: readonly T[]) => T;
  clock: ManualClock;
  log: ReturnType<typeof collectLogs>;
  network: MemoryNetwork;
  identities: Identity[];
  stores: PeerStore[];
}

/**
 * The world of a run seeded by `seed` with `peers` peers. With `seededIdentities` the
 * peers' keys (so their ids, which rank them for placement, adoption and takeover epochs)
 * come from the seed too, and a seed replays the same mesh; without, they are fresh.
 */
export async function simWorld(seed: number, peers: number, seededIdentities = false): Promise<SimWorld> {
  const rng = prng(seed);
  const identities: Identity[] = [];
  // Keys come from a stream of their own: the seed's faults are the same either way.
  const keys = prng(seed + 0x5eed0000);
  for (let i = 0; i < peers; i++) identities.push(seededIdentities ? await identityFrom(keys) : await Identity.generate());
  return {
    rng,
    pick: <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)]!,
    clock: new ManualClock(0),
    log: collectLogs(),
    network: new MemoryNetwork({ delivery: 'manual' }),
    identities,
    stores: identities.map(() => memoryStore()),
  };
}

/** PKCS #8 wrapping of a raw Ed25519 seed (RFC 8410): this prefix, then the 32 bytes. */
const PKCS8_ED25519 = '302e020100300506032b657004220420';

/** An identity whose key is drawn from `rng`. */
async function identityFrom(rng: () => number): Promise<Identity> {
  const seed = new Uint8Array(32).map(() => Math.floor(rng() * 256));
  const stored = { v: 1, publicKey: toHex(ed25519.getPublicKey(seed)), privateKey: PKCS8_ED25519 + toHex(seed) };
  const kv = new MemoryKeyValueStore();
  await kv.set(IDENTITY_KEY, utf8(JSON.stringify(stored)));
  return Identity.loadOrCreate(kv);
}

/** Up to `count` queued messages at seeded positions, each lost with probability `loss`, else delivered. */
export function deliverOrDrop(network: MemoryNetwork, rng: () => number, count: number, loss: number): void {
  for (let d = 0; d < count && network.queueLength > 0; d++) {
    const at = Math.floor(rng() * network.queueLength);
    if (rng() < loss) network.drop(at);
    else network.deliver(at);
  }
}

/** Methods of `crypto.subtle` the product calls; Node runs each on its thread pool. */
const SUBTLE_METHODS = ['digest', 'sign', 'verify', 'importKey', 'exportKey', 'generateKey', 'deriveBits', 'deriveKey', 'encrypt', 'decrypt'] as const;

/** A WebCrypto operation started and not yet handed back to its caller. */
interface OffThread {
  work: Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * WebCrypto operations in flight in this process, in the order they started. Kept on the
 * global object, as the methods it wraps are: a test runner that loads this module afresh
 * for each file in one process wraps them once and shares one queue.
 */
const offThread: { queue: OffThread[]; pumping: boolean; users: number; originals: Map<string, PropertyDescriptor | undefined> } = ((globalThis as Record<symbol, unknown>)[Symbol.for('liquidmesh.sim.offThread')] ??= { queue: [], pumping: false, users: 0, originals: new Map() }) as never;

/**
 * Hand WebCrypto results (hashes, signatures, their checks) back in the order the
 * operations started, each in a turn of the event loop of its own: Node runs them on its
 * thread pool, in real time, off the simulated clock, and they finish in any order and
 * at any moment — later on a busy machine. Handed back this way, and waited for before a
 * simulator's next step ({@link offThreadDone}), they make a seed run the same
 * interleaving on a busy machine as on a quiet one. The operations are the platform's own;
 * only when their results are handed back changes. Returns the function that puts the
 * platform's methods back (once every run that asked for the order has).
 */
export function orderOffThreadWork(): () => void {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    if (--offThread.users > 0) return;
    for (const [name, descriptor] of offThread.originals) {
      if (descriptor) Object.defineProperty(globalThis.crypto.subtle, name, descriptor);
      else delete (globalThis.crypto.subtle as unknown as Record<string, unknown>)[name];
    }
    offThread.originals.clear();
  };
  if (offThread.users++ > 0) return release;
  const subtle = globalThis.crypto.subtle as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of SUBTLE_METHODS) {
    offThread.originals.set(name, Object.getOwnPropertyDescriptor(subtle, name));
    const original = subtle[name]!.bind(globalThis.crypto.subtle);
    Object.defineProperty(subtle, name, {
      configurable: true,
      writable: true,
      value: (...args: unknown[]): Promise<unknown> => {
        const work = original(...args);
        return new Promise((resolve, reject) => {
          offThread.queue.push({ work, resolve, reject });
          void pump();
        });
      },
    });
  }
  return release;
}

/** Hand the operations' results back one at a time, in order, each in a fresh turn. */
async function pump(): Promise<void> {
  if (offThread.pumping) return;
  offThread.pumping = true;
  try {
    while (offThread.queue.length > 0) {
      const head = offThread.queue[0]!;
      const [settled] = await Promise.allSettled([head.work]);
      // What the previous result set going (microtasks only) has all run by the next turn.
      await new Promise((r) => setImmediate(r));
      offThread.queue.shift();
      if (settled!.status === 'fulfilled') head.resolve(settled!.value);
      else head.reject(settled!.reason);
    }
  } finally {
    offThread.pumping = false;
  }
}

/**
 * Resolves once no WebCrypto operation is in flight and the work each one resumed has
 * run (its continuations may start others: checked again after a few turns of the event
 * loop), or after `limitMs` of real time; true when none is left. Needs
 * {@link orderOffThreadWork}.
 */
export async function offThreadDone(limitMs = 10_000): Promise<boolean> {
  const by = Date.now() + limitMs;
  for (;;) {
    for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
    if (offThread.queue.length === 0) return true;
    if (Date.now() > by) return false;
    await new Promise((r) => setTimeout(r, 0));
  }
}

/**
 * Draw `Math.random` and `crypto.getRandomValues` from a stream seeded by `seed` until the
 * returned function puts them back: the ids the product draws (calls, deployments, RPC
 * sessions, link nonces, awareness clients) then come out the same on every run of a
 * seed. One run at a time: the functions are the process's own.
 */
export function seedRandomness(seed: number): () => void {
  const next = prng(seed + 0x7a4d0000);
  const random = Math.random;
  const getRandomValues = Object.getOwnPropertyDescriptor(globalThis.crypto, 'getRandomValues');
  Math.random = next;
  Object.defineProperty(globalThis.crypto, 'getRandomValues', {
    configurable: true,
    writable: true,
    value: <T extends ArrayBufferView | null>(array: T): T => {
      if (array) {
        const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
        for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
      }
      return array;
    },
  });
  return () => {
    Math.random = random;
    if (getRandomValues) Object.defineProperty(globalThis.crypto, 'getRandomValues', getRandomValues);
    else delete (globalThis.crypto as unknown as Record<string, unknown>).getRandomValues;
  };
}
