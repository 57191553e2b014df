/**
 * A browser peer that hosts modules: Worker sandbox, IndexedDB stores, the device's
 * camera through getUserMedia when it has one, and simulated DHT sensors.
 */
import type { Logger } from '../shared/log.ts';
import type { PeerTiming } from '../shared/peer.ts';
import type { HostServices, SandboxLimits } from '../shared/ports/sandbox.ts';
import type { Transport } from '../shared/ports/transport.ts';
import { SIMULATED_SENSOR_IMPORTS, simulatedSensors } from '../shared/sandbox/simulated-sensors.ts';
import { startSupervisedPeer, type SupervisedPeer } from '../shared/supervised-peer.ts';
import { BrowserCamera } from './capabilities/camera.ts';
import { createBrowserSandbox } from './sandbox/browser-sandbox.ts';
import { IdbBlobStore } from './stores/idb-blob-store.ts';
import { IdbKeyValueStore } from './stores/idb-key-value-store.ts';

/** Options of {@link startBrowserPeer}. */
export interface BrowserPeerOptions {
  name: string;
  transports: Transport[];
  /** IndexedDB database holding identity, registry, blobs and history. */
  dbName?: string;
  /** Offer the device camera when there is one (default true). */
  camera?: boolean;
  limits?: Partial<SandboxLimits>;
  timing?: Partial<PeerTiming>;
  logger?: Logger;
}

/** A started browser peer, with the camera it opened (if any) to release on stop. */
export async function startBrowserPeer(options: BrowserPeerOptions): Promise<SupervisedPeer> {
  const dbName = options.dbName ?? 'liquidmesh';
  const blobs = await IdbBlobStore.open(dbName);
  const kv = await IdbKeyValueStore.open(dbName);
  const services: HostServices = { ...simulatedSensors() };
  let camera: BrowserCamera | null = null;
  if ((options.camera ?? true) && BrowserCamera.available()) {
    camera = new BrowserCamera();
    const cam = camera;
    services.captureImage = () => cam.capture();
  }
  const started = await startSupervisedPeer({
    transports: options.transports,
    store: { blobs, kv },
    device: {
      name: options.name,
      engine: navigator.webdriver ? 'chromium' : 'browser',
      platform: {
        cpu: { humanReadableName: navigator.userAgent.slice(0, 120), cores: navigator.hardwareConcurrency || 1 },
        memory: { bytes: ((navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 0) * 1024 ** 3 },
      },
    },
    sandbox: createBrowserSandbox(options.limits ? { limits: options.limits } : {}),
    services,
    simulated: [...SIMULATED_SENSOR_IMPORTS],
    ...(options.timing ? { timing: options.timing } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return {
    ...started,
    async stop() {
      await started.stop();
      camera?.close();
      blobs.close();
      kv.close();
    },
  };
}
