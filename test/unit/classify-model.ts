// Fixtures of the image-classification tests and benchmark: the ONNX model that
// modules/classify/build-model.mjs makes from nsfwjs' weights (built here when missing:
// it is generated, not committed) and the flat weights file written beside it, the
// classify and classify-simd modules, and a deterministic test JPEG.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeCamera } from '../../shared/adapters/fake-camera.ts';

const CLASSIFY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'modules', 'classify');

/** modules/classify/model.onnx, built by build-model.mjs if it is not there yet. */
export function classifyModel(): Uint8Array {
  const file = join(CLASSIFY_DIR, 'model.onnx');
  if (!existsSync(file)) execFileSync(process.execPath, [join(CLASSIFY_DIR, 'build-model.mjs'), file], { stdio: 'ignore' });
  return new Uint8Array(readFileSync(file));
}

/** modules/classify/model.weights (the flat weights file of classify-simd), built with the ONNX file when missing. */
export function classifyWeights(): Uint8Array {
  const file = join(CLASSIFY_DIR, 'model.weights');
  if (!existsSync(file)) execFileSync(process.execPath, [join(CLASSIFY_DIR, 'build-model.mjs'), join(CLASSIFY_DIR, 'model.onnx')], { stdio: 'ignore' });
  return new Uint8Array(readFileSync(file));
}

/** The classify-simd module binary (no wasi-nn: the network in Wasm SIMD). */
export function classifySimdModule(): Uint8Array {
  return new Uint8Array(readFileSync(join(CLASSIFY_DIR, '..', 'classify-simd', 'classify-simd.wasm')));
}

/** The classify module binary and its labels mount. */
export function classifyModule(): { wasm: Uint8Array; labels: Uint8Array } {
  return {
    wasm: new Uint8Array(readFileSync(join(CLASSIFY_DIR, 'classify.wasm'))),
    labels: new Uint8Array(readFileSync(join(CLASSIFY_DIR, 'labels'))),
  };
}

/** A 320×240 baseline JPEG of the fake camera's scene (seed 7): the same bytes every run. */
export function testJpeg(seed = 7): Uint8Array {
  return new FakeCamera({ seed }).capture();
}

/** The nsfwjs Keras model through TF.js (cpu backend): NHWC input, probabilities out. */
export async function tfjsPredict(nchw: Float32Array): Promise<Float32Array> {
  const require = createRequire(import.meta.url);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const dir = join(dirname(require.resolve('nsfwjs')), '..', 'models', 'mobilenet_v2');
  const json = require(join(dir, 'model.min.js')) as { modelTopology: object; weightsManifest: { weights: import('@tensorflow/tfjs').io.WeightsManifestEntry[] }[] };
  const shard = Buffer.from(require(join(dir, 'group1-shard1of1.min.js')) as string, 'base64');
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0]!.weights,
      weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength),
    }),
  );
  const size = 224 * 224;
  const nhwc = new Float32Array(nchw.length);
  for (let c = 0; c < 3; c++) for (let p = 0; p < size; p++) nhwc[p * 3 + c] = nchw[c * size + p]!;
  const output = model.predict(tf.tensor4d(nhwc, [1, 224, 224, 3])) as import('@tensorflow/tfjs').Tensor;
  const data = new Float32Array(await output.data());
  model.dispose();
  return data;
}
