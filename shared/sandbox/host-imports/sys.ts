/**
 * `sys`: WasmIoT's clock, delay and printing, served inside the worker.
 * @module
 */
import { fromUtf8 } from '../../bytes.ts';
import { bytesAt, type HostCapability } from './host-import.ts';

/** `sys.millis/delay/print/println/printInt`. */
export const sys: HostCapability = {
  module: 'sys',
  functions: { millis: null, delay: null, print: null, println: null, printInt: null },
  writesMemory: false,
  create(ctx) {
    // Atomics.wait on a cell nobody notifies: a delay that blocks the worker, not the host.
    // Without shared memory nothing can block a thread: the delay spins on the clock.
    const delayCell = typeof SharedArrayBuffer === 'function' ? new Int32Array(new SharedArrayBuffer(4)) : null;
    const spin = (ms: number): void => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        /* spin */
      }
    };
    return {
      millis: () => Math.floor(performance.now()) | 0,
      delay: (ms) => (delayCell ? void Atomics.wait(delayCell, 0, 0, Math.max(0, ms)) : spin(Math.max(0, ms))),
      print: (ptr, len) => ctx.stdout(fromUtf8(bytesAt(ctx, ptr, len))),
      println: (ptr, len) => ctx.stdout(`${fromUtf8(bytesAt(ctx, ptr, len))}\n`),
      printInt: (n) => ctx.stdout(String(n)),
    };
  },
};
