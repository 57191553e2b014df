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
