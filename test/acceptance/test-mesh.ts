/**
 * Real supervised peers — registries, RPC, sandboxes — on a fresh in-memory network: the
 * mesh the migration and standby suites move modules around in. Web-standard only: the
 * same suites run in Node and in Chromium.
 */
import type { Deflate } from '../../shared/ports/deflate.ts';
import type { Sha256Factory } from '../../shared/ports/sha256.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { BlobStore } from '../../shared/ports/blob-store.ts';
import type { Sandbox } from '../../shared/ports/sandbox.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { type SupervisedPeer, startSupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { SystemClock } from '../../shared/system-clock.ts';
import { createLogger } from '../../shared/log.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { waitFor } from './wait.ts';

/** Liveness and anti-entropy fast enough for a test to see a peer leave within a second. */
const FAST = { heartbeatMs: 100, livenessTimeoutMs: 600, antiEntropyMs: 500, handshakeRetryMs: 200 };

/** One test's peers: start them with {@link start}, stop them all with {@link stop} (in `afterEach`). */
export class TestMesh {
  readonly network = new MemoryNetwork();
  readonly log = collectLogs();
  readonly peers: SupervisedPeer[] = [];
  readonly #sandbox: () => Sandbox;
  readonly #sha256: Sha256Factory | undefined;
  readonly #deflate: Deflate | undefined;

  /**
   * @param sandbox a fresh sandbox for each peer
   * @param options.sha256 an incremental SHA-256 for every peer (as a Node peer has)
   * @param options.deflate a synchronous zlib for every peer (as a Node peer has)
   */
  constructor(sandbox: () => Sandbox, options: { sha256?: Sha256Factory; deflate?: Deflate } = {}) {
    this.#sandbox = sandbox;
    this.#sha256 = options.sha256;
    this.#deflate = options.deflate;
  }

  /** One more peer named `name` (its blob store `blobs` when given). */
  async add(name: string, blobs?: BlobStore): Promise<SupervisedPeer> {
    const store = memoryStore();
    const peer = await startSupervisedPeer({
      transports: [this.network.createTransport()],
      store: blobs ? { ...store, blobs } : store,
      clock: new SystemClock(),
      device: { name, engine: 'node', platform: { cpu: { humanReadableName: 'test', cores: 2 }, memory: { bytes: 2 ** 30 } } },
      sandbox: this.#sandbox(),
      services: {},
      timing: FAST,
      logger: createLogger(`peer:${name}`, this.log.sink),
      deploymentTiming: { startMs: 3000 },
      ...(this.#sha256 ? { sha256: this.#sha256 } : {}),
      ...(this.#deflate ? { deflate: this.#deflate } : {}),
    });
    this.peers.push(peer);
    return peer;
  }

  /** Peers named `names`, started one after another; resolves once each sees every other. */
  async start(names: string[], stores: Record<string, BlobStore> = {}): Promise<SupervisedPeer[]> {
    const out: SupervisedPeer[] = [];
    for (const name of names) out.push(await this.add(name, stores[name]));
    await waitFor(() => out.every((p) => p.peer.alive().length === out.length - 1 && p.peer.registry.devices.size === out.length), 'every peer sees every other');
    return out;
  }

  /** Stop one peer now (a test that kills it); {@link stop} leaves it alone then. */
  async kill(peer: SupervisedPeer): Promise<void> {
    const i = this.peers.indexOf(peer);
    if (i >= 0) this.peers.splice(i, 1);
    await peer.stop();
  }

  /** Stop every peer still running. */
  async stop(): Promise<void> {
    await Promise.all(this.peers.splice(0).map((p) => p.stop()));
  }
}

/** Publish the module under modules/`dir` from `by`, read through `moduleFile`. */
export async function publishModule(by: SupervisedPeer, dir: string, moduleFile: (path: string) => Promise<Uint8Array>): Promise<void> {
  const description = JSON.parse(new TextDecoder().decode(await moduleFile(`${dir}/description.json`))) as ModuleDescription;
  await by.orchestrator.packages.publish({ wasm: await moduleFile(`${dir}/${dir}.wasm`), description });
}
