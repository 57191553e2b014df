/**
 * The sandbox on Node: each instance runs in a `worker_threads` Worker, which
 * `terminate()` frees within milliseconds even when the module loops forever.
 *
 * Worker threads start without the parent's TypeScript loader, and booting one per
 * worker would cost hundreds of milliseconds; instead the worker entry is a plain ES
 * module bundled with esbuild, so a new worker starts in tens of milliseconds: built with
 * the command's bundle (ADR 0037) when the process runs from it, else once per process.
 *
 * Workers load it from a `data:` URL held in this process's memory, never from a path
 * read at each spawn. A script file in a shared directory (such as the temporary one)
 * could be planted or swapped by another local user and would then run in every sandbox
 * worker (ADR 0019); the prebuilt entry is read once, from the command's own build folder
 * inside the project, which holds the code the process already runs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { WorkerSandbox, type WorkerSandboxOptions } from '../../shared/sandbox/worker-sandbox.ts';

/**
 * Set by the command's bundle (node-host/bin/cli-bundle.mjs, ADR 0037): the file URL of the
 * worker entry built with it, from the same sources. Undefined when running the sources.
 */
declare const LIQUIDMESH_SANDBOX_WORKER: string | undefined;

let bundled: URL | null = null;

/**
 * The bundled worker entry as a `data:` URL: the one built with the command's bundle, or
 * else built now with esbuild. The prebuilt one spares a peer esbuild at run time: its
 * synchronous build keeps a worker thread (with a V8 heap of its own) and esbuild's service
 * process alive for the life of the process, pinging each other while the peer rests.
 */
export function workerBundle(): URL {
  if (bundled) return bundled;
  const code = (typeof LIQUIDMESH_SANDBOX_WORKER === 'string' && prebuilt(LIQUIDMESH_SANDBOX_WORKER)) || buildWorker();
  bundled = new URL(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
  return bundled;
}

/** The worker entry built with the command's bundle, or null if its file is gone (then it is built here). */
function prebuilt(url: string): Uint8Array | null {
  try {
    return readFileSync(new URL(url));
  } catch {
    return null;
  }
}

/** The worker entry bundled from the sources, in memory. */
function buildWorker(): Uint8Array {
  const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const result = buildSync({ ...WORKER_BUILD, entryPoints: [fileURLToPath(new URL('./node-worker.ts', import.meta.url))], write: false, logLevel: 'silent' });
  return result.outputFiles[0]!.contents;
}

/** How the worker entry is bundled; node-host/bin/cli-bundle.mjs builds it the same way. */
const WORKER_BUILD = { bundle: true, format: 'esm', platform: 'node', target: 'node20' } as const;

/** A WorkerSandbox whose workers are Node worker threads. */
export function createNodeSandbox(options: Omit<WorkerSandboxOptions, 'spawn'> = {}): WorkerSandbox {
  // Built now, not at the first worker: built inside a first load that a migration waits
  // on, the synchronous build left `migration.prepare` unanswered (start's end-to-end test).
  workerBundle();
  return new WorkerSandbox({
    // Calls from every socket read in one turn of the event loop go in one message.
    defer: (task) => void setImmediate(task),
    // terminate() stops a worker thread running wasm within milliseconds: no stop checks needed.
    stopChecks: false,
    ...options,
    spawn: () => {
      // The bundle is plain JavaScript: the worker needs none of the host's flags or loaders
      // (a host under `--import tsx` would load tsx in every worker, ~100 ms a spawn).
      const worker = new Worker(workerBundle(), { execArgv: [] });
      // A sandbox worker must never keep the process alive on its own.
      worker.unref();
      return {
        post: (message, transfer) => worker.postMessage(message, transfer as never),
        onMessage: (handler) => worker.on('message', handler),
        onError: (handler) => worker.on('error', handler),
        terminate: () => void worker.terminate(),
      };
    },
  });
}
