/**
 * Entry point of a browser sandbox worker: adapts the dedicated worker's global message
 * API to the runtime shared with Node worker threads.
 */
import { runSandboxWorker } from '../../shared/sandbox/runtime.ts';
import type { HostToWorker } from '../../shared/sandbox/protocol.ts';

const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<HostToWorker>) => void): void;
};
runSandboxWorker({
  post: (message, transfer) => scope.postMessage(message, transfer ?? []),
  onMessage: (handler) => scope.addEventListener('message', (event) => handler(event.data)),
});
