// The sandbox acceptance suite in real Chromium, on browser Workers, with the same
// module binaries the Node run uses.
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { runSandboxTests } from '../acceptance/sandbox.ts';
import { runToolchainModuleTests } from '../acceptance/toolchain-modules.ts';

runSandboxTests({
  name: 'browser Workers',
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile,
});

runToolchainModuleTests({
  name: 'browser Workers',
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile,
});
