import { readFile } from 'node:fs/promises';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { runSandboxTests } from '../acceptance/sandbox.ts';
import { runToolchainModuleTests } from '../acceptance/toolchain-modules.ts';

runSandboxTests({
  name: 'Node worker threads',
  create: (limits) => createNodeSandbox(limits ? { limits } : {}),
  moduleFile: async (path) => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url))),
});

// The same suite without shared memory, as a page that is not cross-origin isolated runs it
// (with the stop checks a browser's sandbox adds to every module).
runSandboxTests({
  name: 'Node worker threads without shared memory',
  create: (limits) => createNodeSandbox({ sharedMemory: false, stopChecks: true, ...(limits ? { limits } : {}) }),
  moduleFile: async (path) => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url))),
  sharedMemory: false,
});

runToolchainModuleTests({
  name: 'Node worker threads',
  create: (limits) => createNodeSandbox(limits ? { limits } : {}),
  moduleFile: async (path) => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url))),
});

runToolchainModuleTests({
  name: 'Node worker threads without shared memory',
  create: (limits) => createNodeSandbox({ sharedMemory: false, ...(limits ? { limits } : {}) }),
  moduleFile: async (path) => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url))),
  sharedMemory: false,
});
