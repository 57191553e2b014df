import { readFile } from 'node:fs/promises';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { runOrchestrationTests } from '../acceptance/orchestration.ts';

runOrchestrationTests({
  name: 'Node worker threads',
  sandbox: () => createNodeSandbox(),
  moduleFile: async (path) => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url))),
});
