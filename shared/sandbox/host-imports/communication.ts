/**
 * `communication`: a call from the module to a named function elsewhere in the mesh.
 * @module
 */
import { fromUtf8 } from '../../bytes.ts';
import { bytesAt, type HostCapability } from './host-import.ts';

/** `communication.rpcCall(namePtr, nameLen, dataPtr, dataLen)`. */
export const communication: HostCapability = {
  module: 'communication',
  functions: { rpcCall: 'rpcCall' },
  writesMemory: false,
  create: (ctx) => ({
    rpcCall: (namePtr, nameLen, dataPtr, dataLen) => void ctx.bridge('rpcCall', [fromUtf8(bytesAt(ctx, namePtr, nameLen)), bytesAt(ctx, dataPtr, dataLen)]),
  }),
};
