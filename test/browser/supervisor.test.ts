// The supervisor suite in real Chromium, over browser Workers.
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { runSupervisorTests } from '../acceptance/supervisor.ts';

runSupervisorTests({
  name: 'browser Workers',
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile: async (path) => {
    const response = await fetch(`/modules/${path}`);
    if (!response.ok) throw new Error(`GET /modules/${path}: ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  },
});
