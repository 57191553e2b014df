// The orchestration suite in real Chromium: browser Workers run the modules.
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { runOrchestrationTests } from '../acceptance/orchestration.ts';
import { bridgeWhereNeeded } from './bridge-service-worker.ts';

// Without shared memory, host calls go through the service worker (ADR 0039).
await bridgeWhereNeeded();

runOrchestrationTests({ name: 'browser Workers', sandbox: () => createBrowserSandbox(), moduleFile });
