/**
 * `wasi_ephemeral_nn`, host side: the graphs one module instance has loaded, kept on the
 * host thread so that their handles outlive a replaced worker. Answers the worker's
 * `nnLoad` and `nnCompute` bridge operations with `[errno u32][payload]` — a wasi-nn
 * failure is a return code for the module, never a failed bridge call. Loading the same
 * model bytes again returns the same graph (modules commonly load on every call), so only
 * the first call pays for building the session; at most {@link MAX_GRAPHS} distinct
 * graphs per instance.
 * @module
 */
import { sha256Hex, utf8 } from '../bytes.ts';
import type { GraphEncoding, InferenceEngine, InferenceGraph, NnTensor } from '../ports/inference.ts';
import { NN_ERRNO, NN_TENSOR_TYPES } from './wasi-nn.ts';

/** Distinct graphs one instance may hold; loading more fails with `too_large`. */
export const MAX_GRAPHS = 8;

/** The graphs of one instance. */
export class NnHost {
  readonly #engine: InferenceEngine | undefined;
  readonly #graphs = new Map<number, InferenceGraph>();
  readonly #byDigest = new Map<string, Promise<number>>();
  #next = 1;

  constructor(engine: InferenceEngine | undefined) {
    this.#engine = engine;
  }

  /** `nnLoad(builders, encoding)` → graph handle (u32). */
  async load(builders: Uint8Array[], encoding: string): Promise<Uint8Array> {
    const engine = this.#engine;
    if (!engine) return answer(NN_ERRNO.unsupported_operation, 'this peer has no inference engine');
    let chosen = encoding as GraphEncoding;
    // ONNX files are protobuf ModelProtos, which start with field 1 (ir_version): 0x08.
    if (chosen === 'autodetect') chosen = builders[0]?.[0] === 0x08 ? 'onnx' : 'autodetect';
    if (!engine.encodings.includes(chosen)) return answer(NN_ERRNO.invalid_encoding, `graph encoding ${encoding} is not supported here (${engine.encodings.join(', ')})`);
    if (builders.length === 0) return answer(NN_ERRNO.invalid_argument, 'no graph builder given');
    const digest = `${chosen}:${(await Promise.all(builders.map((b) => sha256Hex(b)))).join(',')}`;
    let pending = this.#byDigest.get(digest);
    if (!pending) {
      if (this.#byDigest.size >= MAX_GRAPHS) return answer(NN_ERRNO.too_large, `an instance may load at most ${MAX_GRAPHS} graphs`);
      pending = engine.load(builders, chosen).then((graph) => {
        const id = this.#next++;
        this.#graphs.set(id, graph);
        return id;
      });
      this.#byDigest.set(digest, pending);
      pending.catch(() => this.#byDigest.delete(digest));
    }
    try {
      const id = await pending;
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, id, true);
      return answer(NN_ERRNO.success, out);
    } catch (error) {
      return answer(NN_ERRNO.invalid_argument, `the graph does not load: ${(error as Error).message}`);
    }
  }

  /** `nnCompute(graph, inputs)` → the outputs in the tensor wire form of wasi-nn.ts. */
  async compute(graph: number, inputs: { type: number; dims: number[]; data: Uint8Array }[]): Promise<Uint8Array> {
    const g = this.#graphs.get(graph);
    if (!g) return answer(NN_ERRNO.invalid_argument, `no graph ${graph}`);
    let outputs: NnTensor[];
    try {
      outputs = await g.run(inputs.map((t) => ({ type: NN_TENSOR_TYPES[t.type]!, dims: t.dims, data: t.data })));
    } catch (error) {
      return answer(NN_ERRNO.runtime_error, (error as Error).message);
    }
    return answer(NN_ERRNO.success, encodeTensors(outputs));
  }

  /** Release every graph. */
  async close(): Promise<void> {
    const graphs = [...this.#graphs.values()];
    this.#graphs.clear();
    this.#byDigest.clear();
    await Promise.all(graphs.map((g) => g.release().catch(() => undefined)));
  }
}

/** `[count u32]` then per tensor `[type u32][ndims u32][dims u32…][len u32][bytes]`. */
export function encodeTensors(tensors: NnTensor[]): Uint8Array {
  let size = 4;
  for (const t of tensors) size += 12 + 4 * t.dims.length + t.data.byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, tensors.length, true);
  let at = 4;
  for (const t of tensors) {
    view.setUint32(at, NN_TENSOR_TYPES.indexOf(t.type), true);
    view.setUint32(at + 4, t.dims.length, true);
    at += 8;
    for (const d of t.dims) {
      view.setUint32(at, d, true);
      at += 4;
    }
    view.setUint32(at, t.data.byteLength, true);
    out.set(t.data, at + 4);
    at += 4 + t.data.byteLength;
  }
  return out;
}

function answer(errno: number, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === 'string' ? utf8(payload) : payload;
  const out = new Uint8Array(4 + body.byteLength);
  new DataView(out.buffer).setUint32(0, errno, true);
  out.set(body, 4);
  return out;
}
