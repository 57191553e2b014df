/**
 * A browser peer that hosts modules: Worker sandbox, IndexedDB stores, the device's
 * camera through getUserMedia when it has one, and simulated DHT sensors. It reports the
 * page's load (main-thread timer lag, JS heap in use) as telemetry, and tells whether
 * everything in the registry has been saved (the app reopens offline from that copy).
 */
import type { Logger } from '../shared/log.ts';
import type { PeerRoles } from '../shared/registry/join-roles.ts';
import type { PeerTiming } from '../shared/mesh/peer.ts';
import type { HostServices, SandboxLimits } from '../shared/ports/sandbox.ts';
import type { KeyValueStore } from '../shared/ports/key-value-store.ts';
import type { Transport } from '../shared/ports/transport.ts';
import type { MeshBus } from '../shared/ports/mesh-bus.ts';
import { REGISTRY_STATE_KEY } from '../shared/registry/persistence.ts';
import { SIMULATED_SENSOR_IMPORTS, simulatedSensors } from '../shared/sandbox/simulated-sensors.ts';
import type { BrowserInfo } from '../shared/registry/schema.ts';
import { currentBrowser, engineOf } from './browser-info.ts';
import { DeviceSensors } from './capabilities/sensors.ts';
import { startSupervisedPeer, type SupervisedPeer } from '../shared/composition/supervised-peer.ts';
import { BrowserCamera } from './capabilities/camera.ts';
import { createBrowserInferenceEngine } from './nn/onnx.ts';
import { createBrowserSandbox } from './sandbox/browser-sandbox.ts';
import { serviceWorkerAnswers } from './sandbox/service-worker-answers.ts';
import { sharedMemoryAvailable } from '../shared/sandbox/worker-sandbox.ts';
import { IdbBlobStore } from './stores/idb-blob-store.ts';
import { IdbKeyValueStore } from './stores/idb-key-value-store.ts';
import { launcherPolicy, loadOwnerPolicy, saveOwnerPolicy } from './owner-policy.ts';
import type { CapabilityPolicy } from '../shared/trust/capability-policy.ts';

/** Options of {@link startBrowserPeer}. */
export interface BrowserPeerOptions {
  name: string;
  transports: Transport[];
  /** IndexedDB database holding identity, registry, blobs and history. */
  dbName?: string;
  /** Offer the device camera when there is one (default true). */
  camera?: boolean;
  /** Offer wasi-nn inference (`wasi_ephemeral_nn.*`, onnxruntime-web; default true). */
  inference?: boolean;
  /** Which browser this is (default: detected from this page). */
  browser?: BrowserInfo;
  /**
   * What the device offers of its capabilities. Default: the owner's choice kept in this
   * browser (the Join view's switches), which offers neither camera nor sensors until
   * the owner switches them on.
   */
  policy?: CapabilityPolicy;
  /** Roles (ADR 0025): the mesh's owners and this page's invitation (web/mesh-roles.ts). */
  roles?: PeerRoles;
  limits?: Partial<SandboxLimits>;
  timing?: Partial<PeerTiming>;
  logger?: Logger;
  /** Registry and presence over the NATS backbone's mesh bus instead of its links (`?nats-bus`, ADR 0023). */
  bus?: MeshBus;
}

/** A started browser peer. */
export interface BrowserPeer extends SupervisedPeer {
  /** True when the last registry change has been written to IndexedDB (a save started after it). */
  registrySaved(): boolean;
  /** Wall-clock time of the last registry save, this session or an earlier one (null: never). */
  registrySavedAt(): number | null;
}

/** Main-thread load, 0..1, from how late a 100 ms timer fires (a busy page fires late). */
function lagSampler(): { sample: () => number; stop: () => void } {
  const period = 100;
  let last = performance.now();
  let lag = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    lag += Math.max(0, now - last - period);
    ticks++;
    last = now;
  }, period);
  return {
    sample() {
      const busy = ticks === 0 ? 0 : lag / (ticks * period + lag);
      lag = 0;
      ticks = 0;
      return busy;
    },
    stop: () => clearInterval(timer),
  };
}

/** JS heap in use, 0..1 of its limit, where the browser tells (Chromium); else 0. */
function heapInUse(): number {
  const memory = (performance as Performance & { memory?: { usedJSHeapSize: number; jsHeapSizeLimit: number } }).memory;
  return memory && memory.jsHeapSizeLimit > 0 ? memory.usedJSHeapSize / memory.jsHeapSizeLimit : 0;
}

