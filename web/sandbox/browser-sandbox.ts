/**
 * The sandbox in browsers: each instance runs in a dedicated module Worker. The page
 * must be cross-origin isolated (COOP + COEP) so that the bridge's SharedArrayBuffer
 * exists; the PWA and the test pages are served that way.
 */
import { WorkerSandbox, type WorkerSandboxOptions } from '../../shared/sandbox/worker-sandbox.ts';
import type { WorkerToHost } from '../../shared/sandbox/protocol.ts';

/** A WorkerSandbox whose workers are browser Workers. */
export function createBrowserSandbox(options: Omit<WorkerSandboxOptions, 'spawn'> = {}): WorkerSandbox {
  if (!globalThis.crossOriginIsolated) {
    throw new Error('the sandbox needs a cross-origin isolated page (Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp)');
  }
  return new WorkerSandbox({
    ...options,
    spawn: () => {
      const worker = new Worker(new URL('./browser-worker.ts', import.meta.url), { type: 'module', name: 'liquidmesh-sandbox' });
      return {
        post: (message, transfer) => worker.postMessage(message, transfer ?? []),
        onMessage: (handler) => worker.addEventListener('message', (event: MessageEvent<WorkerToHost>) => handler(event.data)),
        onError: (handler) => worker.addEventListener('error', (event) => handler(new Error(event.message || 'worker error'))),
        terminate: () => worker.terminate(),
      };
    },
  });
}
