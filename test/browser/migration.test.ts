// The live-migration suite in real Chromium: browser Workers run the modules.
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { runMigrationTests } from '../acceptance/migration.ts';

runMigrationTests({ name: 'browser Workers', sandbox: () => createBrowserSandbox(), moduleFile });
