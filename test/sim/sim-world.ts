/**
 * What every seeded simulator starts from — a random stream from the seed, a manual
 * clock, a network that delivers only when told, identities and stores for its peers —
 * and its way of moving the network on.
 */
import { Identity } from '../../shared/identity/identity.ts';
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

/** The world of a run seeded by `seed` with `peers` peers. */
export async function simWorld(seed: number, peers: number): Promise<SimWorld> {
  const rng = prng(seed);
  const identities: Identity[] = [];
  for (let i = 0; i < peers; i++) identities.push(await Identity.generate());
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

/** Up to `count` queued messages at seeded positions, each lost with probability `loss`, else delivered. */
export function deliverOrDrop(network: MemoryNetwork, rng: () => number, count: number, loss: number): void {
  for (let d = 0; d < count && network.queueLength > 0; d++) {
    const at = Math.floor(rng() * network.queueLength);
    if (rng() < loss) network.drop(at);
    else network.deliver(at);
  }
}
