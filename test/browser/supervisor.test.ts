// The supervisor suite in real Chromium, over browser Workers.
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { runSupervisorTests } from '../acceptance/supervisor.ts';

runSupervisorTests({
  name: 'browser Workers',
  create: (limits) => createBrowserSandbox(limits ? { limits } : {}),
  moduleFile,
});
