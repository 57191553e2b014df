// Image classification on a browser peer, in real Chromium: the C classify module runs in
// a sandbox Worker and reaches onnxruntime-web on the page through wasi_ephemeral_nn and
// the Atomics bridge; its class and probabilities match onnxruntime-web run directly on
// the module's own preprocessed input, and infer_from_ptrs (the `buffers` convention)
// gives the same class; classify-simd, computing the network itself with Wasm SIMD from
// the flat weights file, agrees with onnxruntime-web too. The models are
// modules/classify/model.onnx and model.weights, which `npm run setup` (or
// `npm run build:model`) generates.
import { expect } from 'chai';
import * as ort from 'onnxruntime-web/wasm';
import { FakeCamera } from '../../shared/adapters/fake-camera.ts';
import type { SandboxInstance } from '../../shared/ports/sandbox.ts';
import { createBrowserInferenceEngine, defaultInferenceThreads } from '../../web/nn/onnx.ts';
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { bridgeWhereNeeded } from './bridge-service-worker.ts';

// Without shared memory, host calls go through the service worker (ADR 0039).
await bridgeWhereNeeded();

const GRANTS = ['wasi_snapshot_preview1.*', 'wasi_ephemeral_nn.*'];
const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

describe('Image classification in Chromium (wasi-nn on onnxruntime-web)', () => {

  it('classifies like onnxruntime-web does on the same preprocessed input', async () => {
    const sandbox = createBrowserSandbox({ limits: { callTimeoutMs: 60_000 } });
    const engine = createBrowserInferenceEngine();
    let direct: ort.InferenceSession | null = null;
    try {
      const [wasm, labels, model] = await Promise.all([moduleFile('classify/classify.wasm'), moduleFile('classify/labels'), moduleFile('classify/model.onnx')]);
      expect(sandbox.grantable({ nn: engine })).to.include('wasi_ephemeral_nn.load');
      const instance: SandboxInstance = await sandbox.load({ wasm, files: { model, labels }, grants: GRANTS, services: { nn: engine } });
      // The engine starts the page's onnxruntime-web: threads, one per two cores, where the page
      // is cross-origin isolated, one thread where it is not or has no shared memory (the runs without it);
      // the direct session below shares that runtime.
      const warm = await instance.call({ fn: 'classify', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': new FakeCamera({ seed: 3 }).capture() }, outputs: [] });
      expect(warm.stderr).to.equal('');
      expect(ort.env.wasm.numThreads).to.equal(defaultInferenceThreads());
      expect(ort.env.wasm.numThreads).to.equal(crossOriginIsolated && typeof SharedArrayBuffer !== 'undefined' ? Math.min(4, Math.ceil(navigator.hardwareConcurrency / 2)) : 1);
      direct = await ort.InferenceSession.create(model);
      for (const seed of [7, 11]) {
        const jpeg = new FakeCamera({ seed }).capture();
        const pre = await instance.call({ fn: 'preprocess', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': jpeg }, outputs: ['input.bin'] });
        const bytes = pre.files['input.bin']!;
        const input = new Float32Array(bytes.slice().buffer);
        const out = await direct.run({ input: new ort.Tensor('float32', input, [1, 3, 224, 224]) });
        const expected = out.probabilities!.data as Float32Array;
        const best = expected.indexOf(Math.max(...expected));

        const r = await instance.call({ fn: 'classify', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': jpeg }, outputs: ['classification.json'] });
        expect(r.stderr).to.equal('');
        expect(r.value).to.equal(best);
        const result = JSON.parse(new TextDecoder().decode(r.files['classification.json'])) as { class: number; label: string; scores: number[] };
        expect(result.label).to.equal(LABELS[best]);
        for (let i = 0; i < 5; i++) expect(Math.abs(result.scores[i]! - expected[i]!)).to.be.below(1e-4);

        // The reference ABI: model and JPEG placed in linear memory, two pointer/length pairs.
        const ptrs = await instance.call({ fn: 'infer_from_ptrs', convention: { kind: 'buffers', alloc: 'alloc', inputs: [model, jpeg] } });
        expect(ptrs.stderr).to.equal('');
        expect(ptrs.value).to.equal(best);
      }
    } finally {
      await direct?.release();
      await sandbox.close();
    }
  });

  it('classify-simd (the network in Wasm SIMD, no wasi-nn) gives what onnxruntime-web gives, within 1e-4', async () => {
    const sandbox = createBrowserSandbox({ limits: { callTimeoutMs: 60_000 } });
    let direct: ort.InferenceSession | null = null;
    try {
      const [wasm, labels, weights, model] = await Promise.all([moduleFile('classify-simd/classify-simd.wasm'), moduleFile('classify/labels'), moduleFile('classify/model.weights'), moduleFile('classify/model.onnx')]);
      const instance: SandboxInstance = await sandbox.load({ wasm, files: { model: weights, labels }, grants: ['wasi_snapshot_preview1.*'] });
      expect(instance.info.imports.map((i) => i.module)).not.to.include('wasi_ephemeral_nn');
      direct = await ort.InferenceSession.create(model);
      for (const seed of [7, 11]) {
        const jpeg = new FakeCamera({ seed }).capture();
        const pre = await instance.call({ fn: 'preprocess', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': jpeg }, outputs: ['input.bin'] });
        const input = new Float32Array(pre.files['input.bin']!.slice().buffer);
        const expected = (await direct.run({ input: new ort.Tensor('float32', input, [1, 3, 224, 224]) })).probabilities!.data as Float32Array;
        const best = expected.indexOf(Math.max(...expected));
        const r = await instance.call({ fn: 'classify', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': jpeg }, outputs: ['classification.json'] });
        expect(r.stderr).to.equal('');
        expect(r.value).to.equal(best);
        const result = JSON.parse(new TextDecoder().decode(r.files['classification.json'])) as { class: number; label: string; scores: number[] };
        expect(result.label).to.equal(LABELS[best]);
        for (let i = 0; i < 5; i++) expect(Math.abs(result.scores[i]! - expected[i]!)).to.be.below(1e-4);
      }
    } finally {
      await direct?.release();
      await sandbox.close();
    }
  });
});
