/**
 * The wasi-nn inference engine of a browser peer: onnxruntime-web (its wasm-only build, the
 * engine Node peers without onnxruntime-node run too), imported on the first graph a module
 * loads so that a page that never classifies never downloads it. Wasm SIMD always; threads
 * where the page is cross-origin isolated (the PWA and the test pages are): while a graph
 * computes, the module's worker sleeps on the bridge, so the engine may have the cores.
 */
import { createOnnxEngine, type OrtLike } from '../../shared/adapters/onnx-engine.ts';
import type { InferenceEngine } from '../../shared/ports/inference.ts';

/** Options of {@link createBrowserInferenceEngine}. */
export interface BrowserInferenceOptions {
  /** onnxruntime-web's wasm threads (default {@link defaultInferenceThreads}). */
  threads?: number;
  /** Where onnxruntime-web's .wasm/.mjs files are served from, when not beside its bundle. */
  wasmPaths?: string;
}

/** Most threads by default: onnxruntime's own cap, past which a MobileNet-sized graph gains nothing. */
const MAX_DEFAULT_THREADS = 4;

/**
 * One thread per core (up to {@link MAX_DEFAULT_THREADS}) on a cross-origin isolated page,
 * else 1: without isolation there is no SharedArrayBuffer, so onnxruntime-web cannot start threads.
 */
export function defaultInferenceThreads(): number {
  if (!globalThis.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, globalThis.navigator?.hardwareConcurrency ?? 1));
}

/**
 * An onnxruntime-web engine for `HostServices.nn`. onnxruntime-web is one runtime per page:
 * its thread count is fixed by the first engine that loads a graph.
 */
export function createBrowserInferenceEngine(options: BrowserInferenceOptions = {}): InferenceEngine {
  return createOnnxEngine(
    async () => {
      const ort = await import('onnxruntime-web/wasm');
      ort.env.wasm.numThreads = options.threads ?? defaultInferenceThreads();
      if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
      return ort as unknown as OrtLike;
    },
    { sessionOptions: { executionProviders: ['wasm'] } },
  );
}
