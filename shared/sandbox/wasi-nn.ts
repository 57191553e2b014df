/**
 * `wasi_ephemeral_nn` (wasi-nn preview 1, the witx ABI wasmtime and the Rust WasmIoT
 * supervisor serve), worker side. `load`, `load_by_name` and `compute` need the host's
 * inference engine and block on the bridge; `init_execution_context`, `set_input` and
 * `get_output` are bookkeeping inside the worker. Every function returns an `nn_errno`
 * (0 = success) and writes its result through an out-pointer, as the ABI says; the reason
 * of a failure goes to the module's stderr.
 *
 * Graph handles are the host's (they survive a worker being replaced); execution
 * contexts, their inputs and outputs live in the worker. `load_by_name` loads a file of
 * the module's own WASI directory (a deployment-stage mount such as `model`) without
 * copying it through linear memory.
 * @module
 */
import { fromUtf8 } from '../bytes.ts';
import type { TensorType } from '../ports/inference.ts';
import type { HostOp } from './protocol.ts';

/** wasi-nn `nn_errno` values. */
export const NN_ERRNO = {
  success: 0,
  invalid_argument: 1,
  invalid_encoding: 2,
  missing_memory: 3,
  busy: 4,
  runtime_error: 5,
  unsupported_operation: 6,
  too_large: 7,
  not_found: 8,
} as const;

/** wasi-nn `tensor_type` codes, in enum order. */
export const NN_TENSOR_TYPES: readonly TensorType[] = ['f16', 'f32', 'f64', 'u8', 'i32', 'i64'];

/** Bytes per element of each tensor type. */
export const NN_TENSOR_BYTES: Readonly<Record<TensorType, number>> = { f16: 2, f32: 4, f64: 8, u8: 1, i32: 4, i64: 8 };

/** wasi-nn `graph_encoding` codes, in enum order (ONNX is 1). */
export const NN_ENCODINGS = ['openvino', 'onnx', 'tensorflow', 'pytorch', 'tensorflowlite', 'autodetect'] as const;

/** What the imports need from the instance they serve. */
export interface WasiNnDeps {
  memory(): WebAssembly.Memory;
  /** Blocking host call; nn operations answer `[errno u32][payload]` and never fail the bridge. */
  bridge(op: HostOp, args: unknown[], transfer?: Transferable[]): Uint8Array;
  /** A file of the module's WASI directory, or undefined. */
  file(name: string): Uint8Array | undefined;
  /** Report why a call failed (the module's stderr). */
  warn(message: string): void;
}

interface Context {
  graph: number;
  inputs: { type: number; dims: number[]; data: Uint8Array }[];
  outputs: { type: number; dims: number[]; data: Uint8Array }[] | null;
}

/** Wire form of one tensor across the bridge: type, ndims, dims…, byte length, then the bytes. */
export function decodeTensors(bytes: Uint8Array, at: number): { type: number; dims: number[]; data: Uint8Array }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(at, true);
  at += 4;
  const out: { type: number; dims: number[]; data: Uint8Array }[] = [];
  for (let i = 0; i < count; i++) {
    const type = view.getUint32(at, true);
    const ndims = view.getUint32(at + 4, true);
    at += 8;
    const dims: number[] = [];
    for (let d = 0; d < ndims; d++, at += 4) dims.push(view.getUint32(at, true));
    const len = view.getUint32(at, true);
    at += 4;
    out.push({ type, dims, data: bytes.slice(at, at + len) });
    at += len;
  }
  return out;
}

/**
 * The most execution contexts one instance keeps. wasi-nn preview 1 has no call that drops
 * a context, and a module that makes one per inference (as the classify module does) would
 * otherwise keep every input it ever set: 600 KB a call for a 224×224 image. The least
 * recently used context goes first; using it afterwards is `invalid_argument`.
 */
export const MAX_NN_CONTEXTS = 16;

