/**
 * The sandbox in browsers: each instance runs in a dedicated module Worker. On a
 * cross-origin isolated page (COOP + COEP, as the PWA and the test pages are served) with
 * SharedArrayBuffer, workers block on the host thread through the bridge; elsewhere (a
 * page not isolated, WebKitGTK's engine) the sandbox runs without shared memory: its
 * workers block on a synchronous request the page's service worker answers
 * (service-worker-answers.ts, ADR 0039), and where no service worker controls the page
 * the imports that need the host thread are refused by name (shared/sandbox/protocol.ts).
 */
import { WorkerSandbox, type WorkerSandboxOptions } from '../../shared/sandbox/worker-sandbox.ts';
import type { WorkerToHost } from '../../shared/sandbox/protocol.ts';
import { serviceWorkerAnswers } from './service-worker-answers.ts';

/** A WorkerSandbox whose workers are browser Workers. */
export function createBrowserSandbox(options: Omit<WorkerSandboxOptions, 'spawn'> = {}): WorkerSandbox {
  return new WorkerSandbox({
    answers: serviceWorkerAnswers(),
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