/** Wraps `kv` to note when the registry state is written (the start of each save). */
function trackRegistrySaves(kv: KeyValueStore, savedAtKey: string): { kv: KeyValueStore; lastSaveStart: () => number } {
  let lastSaveStart = -1;
  const tracked: KeyValueStore = {
    get: (key) => kv.get(key),
    delete: (key) => kv.delete(key),
    keys: (prefix) => kv.keys(prefix),
    async set(key, value) {
      if (key !== REGISTRY_STATE_KEY) return kv.set(key, value);
      lastSaveStart = performance.now();
      await kv.set(key, value);
      try {
        localStorage.setItem(savedAtKey, String(Date.now()));
      } catch {
        // No localStorage (a worker, or storage disabled): the time is only informative.
      }
    },
  };
  return { kv: tracked, lastSaveStart: () => lastSaveStart };
}

/** A started browser peer, with the camera it opened (if any) to release on stop. */
export async function startBrowserPeer(options: BrowserPeerOptions): Promise<BrowserPeer> {
  const dbName = options.dbName ?? 'liquidmesh';
  const blobs = await IdbBlobStore.open(dbName);
  const idbKv = await IdbKeyValueStore.open(dbName);
  const savedAtKey = `liquidmesh-saved-at:${dbName}`;
  const { kv, lastSaveStart } = trackRegistrySaves(idbKv, savedAtKey);
  const load = lagSampler();
  // Changes made while starting (our device record) count as unsaved until a save follows.
  let lastChange = performance.now();
  // Motion, orientation and position where the device has them (phones), after a short probe.
  const sensors = new DeviceSensors();
  // Only touch devices (phones, tablets) carry motion sensors worth waiting for: desktops
  // and headless peers start without the wait.
  const services: HostServices = { ...simulatedSensors(), ...(await sensors.probe(navigator.maxTouchPoints > 0 ? 300 : 0)) };
  let camera: BrowserCamera | null = null;
  if ((options.camera ?? true) && BrowserCamera.available()) {
    camera = new BrowserCamera();
    const cam = camera;
    services.captureImage = () => cam.capture();
  }
  // wasi-nn inference: onnxruntime-web, downloaded only when a module first loads a graph.
  if (options.inference ?? true) services.nn = createBrowserInferenceEngine();
  const browser = options.browser ?? currentBrowser();
  // Without shared memory the host imports this device offers depend on the service worker
  // answering the bridge (ADR 0039): know it before describing the device.
  const answers = serviceWorkerAnswers();
  if (!sharedMemoryAvailable()) await answers.available();
  const started = await startSupervisedPeer({
    transports: options.transports,
    store: { blobs, kv },
    device: {
      name: options.name,
      engine: engineOf(browser),
      browser,
      platform: {
        cpu: { humanReadableName: navigator.userAgent.slice(0, 120), cores: navigator.hardwareConcurrency || 1 },
        memory: { bytes: deviceMemoryBytes((navigator as Navigator & { deviceMemory?: number }).deviceMemory) },
      },
    },
    sandbox: createBrowserSandbox({ answers, ...(options.limits ? { limits: options.limits } : {}) }),
    services,
    simulated: [...SIMULATED_SENSOR_IMPORTS],
    sampleLoad: () => ({ cpu: load.sample(), memory: heapInUse() }),
    ...(options.timing ? { timing: options.timing } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.roles ? { roles: options.roles } : {}),
    ...(options.bus ? { bus: options.bus } : {}),
  });
  if (!options.policy) {
    // The id is known only now: apply the owner's choice — the launching command's, else the
    // one kept in this browser — and keep every change.
    started.grants.set(launcherPolicy() ?? loadOwnerPolicy(started.peer.id));
    started.grants.onChange((policy) => saveOwnerPolicy(started.peer.id, policy));
  }
  const onUpdate = (): void => {
    lastChange = performance.now();
  };
  started.peer.registry.doc.on('update', onUpdate);
  return {
    ...started,
    registrySaved: () => lastSaveStart() >= lastChange,
    registrySavedAt() {
      try {
        const stored = localStorage.getItem(savedAtKey);
        return stored === null ? null : Number(stored);
      } catch {
        return null;
      }
    },
    async stop() {
      started.peer.registry.doc.off('update', onUpdate);
      load.stop();
      await started.stop();
      camera?.close();
      sensors.close();
      blobs.close();
      idbKv.close();
    },
  };
}

/**
 * What a browser page assumes when its engine hides the device's memory: Firefox and
 * Safari have no `navigator.deviceMemory`. A phone-class figure, low on purpose (half of
 * it is the memory budget), rather than 0, which placement reads as a device with no
 * memory at all and never places anything on.
 */
export const ASSUMED_DEVICE_MEMORY_BYTES = 1024 ** 3;

/** The device's memory in bytes from `navigator.deviceMemory` (GiB), or the assumption. */
export function deviceMemoryBytes(deviceMemoryGiB: number | undefined): number {
  return typeof deviceMemoryGiB === 'number' && deviceMemoryGiB > 0 ? deviceMemoryGiB * 1024 ** 3 : ASSUMED_DEVICE_MEMORY_BYTES;
}
