// The supervisor suite in real Chromium, over browser Workers.
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { runSupervisorTests } from '../acceptance/supervisor.ts';
import { bridgeWhereNeeded } from './bridge-service-worker.ts';

// Without shared memory, host calls go through the service worker (ADR 0039).
await bridgeWhereNeeded();

runSupervisorTests({
  name: 'browser Workers',
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile,
});
