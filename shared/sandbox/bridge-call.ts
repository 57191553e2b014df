/**
 * The worker's side of the bridge (protocol.ts): post a host operation, then block on
 * the shared buffer until the host thread has written its answer.
 * @module
 */
import { type ErrorInfo, MeshError } from '../errors.ts';
import { HostCallError } from './errors.ts';
import { BRIDGE_ERROR, BRIDGE_HEADER, BRIDGE_IDLE, BRIDGE_NAMED_ERROR, type HostOp } from './protocol.ts';

const SPIN_MS = 0.1;

/**
 * A blocking host call: the answer's bytes, or the host's error thrown into the module's call.
 * `transfer`: buffers among the arguments that move to the host instead of being copied
 * (the caller no longer uses them).
 */
export type BridgeCall = (op: HostOp, args: unknown[], transfer?: Transferable[]) => Uint8Array;

/**
 * A bridge call over `sab` that posts its request with `post`.
 * @throws HostCallError (`ERR_HOST_CALL`) when the host answers with an error message; a
 *   named error (camera denied, topic denied, …) is thrown as itself.
 */
export function bridgeCaller(sab: SharedArrayBuffer, post: (op: HostOp, args: unknown[], transfer?: Transferable[]) => void): BridgeCall {
  const header = new Int32Array(sab, 0, 4);
  return (op, args, transfer) => {
    Atomics.store(header, 0, BRIDGE_IDLE);
    post(op, args, transfer);
    // Spin briefly first: most host answers arrive within microseconds, and waking from
    // Atomics.wait costs more than that.
    const until = performance.now() + SPIN_MS;
    while (Atomics.load(header, 0) === BRIDGE_IDLE && performance.now() < until) {
      /* spin */
    }
    while (Atomics.load(header, 0) === BRIDGE_IDLE) Atomics.wait(header, 0, BRIDGE_IDLE, 1000);
    const status = header[1]!;
    const data = new Uint8Array(sab, BRIDGE_HEADER, header[2]!).slice();
    Atomics.store(header, 0, BRIDGE_IDLE);
    return bridgeAnswer(op, status, data);
  };
}

const decoder = new TextDecoder();

/**
 * The answer's bytes, or its error thrown: what either bridge (this one, or the one
 * without shared memory in async-bridge.ts) does with the host's answer.
 */
export function bridgeAnswer(op: HostOp, status: number, data: Uint8Array): Uint8Array {
  if (status === BRIDGE_ERROR) throw new HostCallError(`host ${op} failed: ${decoder.decode(data)}`);
  if (status === BRIDGE_NAMED_ERROR) {
    const info = JSON.parse(decoder.decode(data)) as ErrorInfo;
    throw new MeshError(info.code, info.message, info.data);
  }
  return data;
}
