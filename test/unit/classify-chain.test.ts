// The camera → classify chain through the orchestrator, on two peers of the in-memory
// network with real worker sandboxes: one with a fake camera, one with the wasi-nn
// engine. classify is published with its 10 MiB ONNX model as a data file (its `model`
// deployment-stage mount) and its labels; the model travels to the classifying peer as
// a blob. The camera's `image.jpeg` output feeds classify's `image.jpeg` execution mount;
// the class index matches onnxruntime-node on the same picture, `classification.json`
// carries the top-k, and the result carries both steps' timings. The reference's
// infer_from_ptrs answers the same over the HTTP gateway, model and picture by pointer.
import { readFile } from 'node:fs/promises';
import * as ortNode from 'onnxruntime-node';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway } from '../../node-host/gateway/gateway.ts';
import { createNodeInferenceEngine } from '../../node-host/nn/onnx.ts';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { createLogger } from '../../shared/log.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { HostServices } from '../../shared/ports/sandbox.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { FakeCamera } from '../../shared/adapters/fake-camera.ts';
import { type SupervisedPeer, startSupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { SystemClock } from '../../shared/system-clock.ts';
import { waitFor } from '../acceptance/wait.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';
import { classifyModel, classifyModule } from './classify-model.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';

const FAST = { heartbeatMs: 100, livenessTimeoutMs: 600, antiEntropyMs: 500, handshakeRetryMs: 200 };
const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

interface Classification {
  class: number;
  label: string | null;
  top: { index: number; label: string | null; score: number }[];
  scores: number[];
}

const peers: SupervisedPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

async function start(network: MemoryNetwork, name: string, services: HostServices): Promise<SupervisedPeer> {
  const p = await startSupervisedPeer({
    policy: OFFER_EVERYTHING,
    transports: [network.createTransport()],
    store: memoryStore(),
    clock: new SystemClock(),
    device: { name, engine: 'node', platform: { cpu: { humanReadableName: 'test', cores: 2 }, memory: { bytes: 2 ** 31 } } },
    sandbox: createNodeSandbox({ limits: { callTimeoutMs: 60_000 } }),
    services,
    timing: FAST,
    logger: createLogger(`peer:${name}`, collectLogs().sink),
    deploymentTiming: { startMs: 60_000 },
  });
  peers.push(p);
  return p;
}

const description = async (dir: string): Promise<ModuleDescription> => JSON.parse(await readFile(new URL(`../../modules/${dir}/description.json`, import.meta.url), 'utf8')) as ModuleDescription;

describe('camera → classify through the orchestrator (two peers, worker sandboxes)', () => {
  it('classifies the camera picture on the other peer, with the top-k JSON and each step timed', async () => {
    const network = new MemoryNetwork();
    const pictures: Uint8Array[] = [];
    const fake = new FakeCamera({ seed: 7 });
    const cam = await start(network, 'cam', {
      captureImage: async () => {
        const jpeg = fake.capture();
        pictures.push(jpeg);
        return jpeg;
      },
    });
    const brain = await start(network, 'brain', { nn: createNodeInferenceEngine() });
    await waitFor(() => [cam, brain].every((p) => p.peer.alive().length === 1 && p.peer.registry.devices.size === 2), 'the two peers to see each other');
    expect(brain.peer.registry.devices.get(brain.peer.id)?.capabilities).toContain('wasi_ephemeral_nn.compute');

    const model = classifyModel();
    const { wasm, labels } = classifyModule();
    await cam.orchestrator.packages.publish({ wasm: new Uint8Array(await readFile(new URL('../../modules/camera/camera.wasm', import.meta.url))), description: await description('camera') });
    const record = await cam.orchestrator.packages.publish({ wasm, description: await description('classify'), dataFiles: { model, labels } });
    expect(model.byteLength).toBeGreaterThan(10 * 2 ** 20 - 2 ** 20);

    // Placement alone finds the peers: only cam has the camera, only brain the engine.
    const dep = cam.orchestrator.deploy({ name: 'see', sequence: [{ module: 'camera', func: 'take_image_predefined_path' }, { module: 'classify', func: 'classify' }] });
    const view = await cam.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready' || v.record.status === 'failed', 60_000);
    expect(view.record.status, view.record.reason).toBe('ready');
    expect(view.record.solution).toEqual({ '0': cam.peer.id, '1': brain.peer.id });
    expect(await brain.peer.store.blobs.has(record.dataFiles.model!), 'the 10 MiB model travelled as a blob').toBe(true);

    const native = await ortNode.InferenceSession.create(model);
    const gateway = await startGateway({ peer: cam, port: 0 });
    try {
      for (let run = 0; run < 2; run++) {
        const out = await cam.orchestrator.execute(dep.id);
        expect(out.steps.map((s) => [s.peer, s.module, s.func, s.files.map((f) => f.name)])).toEqual([
          [cam.peer.id, 'camera', 'take_image_predefined_path', ['image.jpeg']],
          [brain.peer.id, 'classify', 'classify', ['classification.json']],
        ]);
        for (const s of out.steps) {
          expect(s.durationMs).toBeGreaterThan(0);
          expect(s.totalMs).toBeGreaterThanOrEqual(s.durationMs);
        }
        const jpeg = out.steps[0]!.files[0]!;
        expect(jpeg.mediaType).toBe('image/jpeg');
        expect(Buffer.compare(jpeg.bytes, pictures[run]!)).toBe(0);

        // The expected class: onnxruntime-node on the module's own preprocessing of that picture.
        const probe = await brain.supervisor.call(dep.id, 'classify', 'preprocess', { files: { 'image.jpeg': jpeg.bytes } });
        const bin = probe.files.find((f) => f.name === 'input.bin')!.bytes;
        const input = new Float32Array(bin.slice().buffer);
        const expected = (await native.run({ input: new ortNode.Tensor('float32', input, [1, 3, 224, 224]) })).probabilities!.data as Float32Array;
        const best = expected.indexOf(Math.max(...expected));

        expect(out.result.value).toBe(best);
        const file = out.result.files.find((f) => f.name === 'classification.json')!;
        expect(file.mediaType).toBe('application/json');
        const result = JSON.parse(new TextDecoder().decode(file.bytes)) as Classification;
        expect(result.class).toBe(best);
        expect(result.label).toBe(LABELS[best]);
        expect(result.top).toHaveLength(5);
        expect(result.top[0]!.index).toBe(best);
        for (let i = 0; i < 5; i++) expect(Math.abs(result.scores[i]! - expected[i]!)).toBeLessThan(1e-4);

        // The reference's ABI, as seed 001 calls it: `curl -F data=@image.jpeg …/modules/classify/infer_from_ptrs`
        // on the camera peer's gateway; the call runs where classify runs, with its model by pointer.
        const form = new FormData();
        form.append('data', new Blob([jpeg.bytes as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }), 'image.jpeg');
        const res = await fetch(`${gateway.url}/${dep.id}/modules/classify/infer_from_ptrs`, { method: 'POST', body: form });
        const answer = (await res.json()) as { result: number; device: { name: string } };
        expect(res.status, JSON.stringify(answer)).toBe(200);
        expect(answer.result).toBe(best);
        expect(answer.device.name).toBe('brain');
      }
    } finally {
      await gateway.close();
      await native.release();
    }
  }, 180_000);
});
