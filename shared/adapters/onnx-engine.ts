/**
 * An {@link InferenceEngine} on onnxruntime's JavaScript API. The runtime itself is
 * injected (`onnxruntime-web` by node-host/nn/ and web/nn/, the same wasm in Node and
 * Chromium) so that shared/ stays free of it; only the few members used here are typed.
 * @module
 */
import type { InferenceEngine, InferenceGraph, NnTensor, TensorType } from '../ports/inference.ts';

/** The part of an onnxruntime tensor this adapter reads. */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** The part of an onnxruntime `InferenceSession` this adapter uses. */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

/** The part of the onnxruntime module this adapter uses. */
export interface OrtLike {
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSessionLike> };
  Tensor: new (type: string, data: ArrayBufferView, dims: readonly number[]) => OrtTensorLike;
}

const ORT_TYPES: Readonly<Record<TensorType, string>> = { f16: 'float16', f32: 'float32', f64: 'float64', u8: 'uint8', i32: 'int32', i64: 'int64' };

/** Options of {@link createOnnxEngine}. */
export interface OnnxEngineOptions {
  /**
   * Passed to `InferenceSession.create` (execution providers, optimisation level…); a
   * function is asked once the runtime has loaded, for an adapter that picks its runtime then.
   */
  sessionOptions?: Record<string, unknown> | (() => Record<string, unknown>);
}

/**
 * An inference engine that loads ONNX graphs into onnxruntime sessions. `ort` may be a
 * function that imports the runtime: it is then loaded on the first graph only, so a
 * peer that never classifies never pays for it.
 */
export function createOnnxEngine(runtime: OrtLike | (() => Promise<OrtLike>), options: OnnxEngineOptions = {}): InferenceEngine {
  let loaded: Promise<OrtLike> | null = null;
  const getOrt = (): Promise<OrtLike> => (loaded ??= typeof runtime === 'function' ? runtime() : Promise.resolve(runtime));
  return {
    encodings: ['onnx'],
    async load(builders: Uint8Array[]): Promise<InferenceGraph> {
      if (builders.length !== 1) throw new Error(`an ONNX graph is one buffer, not ${builders.length}`);
      const ort = await getOrt();
      const sessionOptions = typeof options.sessionOptions === 'function' ? options.sessionOptions() : (options.sessionOptions ?? {});
      const session = await ort.InferenceSession.create(builders[0]!, sessionOptions);
      let released = false;
      return {
        async run(inputs: NnTensor[]): Promise<NnTensor[]> {
          if (inputs.length !== session.inputNames.length) throw new Error(`the graph takes ${session.inputNames.length} inputs, got ${inputs.length}`);
          const feeds: Record<string, OrtTensorLike> = {};
          inputs.forEach((t, i) => {
            feeds[session.inputNames[i]!] = new ort.Tensor(ORT_TYPES[t.type], typedArray(t), t.dims);
          });
          const results = await session.run(feeds);
          return session.outputNames.map((name) => fromOrt(results[name]!));
        },
        async release(): Promise<void> {
          if (released) return;
          released = true;
          await session.release();
        },
      };
    },
  };
}

const ELEMENT_BYTES: Readonly<Record<TensorType, number>> = { f16: 2, f32: 4, f64: 8, u8: 1, i32: 4, i64: 8 };

/**
 * The tensor's bytes as the typed array onnxruntime wants: a view of the same bytes where
 * they are aligned for the element type (the usual case: a whole buffer from the bridge),
 * a copy only where they are not, since a typed array cannot start at an unaligned offset.
 */
function typedArray(t: NnTensor): ArrayBufferView {
  const size = ELEMENT_BYTES[t.type];
  const aligned = t.data.byteOffset % size === 0 && t.data.byteLength % size === 0;
  const bytes = aligned ? t.data : t.data.slice();
  const { buffer, byteOffset } = bytes;
  const length = bytes.byteLength / size;
  switch (t.type) {
    case 'f16':
      return new Uint16Array(buffer, byteOffset, length);
    case 'f32':
      return new Float32Array(buffer, byteOffset, length);
    case 'f64':
      return new Float64Array(buffer, byteOffset, length);
    case 'u8':
      return new Uint8Array(buffer, byteOffset, length);
    case 'i32':
      return new Int32Array(buffer, byteOffset, length);
    case 'i64':
      return new BigInt64Array(buffer, byteOffset, length);
  }
}

function fromOrt(t: OrtTensorLike): NnTensor {
  const type = (Object.keys(ORT_TYPES) as TensorType[]).find((k) => ORT_TYPES[k] === t.type);
  if (!type) throw new Error(`output of type ${t.type} has no wasi-nn tensor type`);
  const view = t.data as ArrayBufferView;
  return { type, dims: [...t.dims], data: new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice() };
}
