// The live-migration suite on Node worker threads.
import { readFile } from 'node:fs/promises';
import { nodeDeflate } from '../../node-host/node-deflate.ts';
import { nodeSha256 } from '../../node-host/node-sha256.ts';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { runMigrationTests } from '../acceptance/migration.ts';
import { runPrecopyTests } from '../acceptance/migration-precopy.ts';
import { runHeldCallTests } from '../acceptance/migration-held-calls.ts';
import { runBasePartTests } from '../acceptance/migration-parts.ts';

const harness = {
  name: 'Node worker threads',
  sandbox: () => createNodeSandbox(),
  moduleFile: async (path: string) => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url))),
  sha256: nodeSha256,
  deflate: nodeDeflate,
};
runMigrationTests(harness);
runPrecopyTests(harness);
runHeldCallTests(harness);
runBasePartTests(harness);
