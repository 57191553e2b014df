/**
 * A Node peer that hosts modules: worker-thread sandbox, file stores under a data
 * directory (or memory), a fake camera producing real JPEGs where there is no camera,
 * and simulated DHT sensors.
 */
import os from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../shared/memory/memory-blob-store.ts';
import { MemoryKeyValueStore } from '../shared/memory/memory-key-value-store.ts';
import type { PeerTiming } from '../shared/mesh/peer.ts';
import type { Clock } from '../shared/ports/clock.ts';
import type { PeerStore } from '../shared/ports/key-value-store.ts';
import type { HostServices, SandboxLimits } from '../shared/ports/sandbox.ts';
import type { Transport } from '../shared/ports/transport.ts';
import type { MeshBus } from '../shared/ports/mesh-bus.ts';
import type { TopicBridge } from '../shared/orchestrator/pubsub.ts';
import type { Logger } from '../shared/log.ts';
import { FakeCamera } from '../shared/adapters/fake-camera.ts';
import { SIMULATED_SENSOR_IMPORTS, simulatedSensors } from '../shared/sandbox/simulated-sensors.ts';
import { useNodeEd25519 } from './trust/node-ed25519.ts';
import type { Identity } from '../shared/identity/identity.ts';
import type { PeerRoles } from '../shared/registry/join-roles.ts';
import { startSupervisedPeer, type SupervisedPeer } from '../shared/composition/supervised-peer.ts';
import { nodeDeflate } from './node-deflate.ts';
import { nodeSha256 } from './node-sha256.ts';
import { nodeAddresses, nodePlatform } from './platform.ts';
import { InvalidParamsError } from '../shared/errors.ts';
import { createNodeInferenceEngine } from './nn/onnx.ts';
import { createNodeSandbox } from './sandbox/node-sandbox.ts';
import { FileBlobStore } from './stores/file-blob-store.ts';
import { FileKeyValueStore } from './stores/file-key-value-store.ts';
import type { CapabilityPolicy } from '../shared/trust/capability-policy.ts';

// Every peer of this process signs and checks registry entries with OpenSSL (ADR 0025).
useNodeEd25519();

/** Options of {@link startNodePeer}. */
export interface NodePeerOptions {
  name: string;
  /** Roles (ADR 0025): the mesh's owners and this peer's invitation or grant. */
  roles?: PeerRoles;
  /** Sign as this identity instead of the one kept in `dataDir` (start's node-1: the owner key). */
  identity?: Identity;
  transports: Transport[];
  /** Keep identity, registry, blobs and history here; in memory when absent. */
  dataDir?: string;
  /** Offer a fake camera (default true: a headless Node peer has no camera). */
  fakeCamera?: boolean;
  /** Offer simulated temperature and humidity (default true). */
  simulatedSensors?: boolean;
  /** Offer wasi-nn inference (`wasi_ephemeral_nn.*`, onnxruntime-web; default true). */
  inference?: boolean;
  limits?: Partial<SandboxLimits>;
  /**
   * Bytes all module instances may hold together (shared/sandbox/budget.ts). Default:
   * `LIQUIDMESH_MEMORY_BUDGET` (bytes, or with a K/M/G suffix) when set, else half of
   * the machine's memory.
   */
  memoryBudgetBytes?: number;
  /** Place steps only where the zones-and-risk-levels cards allow (`--enforce-policies`). */
  enforcePolicies?: boolean;
  timing?: Partial<PeerTiming>;
  clock?: Clock;
  logger?: Logger;
  /** Carry module pub/sub to MQTT devices too (node-host/nats/mqtt-bridge.ts). */
  topicBridge?: TopicBridge;
  /** What the owner offers of this device's capabilities, and to whom (default: the harmless imports only). */
  policy?: CapabilityPolicy;
  /** Registry and presence over the NATS backbone's mesh bus instead of its links (`--nats-bus`, ADR 0023). */
  bus?: MeshBus;
}

const CAMERA_IMPORTS = ['camera.takeImageStaticSize', 'camera.takeImageDynamicSize'];

/** Longest a starting peer waits for the modules it hosts to load again, ms. */
const RESUME_WAIT_MS = 30_000;

/** Start a Node peer that hosts modules. */
export async function startNodePeer(options: NodePeerOptions): Promise<SupervisedPeer> {
  const store: PeerStore = options.dataDir
    ? { blobs: new FileBlobStore(join(options.dataDir, 'blobs')), kv: new FileKeyValueStore(join(options.dataDir, 'kv')) }
    : { blobs: new MemoryBlobStore(), kv: new MemoryKeyValueStore() };
  const services: HostServices = {};
  const simulated: string[] = [];
  if (options.fakeCamera ?? true) {
    const camera = new FakeCamera({ width: 320, height: 240 });
    services.captureImage = async () => camera.capture();
    simulated.push(...CAMERA_IMPORTS);
  }
  if (options.simulatedSensors ?? true) {
    Object.assign(services, simulatedSensors());
    simulated.push(...SIMULATED_SENSOR_IMPORTS);
  }
  if (options.inference ?? true) services.nn = createNodeInferenceEngine();
  // Counted once: os.cpus() reads every core's details, and load is sampled every few seconds.
  const cores = Math.max(1, os.cpus().length);
  const started = await startSupervisedPeer({
    transports: options.transports,
    store,
    device: { name: options.name, engine: 'node', platform: nodePlatform(), addresses: nodeAddresses() },
    // One-minute load average per core, and memory in use of the machine's total.
    sampleLoad: () => ({ cpu: os.loadavg()[0]! / cores, memory: 1 - os.freemem() / os.totalmem() }),
    sha256: nodeSha256,
    deflate: nodeDeflate,
    sandbox: createNodeSandbox(options.limits ? { limits: options.limits } : {}),
    services,
    simulated,
    ...memoryBudget(options.memoryBudgetBytes),
    ...(options.enforcePolicies ? { enforcePolicies: true } : {}),
    ...(options.timing ? { timing: options.timing } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.topicBridge ? { topicBridge: options.topicBridge } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.roles ? { roles: options.roles } : {}),
    ...(options.identity ? { identity: options.identity } : {}),
    ...(options.bus ? { bus: options.bus } : {}),
  });
  // A restarted peer serves what it ran before: wait (a bounded time) until the modules
  // it hosts are loaded again from its blob store, so its first calls find them.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([started.orchestrator.resumed(), new Promise<void>((resolve) => (timer = setTimeout(resolve, RESUME_WAIT_MS)))]);
  clearTimeout(timer);
  return started;
}

/** The memory budget option: given, or from `LIQUIDMESH_MEMORY_BUDGET`, or none (the default applies). */
function memoryBudget(given: number | undefined): { memoryBudgetBytes?: number } {
  if (given !== undefined) return { memoryBudgetBytes: given };
  const text = process.env.LIQUIDMESH_MEMORY_BUDGET?.trim();
  if (!text) return {};
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text);
  if (!match) throw new InvalidParamsError(`LIQUIDMESH_MEMORY_BUDGET=${text} is not a size (bytes, or with a K, M or G suffix)`);
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return { memoryBudgetBytes: Math.floor(Number(match[1]) * scale) };
}
