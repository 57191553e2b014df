/**
 * The simulators' way of moving the network on: a few queued messages, picked by the
 * seed, each delivered or lost.
 */
import type { MemoryNetwork } from '../../shared/memory/memory-network.ts';

/** Up to `count` queued messages at seeded positions, each lost with probability `loss`, else delivered. */
export function deliverOrDrop(network: MemoryNetwork, rng: () => number, count: number, loss: number): void {
  for (let d = 0; d < count && network.queueLength > 0; d++) {
    const at = Math.floor(rng() * network.queueLength);
    if (rng() < loss) network.drop(at);
    else network.deliver(at);
  }
}
