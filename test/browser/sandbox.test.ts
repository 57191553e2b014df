// The sandbox acceptance suite in real Chromium, on browser Workers, with the same
// module binaries the Node run uses.
import { sharedMemoryAvailable } from '../../shared/sandbox/worker-sandbox.ts';
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { installBridgeServiceWorker } from './bridge-service-worker.ts';
import { runSandboxTests } from '../acceptance/sandbox.ts';
import { runToolchainModuleTests } from '../acceptance/toolchain-modules.ts';

// A page served without cross-origin isolation (LIQUIDMESH_NOT_ISOLATED=1), or an engine
// without SharedArrayBuffer, runs the suite without shared memory: chosen by the sandbox.
// Its host calls then go through a service worker (ADR 0039), which the page registers
// as the PWA does.
const shared = sharedMemoryAvailable();
const hostCalls = shared || (await installBridgeServiceWorker());
const name = shared ? 'browser Workers' : 'browser Workers without shared memory, host calls through the service worker';
runSandboxTests({
  name,
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile,
  sharedMemory: shared,
  hostCalls,
});

runToolchainModuleTests({
  name,
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile,
  sharedMemory: shared,
  hostCalls,
});
