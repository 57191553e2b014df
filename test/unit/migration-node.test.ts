// The live-migration suite on Node worker threads.
import { readFile } from 'node:fs/promises';
import { nodeSha256 } from '../../node-host/node-sha256.ts';
import { createNodeSandbox, INLINE_BUDGET_MS } from '../../node-host/sandbox/node-sandbox.ts';
import { runMigrationTests } from '../acceptance/migration.ts';
import { runPrecopyTests } from '../acceptance/migration-precopy.ts';
import { runHeldCallTests } from '../acceptance/migration-held-calls.ts';
import { runBasePartTests } from '../acceptance/migration-parts.ts';

const harness = {
  name: 'Node worker threads',
  sandbox: () => createNodeSandbox(),
  moduleFile: async (path: string) => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url))),
  sha256: nodeSha256,
};
runMigrationTests(harness);
runPrecopyTests(harness);
runHeldCallTests(harness);
runBasePartTests(harness);

// The same with instances on the peers' own threads where their modules allow (ADR 0040).
const inline = { ...harness, name: 'Node, inline calls', sandbox: () => createNodeSandbox({ inline: { budgetMs: INLINE_BUDGET_MS } }) };
runMigrationTests(inline);
runPrecopyTests(inline);
runHeldCallTests(inline);
runBasePartTests(inline);
