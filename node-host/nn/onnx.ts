/**
 * The wasi-nn inference engine of a Node peer: onnxruntime-web, the same wasm engine the
 * browser peers run (so a module classifies alike everywhere), in this process. One
 * thread by default: the sandbox's workers and the peer share the machine's cores.
 */
import * as ort from 'onnxruntime-web';
import { createOnnxEngine, type OrtLike } from '../../shared/adapters/onnx-engine.ts';
import type { InferenceEngine } from '../../shared/ports/inference.ts';

/** Options of {@link createNodeInferenceEngine}. */
export interface NodeInferenceOptions {
  /** onnxruntime-web's wasm threads (default 1). */
  threads?: number;
}

/** An onnxruntime-web engine for `HostServices.nn`. */
export function createNodeInferenceEngine(options: NodeInferenceOptions = {}): InferenceEngine {
  ort.env.wasm.numThreads = options.threads ?? 1;
  return createOnnxEngine(ort as unknown as OrtLike, { sessionOptions: { executionProviders: ['wasm'] } });
}
