/**
 * Entry point of a Node sandbox worker thread: adapts `worker_threads`' parent port to
 * the runtime shared with browser workers.
 */
import { parentPort } from 'node:worker_threads';
import { runSandboxWorker } from '../../shared/sandbox/runtime.ts';

if (!parentPort) throw new Error('node-worker.ts must run in a worker thread');
const port = parentPort;
runSandboxWorker({
  post: (message, transfer) => port.postMessage(message, transfer as never),
  onMessage: (handler) => port.on('message', handler),
});
