// The fair baseline of the classify benchmarks: what an application does without
// LiquidMesh to classify the same JPEG — the classify module's own preprocessing (JPEG
// decode, resize, normalise: the same wasm, instantiated bare on this thread with an
// in-memory WASI directory) and then onnxruntime-web run directly on the tensor it made.
// Web-standard only: the browser bench page imports it too.
import { ConsoleStdout, File, OpenFile, PreopenDirectory, WASI } from '@bjorn3/browser_wasi_shim';
import type { InferenceGraph } from '../../shared/ports/inference.ts';

/** One direct classification of `jpeg`: preprocess in the bare module, then `graph.run`. */
export type DirectClassify = (jpeg: Uint8Array) => Promise<unknown>;

/**
 * The classify module (`wasm`) instantiated bare, its wasi-nn imports stubs that are never
 * called (only `preprocess` runs in it), and `graph` for the inference.
 */
export async function directClassifier(wasm: Uint8Array, graph: InferenceGraph): Promise<DirectClassify> {
  const dir = new PreopenDirectory('.', new Map());
  const wasi = new WASI([], [], [new OpenFile(new File([])), new ConsoleStdout(() => undefined), new ConsoleStdout(() => undefined), dir], { debug: false });
  const module = await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
  const unused = (): number => {
    throw new Error('the direct baseline runs only preprocess');
  };
  const nn: WebAssembly.ModuleImports = {};
  for (const imp of WebAssembly.Module.imports(module)) if (imp.module === 'wasi_ephemeral_nn') nn[imp.name] = unused;
  const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: wasi.wasiImport, wasi_ephemeral_nn: nn, __liquidmesh: { poll: () => 10_000 } });
  const target = instance as unknown as { exports: { memory: WebAssembly.Memory; _initialize?: () => unknown } };
  if (typeof instance.exports._initialize === 'function') wasi.initialize(target);
  else wasi.inst = target;
  const preprocess = instance.exports.preprocess as () => number;
  return async (jpeg) => {
    dir.dir.contents.set('image.jpeg', new File(jpeg));
    const length = preprocess();
    if (length <= 0) throw new Error(`preprocess failed: ${length}`);
    const input = (dir.dir.contents.get('input.bin') as File).data;
    const size = Math.round(Math.sqrt(length / 12));
    return graph.run([{ type: 'f32', dims: [1, 3, size, size], data: input }]);
  };
}
