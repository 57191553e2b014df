/**
 * Builds meshes of real `Peer`s on the in-memory network for unit tests and the simulator.
 */
import { MemoryBlobStore } from '../../shared/memory/memory-blob-store.ts';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import { MemoryNetwork, type MemoryNetworkOptions, type MemoryTransport } from '../../shared/memory/memory-network.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { createLogger, type LogSink } from '../../shared/log.ts';
import { Peer, type PeerTiming } from '../../shared/mesh/peer.ts';
import type { Clock } from '../../shared/ports/clock.ts';
import type { PeerStore } from '../../shared/ports/key-value-store.ts';
import type { Sha256Factory } from '../../shared/ports/sha256.ts';

/** Log lines collected instead of printed, so expected warnings do not clutter test output. */
export interface CollectedLog {
  lines: { level: string; namespace: string; text: string }[];
  sink: LogSink;
}

/** A sink that records log lines. */
export function collectLogs(): CollectedLog {
  const lines: CollectedLog['lines'] = [];
  return {
    lines,
    sink: (level, namespace, args) => lines.push({ level, namespace, text: args.map(String).join(' ') }),
  };
}

/** A fresh in-memory store. */
export function memoryStore(): PeerStore {
  return { blobs: new MemoryBlobStore(), kv: new MemoryKeyValueStore() };
}

/** Options for {@link createMesh}. */
export interface MeshOptions {
  network?: MemoryNetwork;
  networkOptions?: MemoryNetworkOptions;
  clock?: Clock;
  timing?: Partial<PeerTiming>;
  log?: CollectedLog;
  /** Give every peer this incremental SHA-256 (as a Node peer has). */
  sha256?: Sha256Factory;
}

/** A set of peers on one memory network. */
export interface Mesh {
  network: MemoryNetwork;
  clock: Clock;
  peers: Peer[];
  transports: MemoryTransport[];
  log: CollectedLog;
  /** Add and start one more peer (optionally reusing a store, i.e. a restart). */
  add(name: string, store?: PeerStore): Promise<Peer>;
  stopAll(): Promise<void>;
}

/** Start `names.length` peers on one network. */
export async function createMesh(names: string[], options: MeshOptions = {}): Promise<Mesh> {
  const network = options.network ?? new MemoryNetwork(options.networkOptions);
  const clock = options.clock ?? new ManualClock();
  const log = options.log ?? collectLogs();
  const mesh: Mesh = {
    network,
    clock,
    peers: [],
    transports: [],
    log,
    async add(name, store = memoryStore()) {
      const transport = network.createTransport();
      const peer = new Peer({
        transports: [transport],
        store,
        clock,
        device: { name, engine: 'node', capabilities: ['sys.millis'] },
        logger: createLogger(`peer:${name}`, log.sink),
        ...(options.timing ? { timing: options.timing } : {}),
        ...(options.sha256 ? { sha256: options.sha256 } : {}),
      });
      await peer.start();
      mesh.peers.push(peer);
      mesh.transports.push(transport);
      return peer;
    },
    async stopAll() {
      await Promise.all(mesh.peers.map((p) => p.stop()));
    },
  };
  for (const name of names) await mesh.add(name);
  return mesh;
}
