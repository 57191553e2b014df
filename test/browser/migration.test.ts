// The live-migration suites in real Chromium: browser Workers run the modules.
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { runMigrationTests } from '../acceptance/migration.ts';
import { runPrecopyTests } from '../acceptance/migration-precopy.ts';
import { runHeldCallTests } from '../acceptance/migration-held-calls.ts';
import { runBasePartTests } from '../acceptance/migration-parts.ts';
import { bridgeWhereNeeded } from './bridge-service-worker.ts';

// Without shared memory, host calls go through the service worker (ADR 0039).
await bridgeWhereNeeded();

const harness = { name: 'browser Workers', sandbox: () => createBrowserSandbox(), moduleFile };
runMigrationTests(harness);
runPrecopyTests(harness);
runHeldCallTests(harness);
runBasePartTests(harness);
