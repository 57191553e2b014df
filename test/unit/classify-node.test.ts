// Image classification on a Node peer: the generated MobileNetV2 ONNX graph agrees with
// nsfwjs' own TF.js model, and the C classify module, running in the real sandbox with
// the wasi_ephemeral_nn capability (onnxruntime-web behind the Atomics bridge), gives the
// class and probabilities onnxruntime-node computes natively on the same input; the
// reference's infer_from_ptrs answers the same through the `buffers` calling convention.
// The Node peer's engine runs graphs natively (onnxruntime-node) where the host has it and
// in onnxruntime-web otherwise: the same unchanged module gives the same ranking on both.
import * as ortNode from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeInferenceEngine } from '../../node-host/nn/onnx.ts';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import type { SandboxInstance } from '../../shared/ports/sandbox.ts';
import { classifyModel, classifyModule, testJpeg, tfjsPredict } from './classify-model.ts';

const GRANTS = ['wasi_snapshot_preview1.*', 'wasi_ephemeral_nn.*'];
const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

interface Classification {
  class: number;
  label: string | null;
  top: { index: number; label: string | null; score: number }[];
  scores: number[];
}

const sandbox = createNodeSandbox({ limits: { callTimeoutMs: 60_000 } });
const engine = createNodeInferenceEngine();
let model: Uint8Array;
let native: ortNode.InferenceSession;
let instance: SandboxInstance;

/** onnxruntime-node (native) on an NCHW input. */
async function nativeScores(input: Float32Array): Promise<Float32Array> {
  const out = await native.run({ input: new ortNode.Tensor('float32', input, [1, 3, 224, 224]) });
  return out.probabilities!.data as Float32Array;
}

