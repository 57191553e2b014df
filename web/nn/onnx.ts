/**
 * The wasi-nn inference engine of a browser peer: onnxruntime-web (its wasm-only build, the
 * engine Node peers run too), imported on the first graph a module loads so that a page
 * that never classifies never downloads it. Threads need a cross-origin isolated page,
 * which the PWA and the test pages are; one by default, as the sandbox's workers share
 * the cores.
 */
import { createOnnxEngine, type OrtLike } from '../../shared/adapters/onnx-engine.ts';
import type { InferenceEngine } from '../../shared/ports/inference.ts';

/** Options of {@link createBrowserInferenceEngine}. */
export interface BrowserInferenceOptions {
  /** onnxruntime-web's wasm threads (default 1). */
  threads?: number;
  /** Where onnxruntime-web's .wasm/.mjs files are served from, when not beside its bundle. */
  wasmPaths?: string;
}

/** An onnxruntime-web engine for `HostServices.nn`. */
export function createBrowserInferenceEngine(options: BrowserInferenceOptions = {}): InferenceEngine {
  return createOnnxEngine(
    async () => {
      const ort = await import('onnxruntime-web/wasm');
      ort.env.wasm.numThreads = options.threads ?? 1;
      if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
      return ort as unknown as OrtLike;
    },
    { sessionOptions: { executionProviders: ['wasm'] } },
  );
}
