/**
 * Harnesses that put the in-memory adapters through the acceptance suites; imported by
 * both the Node and the Chromium test entry points.
 */
import { hubAndSpoke, MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { MemoryBlobStore } from '../../shared/memory/memory-blob-store.ts';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import type { BlobStoreHarness } from './blob-store.ts';
import type { KeyValueStoreHarness } from './key-value-store.ts';
import type { TransportHarness } from './transport.ts';

/** MemoryTransport on a MemoryNetwork with a small maximum message size. */
export const memoryTransportHarness: TransportHarness = {
  name: 'MemoryTransport',
  async setup(count, topology) {
    const network = new MemoryNetwork({
      maxMessageSize: 16 * 1024,
      ...(topology.kind === 'hub-and-spoke' ? { links: hubAndSpoke(topology.hub) } : {}),
    });
    const transports = Array.from({ length: count }, () => network.createTransport());
    const extras: ReturnType<MemoryNetwork['createTransport']>[] = [];
    return {
      transports,
      extra: () => {
        const t = network.createTransport();
        extras.push(t);
        return t;
      },
      teardown: async () => {
        await Promise.all([...transports, ...extras].map((t) => t.disconnect()));
      },
    };
  },
};

/** MemoryBlobStore. */
export const memoryBlobStoreHarness: BlobStoreHarness = {
  name: 'MemoryBlobStore',
  create: async () => new MemoryBlobStore(),
};

/** MemoryKeyValueStore. */
export const memoryKeyValueStoreHarness: KeyValueStoreHarness = {
  name: 'MemoryKeyValueStore',
  create: async () => new MemoryKeyValueStore(),
};
