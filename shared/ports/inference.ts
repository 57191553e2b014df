/**
 * The InferenceEngine port: runs a neural-network graph for the `wasi_ephemeral_nn` host
 * imports (wasi-nn preview 1). Adapters: onnxruntime-web, the same wasm engine in Node
 * (node-host/nn/) and in browsers (web/nn/). The sandbox turns the module's synchronous
 * wasi-nn calls into calls on this port through its blocking bridge.
 * @module
 */

/** Element types of a tensor, named as in the wasi-nn `tensor_type` enum. */
export type TensorType = 'f16' | 'f32' | 'f64' | 'u8' | 'i32' | 'i64';

/** Graph encodings of wasi-nn's `graph_encoding` enum, by name. */
export type GraphEncoding = 'openvino' | 'onnx' | 'tensorflow' | 'pytorch' | 'tensorflowlite' | 'autodetect';

/** A tensor as raw little-endian element bytes. */
export interface NnTensor {
  type: TensorType;
  dims: number[];
  data: Uint8Array;
}

/** A loaded graph: one inference session. */
export interface InferenceGraph {
  /** Run once: `inputs` by the graph's input position, outputs by its output position. */
  run(inputs: NnTensor[]): Promise<NnTensor[]>;
  /** Free the session. Idempotent. */
  release(): Promise<void>;
}

/** Loads graphs. */
export interface InferenceEngine {
  /** Encodings it can load (the others fail with wasi-nn's `invalid_encoding`). */
  readonly encodings: readonly GraphEncoding[];
  /** Load a graph from its builder buffers (for ONNX: one buffer, the model file). */
  load(builders: Uint8Array[], encoding: GraphEncoding): Promise<InferenceGraph>;
}
