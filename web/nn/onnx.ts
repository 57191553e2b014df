/**
 * The wasi-nn inference engine of a browser peer: onnxruntime-web (its wasm-only build, the
 * engine Node peers without onnxruntime-node run too), imported on the first graph a module
 * loads so that a page that never classifies never downloads it. Wasm SIMD always; threads
 * where the page is cross-origin isolated (the PWA and the test pages are) and the device
 * has the cores for them ({@link defaultInferenceThreads}).
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
 * Threads on a cross-origin isolated page: one per two cores the page reports, up to
 * {@link MAX_DEFAULT_THREADS} (onnxruntime-web's own default) — half the cores stay for the
 * sandbox's workers and the page, and a core count cannot be trusted to be free: on a busy
 * 2-core machine two threads doubled the inference time, and WebKitGTK reports 4 cores
 * there. 1 without isolation: no SharedArrayBuffer, so onnxruntime-web cannot start threads.
 */
export function defaultInferenceThreads(): number {
  // Threads need shared memory: WebKitGTK as Debian ships it is isolated but has none.
  if (!globalThis.crossOriginIsolated || typeof SharedArrayBuffer === 'undefined') return 1;
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, Math.ceil(cores / 2)));
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
