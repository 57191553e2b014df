// The sandbox acceptance suite in real Chromium, on browser Workers, with the same
// module binaries the Node run uses.
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { runSandboxTests } from '../acceptance/sandbox.ts';

runSandboxTests({
  name: 'browser Workers',
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile: async (path) => {
    const response = await fetch(`/modules/${path}`);
    if (!response.ok) throw new Error(`GET /modules/${path}: ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  },
});
