/**
 * The wasi-nn inference engine of a Node peer: onnxruntime-web, the same wasm engine the
 * browser peers run (so a module classifies alike everywhere), in this process. It is
 * imported on the first graph a module loads. Two threads where the machine has two
 * cores or more: while a graph computes, the module's worker is blocked on the bridge,
 * so the second thread finds a core (MobileNetV2 here: ~29–40 ms with two, ~42–46 ms with one).
 */
import { availableParallelism } from 'node:os';
import { createOnnxEngine, type OrtLike } from '../../shared/adapters/onnx-engine.ts';
import type { InferenceEngine } from '../../shared/ports/inference.ts';

/** Options of {@link createNodeInferenceEngine}. */
export interface NodeInferenceOptions {
  /** onnxruntime-web's wasm threads (default: 2, or 1 on a single core). */
  threads?: number;
}

/** An onnxruntime-web engine for `HostServices.nn`. */
export function createNodeInferenceEngine(options: NodeInferenceOptions = {}): InferenceEngine {
  return createOnnxEngine(
    async () => {
      const ort = await import('onnxruntime-web');
      ort.env.wasm.numThreads = options.threads ?? Math.min(2, availableParallelism());
      return ort as unknown as OrtLike;
    },
    { sessionOptions: { executionProviders: ['wasm'] } },
  );
}