/** The `wasi_ephemeral_nn` import object of one module instance. */
export function createWasiNnImports(deps: WasiNnDeps): Record<string, (...a: number[]) => number> {
  // In order of last use: the first is the next to go.
  const contexts = new Map<number, Context>();
  let nextContext = 1;
  const view = (): DataView => new DataView(deps.memory().buffer);
  const bytes = (ptr: number, len: number): Uint8Array => new Uint8Array(deps.memory().buffer, ptr >>> 0, len >>> 0).slice();
  /** Run a host nn operation; its answer starts with an errno. */
  const host = (op: HostOp, args: unknown[], transfer?: Transferable[]): { errno: number; payload: Uint8Array } => {
    const answer = deps.bridge(op, args, transfer);
    const errno = new DataView(answer.buffer, answer.byteOffset, answer.byteLength).getUint32(0, true);
    if (errno !== NN_ERRNO.success) deps.warn(`wasi-nn ${op}: ${fromUtf8(answer.subarray(4))}\n`);
    return { errno, payload: answer.subarray(4) };
  };
  const fail = (errno: number, message: string): number => {
    deps.warn(`wasi-nn: ${message}\n`);
    return errno;
  };
  /** The context `id`, now the most recently used, or the errno of a context there is not. */
  const context = (id: number): Context | number => {
    const c = contexts.get(id);
    if (!c) {
      const dropped = id > 0 && id < nextContext ? ` (dropped: an instance keeps its ${MAX_NN_CONTEXTS} most recently used)` : '';
      return fail(NN_ERRNO.invalid_argument, `no execution context ${id}${dropped}`);
    }
    contexts.delete(id);
    contexts.set(id, c);
    return c;
  };
  const loadGraph = (builders: Uint8Array[], encoding: string, graphPtr: number): number => {
    const { errno, payload } = host('nnLoad', [builders, encoding]);
    if (errno === NN_ERRNO.success) view().setUint32(graphPtr, new DataView(payload.buffer, payload.byteOffset).getUint32(0, true), true);
    return errno;
  };

  return {
    load: (builderPtr, builderLen, encoding, _target, graphPtr) => {
      const name = NN_ENCODINGS[encoding];
      if (!name) return fail(NN_ERRNO.invalid_encoding, `unknown graph encoding ${encoding}`);
      const builders: Uint8Array[] = [];
      const v = view();
      for (let i = 0; i < builderLen; i++) {
        const at = builderPtr + 8 * i;
        builders.push(bytes(v.getUint32(at, true), v.getUint32(at + 4, true)));
      }
      return loadGraph(builders, name, graphPtr);
    },
    load_by_name: (namePtr, nameLen, graphPtr) => {
      const name = fromUtf8(bytes(namePtr, nameLen));
      const model = deps.file(name);
      if (!model) return fail(NN_ERRNO.not_found, `no model named ${JSON.stringify(name)} among the module's files`);
      return loadGraph([model], 'autodetect', graphPtr);
    },
    init_execution_context: (graph, ctxPtr) => {
      const id = nextContext++;
      if (contexts.size >= MAX_NN_CONTEXTS) contexts.delete(contexts.keys().next().value!);
      contexts.set(id, { graph, inputs: [], outputs: null });
      view().setUint32(ctxPtr, id, true);
      return NN_ERRNO.success;
    },
    set_input: (ctx, index, tensorPtr) => {
      const c = context(ctx);
      if (typeof c === 'number') return c;
      const v = view();
      const dimsPtr = v.getUint32(tensorPtr, true);
      const ndims = v.getUint32(tensorPtr + 4, true);
      const type = v.getUint8(tensorPtr + 8);
      const dataPtr = v.getUint32(tensorPtr + 12, true);
      const dataLen = v.getUint32(tensorPtr + 16, true);
      const kind = NN_TENSOR_TYPES[type];
      if (!kind) return fail(NN_ERRNO.invalid_argument, `unknown tensor type ${type}`);
      const dims: number[] = [];
      for (let d = 0; d < ndims; d++) dims.push(v.getUint32(dimsPtr + 4 * d, true));
      const expected = dims.reduce((a, b) => a * b, 1) * NN_TENSOR_BYTES[kind];
      if (expected !== dataLen) return fail(NN_ERRNO.invalid_argument, `input ${index}: ${dataLen} bytes for a ${kind} tensor of shape [${dims.join(', ')}] (${expected} expected)`);
      c.inputs[index] = { type, dims, data: bytes(dataPtr, dataLen) };
      c.outputs = null;
      return NN_ERRNO.success;
    },
    compute: (ctx) => {
      const c = context(ctx);
      if (typeof c === 'number') return c;
      for (let i = 0; i < c.inputs.length; i++) if (!c.inputs[i]) return fail(NN_ERRNO.invalid_argument, `input ${i} not set`);
      // Each input travels as a copy of its own that moves to the host thread, not through
      // structured clone (two more copies); the context keeps its own for another compute.
      const inputs = c.inputs.map((t) => ({ ...t, data: t.data.slice() }));
      const { errno, payload } = host('nnCompute', [c.graph, inputs], inputs.map((t) => t.data.buffer));
      if (errno === NN_ERRNO.success) c.outputs = decodeTensors(payload, 0);
      return errno;
    },
    get_output: (ctx, index, outPtr, outMax, writtenPtr) => {
      const c = context(ctx);
      if (typeof c === 'number') return c;
      if (!c.outputs) return fail(NN_ERRNO.invalid_argument, 'get_output before compute');
      const out = c.outputs[index];
      if (!out) return fail(NN_ERRNO.invalid_argument, `the graph has no output ${index}`);
      if (out.data.byteLength > outMax) return fail(NN_ERRNO.too_large, `output ${index} has ${out.data.byteLength} bytes, the buffer ${outMax}`);
      new Uint8Array(deps.memory().buffer, outPtr >>> 0, out.data.byteLength).set(out.data);
      view().setUint32(writtenPtr, out.data.byteLength, true);
      return NN_ERRNO.success;
    },
  };
}
