/**
 * `camera`: a JPEG frame from the host's camera, into a buffer the module gives
 * (static size) or one it allocates with its exported `alloc` (dynamic size).
 * @module
 */
import { FunctionNotFoundError } from '../errors.ts';
import type { HostCapability } from './host-import.ts';

/** `camera.takeImageStaticSize(outPtr, sizePtr)` and `camera.takeImageDynamicSize(outPtrPtr, outLenPtr)`. */
export const camera: HostCapability = {
  module: 'camera',
  functions: { takeImageDynamicSize: 'captureImage', takeImageStaticSize: 'captureImage' },
  writesMemory: true,
  create(ctx) {
    const view = (): DataView => new DataView(ctx.memory().buffer);
    return {
      takeImageStaticSize: (outPtr, sizePtr) => {
        const capacity = view().getUint32(sizePtr, true);
        const jpeg = ctx.bridge('captureImage', []);
        const n = Math.min(capacity, jpeg.byteLength);
        new Uint8Array(ctx.memory().buffer, outPtr, n).set(jpeg.subarray(0, n));
        view().setUint32(sizePtr, n, true);
      },
      takeImageDynamicSize: (outPtrPtr, outLenPtr) => {
        const jpeg = ctx.bridge('captureImage', []);
        const alloc = ctx.exports().alloc;
        if (typeof alloc !== 'function') throw new FunctionNotFoundError('camera.takeImageDynamicSize needs the module to export alloc');
        const ptr = Number(alloc(jpeg.byteLength));
        new Uint8Array(ctx.memory().buffer, ptr, jpeg.byteLength).set(jpeg);
        view().setUint32(outPtrPtr, ptr, true);
        view().setUint32(outLenPtr, jpeg.byteLength, true);
      },
    };
  },
};