async function preprocess(jpeg: Uint8Array): Promise<Float32Array> {
  const r = await instance.call({ fn: 'preprocess', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': jpeg }, outputs: ['input.bin'] });
  expect(r.value).toBe(3 * 224 * 224 * 4);
  const bytes = r.files['input.bin']!;
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

async function classify(jpeg: Uint8Array): Promise<{ value: number; result: Classification; stderr: string }> {
  const r = await instance.call({ fn: 'classify', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': jpeg }, outputs: ['classification.json'] });
  const json = r.files['classification.json'];
  return { value: Number(r.value), result: json ? (JSON.parse(new TextDecoder().decode(json)) as Classification) : (null as never), stderr: r.stderr };
}

beforeAll(async () => {
  model = classifyModel();
  native = await ortNode.InferenceSession.create(model);
  const { wasm, labels } = classifyModule();
  instance = await sandbox.load({ wasm, files: { model, labels }, grants: GRANTS, services: { nn: engine } });
}, 120_000);

afterAll(async () => {
  await sandbox.close();
  await native?.release();
});

describe('the MobileNetV2 ONNX model built from nsfwjs', () => {
  it('is deterministic and gives the class nsfwjs (TF.js) gives, with the same probabilities', async () => {
    expect(Buffer.compare(classifyModel(), model)).toBe(0);
    const input = await preprocess(testJpeg());
    const [onnx, again, tfjs] = [await nativeScores(input), await nativeScores(input), await tfjsPredict(input)];
    expect(Array.from(again)).toEqual(Array.from(onnx));
    expect(onnx.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const argmax = (v: Float32Array): number => v.indexOf(Math.max(...v));
    expect(argmax(onnx)).toBe(argmax(tfjs));
    for (let i = 0; i < 5; i++) expect(Math.abs(onnx[i]! - tfjs[i]!)).toBeLessThan(1e-4);
  }, 120_000);
});

describe('the classify module through wasi-nn on Node', () => {
  it('returns the class onnxruntime-node computes on its preprocessed input, with matching probabilities', async () => {
    for (const seed of [7, 11]) {
      const jpeg = testJpeg(seed);
      const expected = await nativeScores(await preprocess(jpeg));
      const { value, result, stderr } = await classify(jpeg);
      expect(stderr).toBe('');
      const best = expected.indexOf(Math.max(...expected));
      expect(value).toBe(best);
      expect(result.class).toBe(best);
      expect(result.label).toBe(LABELS[best]);
      expect(result.scores).toHaveLength(5);
      for (let i = 0; i < 5; i++) expect(Math.abs(result.scores[i]! - expected[i]!)).toBeLessThan(1e-4);
      expect(result.top.map((t) => t.index)[0]).toBe(best);
      expect(result.top.map((t) => t.score)).toEqual([...result.top.map((t) => t.score)].sort((a, b) => b - a));
      expect(result.top.map((t) => t.label)).toEqual(result.top.map((t) => LABELS[t.index]));
    }
  }, 120_000);

  it('answers infer_from_ptrs (the reference ABI: model and JPEG in linear memory) with the class classify gives', async () => {
    for (const seed of [7, 11]) {
      const jpeg = testJpeg(seed);
      const expected = (await classify(jpeg)).value;
      const r = await instance.call({ fn: 'infer_from_ptrs', convention: { kind: 'buffers', alloc: 'alloc', inputs: [model, jpeg] } });
      expect(r.stderr).toBe('');
      expect(Number(r.value)).toBe(expected);
    }
    const bad = await instance.call({ fn: 'infer_from_ptrs', convention: { kind: 'buffers', alloc: 'alloc', inputs: [model, new Uint8Array([1, 2, 3])] } });
    expect(Number(bad.value)).toBe(-2); // JPEG_ERR_NOT_JPEG
    const noModel = await instance.call({ fn: 'infer_from_ptrs', convention: { kind: 'buffers', alloc: 'alloc', inputs: [new Uint8Array([8, 1]), testJpeg()] } });
    expect(Number(noModel.value)).toBeLessThanOrEqual(-100); // an nn_errno from load
    expect(noModel.stderr).toContain('load failed');
  }, 120_000);

  it('answers a JPEG it cannot decode and a missing model with the documented codes', async () => {
    const bad = await classify(new Uint8Array([1, 2, 3]));
    expect(bad.value).toBe(-2); // JPEG_ERR_NOT_JPEG
    const { wasm } = classifyModule();
    const bare = await sandbox.load({ wasm, grants: GRANTS, services: { nn: engine } });
    try {
      const r = await bare.call({ fn: 'classify', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': testJpeg() } });
      expect(r.value).toBe(-(1000 + 44)); // ENOENT reading "model"
    } finally {
      await bare.close();
    }
  }, 60_000);

  it("takes another model's input size and normalisation from an optional preprocess mount", async () => {
    const { wasm } = classifyModule();
    const text = (t: string): Uint8Array => new TextEncoder().encode(t);
    const defaults = await preprocess(testJpeg());
    const run = async (settings: string): Promise<{ value: number; tensor?: Float32Array }> => {
      const configured = await sandbox.load({ wasm, files: { model, preprocess: text(settings) }, grants: GRANTS, services: { nn: engine } });
      try {
        const r = await configured.call({ fn: 'preprocess', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': testJpeg() }, outputs: ['input.bin'] });
        const bytes = r.files['input.bin'];
        return { value: Number(r.value), ...(bytes ? { tensor: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) } : {}) };
      } finally {
        await configured.close();
      }
    };
    // ImageNet-style normalisation at the same size: every sample is (x - mean) / std of the default one.
    const imagenet = await run('# ONNX zoo mobilenetv2\nsize 224\nmean 0.485 0.456 0.406\nstd 0.229 0.224 0.225\n');
    expect(imagenet.value).toBe(3 * 224 * 224 * 4);
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    let worst = 0;
    for (let i = 0; i < defaults.length; i++) {
      const c = Math.floor(i / (224 * 224));
      worst = Math.max(worst, Math.abs(imagenet.tensor![i]! - (defaults[i]! - mean[c]!) / std[c]!));
    }
    expect(worst).toBeLessThan(1e-5);
    // Another input size.
    expect((await run('size 160\n')).value).toBe(3 * 160 * 160 * 4);
    // A line it cannot read is a named code, not a silent default.
    expect((await run('size 224\nscale 2\n')).value).toBe(-21);
    expect((await run('size 4096\n')).value).toBe(-21);
  }, 60_000);

  it('ranks the classes alike on the native engine and on onnxruntime-web, and falls back to the web engine on a host without the native one', async () => {
    const { wasm, labels } = classifyModule();
    const backends: string[] = [];
    const engines = {
      native: createNodeInferenceEngine({ backend: 'native', onBackend: (b) => backends.push(`native:${b}`) }),
      web: createNodeInferenceEngine({ backend: 'web', onBackend: (b) => backends.push(`web:${b}`) }),
      // A host where onnxruntime-node is not installed.
      fallback: createNodeInferenceEngine({ importNative: () => Promise.reject(new Error("Cannot find package 'onnxruntime-node'")), onBackend: (b) => backends.push(`fallback:${b}`) }),
    };
    const results: Record<string, Classification[]> = {};
    for (const [name, nn] of Object.entries(engines)) {
      const on = await sandbox.load({ wasm, files: { model, labels }, grants: GRANTS, services: { nn } });
      try {
        results[name] = [];
        for (const seed of [7, 11, 23]) {
          const r = await on.call({ fn: 'classify', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': testJpeg(seed) }, outputs: ['classification.json'] });
          expect(r.stderr).toBe('');
          results[name]!.push(JSON.parse(new TextDecoder().decode(r.files['classification.json']!)) as Classification);
        }
      } finally {
        await on.close();
      }
    }
    expect(backends.sort()).toEqual(['fallback:web', 'native:native', 'web:web']);
    for (let i = 0; i < 3; i++) {
      const [native, web, fallback] = [results.native![i]!, results.web![i]!, results.fallback![i]!];
      expect(native.top).toHaveLength(5);
      expect(web.top.map((t) => t.label)).toEqual(native.top.map((t) => t.label));
      expect(fallback.top.map((t) => t.label)).toEqual(native.top.map((t) => t.label));
      for (let c = 0; c < 5; c++) expect(Math.abs(web.scores[c]! - native.scores[c]!)).toBeLessThan(1e-4);
    }
    // Asked for the native engine explicitly on a host without it: the graph does not load, and the module is told.
    const missing = createNodeInferenceEngine({ backend: 'native', importNative: () => Promise.reject(new Error('not installed')) });
    await expect(missing.load([model], 'onnx')).rejects.toThrow(/onnxruntime-node does not load/);
  }, 120_000);

  it('is a capability: listed where an engine is, denied without a grant, unsupported without an engine', async () => {
    expect(sandbox.grantable({ nn: engine })).toContain('wasi_ephemeral_nn.compute');
    expect(sandbox.grantable({})).not.toContain('wasi_ephemeral_nn.compute');
    const { wasm } = classifyModule();
    await expect(sandbox.load({ wasm, grants: ['wasi_snapshot_preview1.*'], services: { nn: engine } })).rejects.toMatchObject({ code: 'ERR_IMPORT_DENIED' });
    await expect(sandbox.load({ wasm, grants: GRANTS, services: {} })).rejects.toMatchObject({ code: 'ERR_IMPORT_NOT_SUPPORTED' });
  });
});
