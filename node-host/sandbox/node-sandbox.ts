/**
 * The sandbox on Node: each instance runs in a `worker_threads` Worker, which
 * `terminate()` frees within milliseconds even when the module loops forever.
 *
 * Worker threads start without the parent's TypeScript loader, and booting one per
 * worker would cost hundreds of milliseconds; instead the worker entry is bundled once
 * per process with esbuild into a plain ES module, so a new worker starts in tens of
 * milliseconds.
 *
 * The bundle never touches the disk: workers load it from a `data:` URL held in this
 * process's memory. A script file in a shared directory (such as the temporary one) could
 * be planted or swapped by another local user and would then run in every sandbox worker;
 * a URL built from the bytes esbuild just produced cannot be (ADR 0019).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { WorkerSandbox, type WorkerSandboxOptions } from '../../shared/sandbox/worker-sandbox.ts';

let bundled: URL | null = null;

/** The bundled worker entry as a `data:` URL, building it on first use. */
export function workerBundle(): URL {
  if (bundled) return bundled;
  const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const result = buildSync({
    entryPoints: [fileURLToPath(new URL('./node-worker.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.contents;
  bundled = new URL(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
  return bundled;
}

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
