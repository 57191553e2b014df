// The sandbox acceptance suite in real Chromium, on browser Workers, with the same
// module binaries the Node run uses.
import { sharedMemoryAvailable } from '../../shared/sandbox/worker-sandbox.ts';
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { runSandboxTests } from '../acceptance/sandbox.ts';
import { runToolchainModuleTests } from '../acceptance/toolchain-modules.ts';

// A page served without cross-origin isolation (LIQUIDMESH_NOT_ISOLATED=1), or an engine
// without SharedArrayBuffer, runs the suite without shared memory: chosen by the sandbox.
runSandboxTests({
  name: sharedMemoryAvailable() ? 'browser Workers' : 'browser Workers without shared memory',
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile,
  sharedMemory: sharedMemoryAvailable(),
});

runToolchainModuleTests({
  name: sharedMemoryAvailable() ? 'browser Workers' : 'browser Workers without shared memory',
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile,
  sharedMemory: sharedMemoryAvailable(),
});
