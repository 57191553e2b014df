// The self-contained classifier: classify-simd computes the same MobileNetV2 inside the
// module with Wasm SIMD (no wasi-nn, only WASI), from the flat weights file
// build-model.mjs writes beside the ONNX model. In the real Node sandbox it gives the
// class and probabilities onnxruntime-node computes on the same preprocessed input, and
// it refuses a model file it does not understand with its documented code.
import * as ortNode from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import type { CallConvention, SandboxInstance } from '../../shared/ports/sandbox.ts';
import { classifyModel, classifyModule, classifySimdModule, classifyWeights, testJpeg } from './classify-model.ts';

const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
const sandbox = createNodeSandbox({ limits: { callTimeoutMs: 60_000 } });
let native: ortNode.InferenceSession;
let instance: SandboxInstance;

const scalar: CallConvention = { kind: 'scalar', args: [] };

beforeAll(async () => {
  native = await ortNode.InferenceSession.create(classifyModel());
  instance = await sandbox.load({ wasm: classifySimdModule(), files: { model: classifyWeights(), labels: classifyModule().labels }, grants: ['wasi_snapshot_preview1.*'] });
}, 120_000);

afterAll(async () => {
  await sandbox.close();
  await native?.release();
});

describe('classify-simd (MobileNetV2 in Wasm SIMD, no wasi-nn) on Node', () => {
  it('needs no capability beyond WASI', () => {
    expect(instance.info.imports.map((i) => i.module)).not.toContain('wasi_ephemeral_nn');
  });

  it('gives the class and probabilities onnxruntime-node gives on the same input, within 1e-4', async () => {
    for (const seed of [7, 11, 23]) {
      const jpeg = testJpeg(seed);
      const pre = await instance.call({ fn: 'preprocess', convention: scalar, files: { 'image.jpeg': jpeg }, outputs: ['input.bin'] });
      const input = new Float32Array(pre.files['input.bin']!.slice().buffer);
      const expected = (await native.run({ input: new ortNode.Tensor('float32', input, [1, 3, 224, 224]) })).probabilities!.data as Float32Array;
      const best = expected.indexOf(Math.max(...expected));
      const r = await instance.call({ fn: 'classify', convention: scalar, files: { 'image.jpeg': jpeg }, outputs: ['classification.json'] });
      expect(r.stderr).toBe('');
      expect(Number(r.value)).toBe(best);
      const result = JSON.parse(new TextDecoder().decode(r.files['classification.json'])) as { class: number; label: string; scores: number[]; top: { index: number }[] };
      expect(result.class).toBe(best);
      expect(result.label).toBe(LABELS[best]);
      expect(result.top[0]!.index).toBe(best);
      for (let i = 0; i < 5; i++) expect(Math.abs(result.scores[i]! - expected[i]!)).toBeLessThan(1e-4);
    }
  }, 120_000);

  it('refuses a model that is not a flat weights file (-30) and a missing one (-1044)', async () => {
    const bad = await sandbox.load({ wasm: classifySimdModule(), files: { model: classifyModel().slice(0, 1000) }, grants: ['wasi_snapshot_preview1.*'] });
    const none = await sandbox.load({ wasm: classifySimdModule(), grants: ['wasi_snapshot_preview1.*'] });
    try {
      const r = await bad.call({ fn: 'classify', convention: scalar, files: { 'image.jpeg': testJpeg() } });
      expect(Number(r.value)).toBe(-30);
      expect(r.stderr).toContain('not a flat weights file');
      expect(Number((await none.call({ fn: 'classify', convention: scalar, files: { 'image.jpeg': testJpeg() } })).value)).toBe(-(1000 + 44));
    } finally {
      await bad.close();
      await none.close();
    }
  }, 60_000);
});
