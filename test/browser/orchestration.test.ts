// The orchestration suite in real Chromium: browser Workers run the modules.
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { runOrchestrationTests } from '../acceptance/orchestration.ts';

runOrchestrationTests({ name: 'browser Workers', sandbox: () => createBrowserSandbox(), moduleFile });
