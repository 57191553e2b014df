/**
 * The wasi-nn inference engine of a Node peer. Where the host has onnxruntime-node (the
 * native runtime, an optional dependency), graphs run there — the way wasmtime's wasi-nn
 * runs them on a native OpenVINO or ONNX backend: the module and its ABI are the same,
 * only the engine behind the import is faster (MobileNetV2 here: ~3–7 ms native against
 * ~20–35 ms in onnxruntime-web's wasm). Without it, onnxruntime-web, the same wasm engine
 * the browser peers run. Either is imported on the first graph a module loads.
 * `LIQUIDMESH_NN_BACKEND=web|native` overrides the choice for the whole process.
 */
import { rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOnnxEngine, type OrtLike } from '../../shared/adapters/onnx-engine.ts';
import type { InferenceEngine } from '../../shared/ports/inference.ts';

/** Which onnxruntime runs the graphs: `native` (onnxruntime-node), `web` (its wasm), or `auto`. */
export type NodeInferenceBackend = 'auto' | 'native' | 'web';

/** Options of {@link createNodeInferenceEngine}. */
export interface NodeInferenceOptions {
  /** Threads of the engine (default: onnxruntime-node's own choice natively; 2, or 1 on a single core, in wasm). */
  threads?: number;
  /** Default `auto`: native where onnxruntime-node loads, wasm otherwise; or `LIQUIDMESH_NN_BACKEND`. */
  backend?: NodeInferenceBackend;
  /** How the native runtime is imported (a host without it: a function that rejects). */
  importNative?: () => Promise<unknown>;
  /** Told which runtime the first graph loaded into. */
  onBackend?: (backend: 'native' | 'web') => void;
}

/**
 * onnxruntime-node's telemetry layer creates an empty `mat-debug-<pid>.log` in the temporary
 * directory of every process that makes a session, and leaves it behind. Removed when the
 * process exits, if it is still empty (registered once per process).
 */
let sweepRegistered = false;
function removeEmptyDebugLogAtExit(): void {
  if (sweepRegistered) return;
  sweepRegistered = true;
  process.once('exit', () => {
    const log = join(tmpdir(), `mat-debug-${process.pid}.log`);
    try {
      if (statSync(log).size === 0) rmSync(log);
    } catch {
      // Not there (or not ours to remove): nothing to do.
    }
  });
}

/** The backend `LIQUIDMESH_NN_BACKEND` asks for, if it names one. */
function backendFromEnv(): NodeInferenceBackend | undefined {
  const value = process.env.LIQUIDMESH_NN_BACKEND;
  return value === 'native' || value === 'web' || value === 'auto' ? value : undefined;
}

/** An onnxruntime engine for `HostServices.nn`: native where the host has it, wasm otherwise. */
export function createNodeInferenceEngine(options: NodeInferenceOptions = {}): InferenceEngine {
  const wanted = options.backend ?? backendFromEnv() ?? 'auto';
  const importNative = options.importNative ?? (() => import('onnxruntime-node'));
  let chosen: 'native' | 'web' = 'web';
  const loadWeb = async (): Promise<OrtLike> => {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = options.threads ?? Math.min(2, availableParallelism());
    return ort as unknown as OrtLike;
  };
  return createOnnxEngine(
    async () => {
      let ort: OrtLike | undefined;
      if (wanted !== 'web') {
        try {
          ort = (await importNative()) as OrtLike;
          chosen = 'native';
          removeEmptyDebugLogAtExit();
        } catch (error) {
          // `native` was asked for explicitly: say so rather than run slower in silence.
          if (wanted === 'native') throw new Error(`onnxruntime-node does not load on this host: ${(error as Error).message}`);
        }
      }
      ort ??= await loadWeb();
      options.onBackend?.(chosen);
      return ort;
    },
    {
      sessionOptions: () =>
        chosen === 'native'
          ? { executionProviders: ['cpu'], ...(options.threads ? { intraOpNumThreads: options.threads } : {}) }
          : { executionProviders: ['wasm'] },
    },
  );
}
