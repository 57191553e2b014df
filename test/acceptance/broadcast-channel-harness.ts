/**
 * Harness that puts BroadcastChannelTransport through the transport acceptance suite;
 * runs in Node and (through test/unit/broadcast-channel-transport.test.ts) in Chromium.
 */
import { BroadcastChannelTransport, type BroadcastChannelTransportOptions } from '../../shared/adapters/broadcast-channel-transport.ts';
import { randomBytes, toHex } from '../../shared/bytes.ts';
import { hubAndSpoke } from '../../shared/memory/memory-network.ts';
import type { TransportHarness } from './transport.ts';

/** A mesh name nothing else uses: every transport of the origin or process shares the channel namespace. */
export function uniqueMeshName(label: string): string {
  return `${label}-${toHex(randomBytes(8))}`;
}

/** BroadcastChannelTransport with its defaults (256 KiB messages, 1 s heartbeat), one fresh mesh name per setup. */
export const broadcastChannelTransportHarness: TransportHarness = {
  name: 'BroadcastChannelTransport',
  async setup(count, topology) {
    const options: BroadcastChannelTransportOptions = {
      channel: uniqueMeshName('acceptance'),
      ...(topology.kind === 'hub-and-spoke' ? { links: hubAndSpoke(topology.hub) } : {}),
    };
    const created: BroadcastChannelTransport[] = [];
    const create = (): BroadcastChannelTransport => {
      const t = new BroadcastChannelTransport(options);
      created.push(t);
      return t;
    };
    const transports = Array.from({ length: count }, create);
    return {
      transports,
      extra: create,
      teardown: async () => {
        await Promise.all(created.map((t) => t.disconnect()));
      },
    };
  },
};
