/**
 * The wasi-nn inference engine of a Node peer: onnxruntime-web, the same wasm engine the
 * browser peers run (so a module classifies alike everywhere), in this process. It is
 * imported on the first graph a module loads. One thread by default: the sandbox's
 * workers and the peer share the machine's cores.
 */
import { createOnnxEngine, type OrtLike } from '../../shared/adapters/onnx-engine.ts';
import type { InferenceEngine } from '../../shared/ports/inference.ts';

/** Options of {@link createNodeInferenceEngine}. */
export interface NodeInferenceOptions {
  /** onnxruntime-web's wasm threads (default 1). */
  threads?: number;
}

/** An onnxruntime-web engine for `HostServices.nn`. */
export function createNodeInferenceEngine(options: NodeInferenceOptions = {}): InferenceEngine {
  return createOnnxEngine(
    async () => {
      const ort = await import('onnxruntime-web');
      ort.env.wasm.numThreads = options.threads ?? 1;
      return ort as unknown as OrtLike;
    },
    { sessionOptions: { executionProviders: ['wasm'] } },
  );
}
