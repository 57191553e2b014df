// Image classification end to end over real WebRTC: a Node peer (fake camera, wasi-nn on
// onnxruntime-web's node build) and a headless Chromium peer (wasi-nn on onnxruntime-web
// in the page). The Node peer publishes camera and classify — with its 10 MiB ONNX model
// as the data file of the `model` mount — and deploys camera → classify twice: camera on
// Node and classify on Chromium (the model blob crosses the data channel), then the other
// way round. Each run's class index and top-k JSON match onnxruntime-node on the module's
// own preprocessing of the picture the camera took, and the result carries both steps'
// timings.
import { expect } from 'chai';
import * as ortNode from 'onnxruntime-node';
import { createNodeInferenceEngine } from '../../node-host/nn/onnx.ts';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import type { Orchestrator } from '../../shared/orchestrator/orchestrator.ts';
import type { DeploymentRecord } from '../../shared/registry/schema.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { classifyModel, classifyModule } from '../unit/classify-model.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';
import { BrowserPeer, NodePeerProcess, useE2eServices } from './harness.ts';

requireLoopbackNamespace();

type Lm = { peer: import('../../shared/mesh/peer.ts').Peer; orchestrator: Orchestrator };
const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

interface ChainRun {
  value: number;
  jpeg: number[];
  classification: string;
  steps: { peer: string; module: string; files: string[]; durationMs: number; totalMs: number }[];
}

/** What onnxruntime-node says about `jpeg`, preprocessed by the classify module itself. */
async function expectedScores(jpeg: Uint8Array): Promise<Float32Array> {
  const sandbox = createNodeSandbox({ limits: { callTimeoutMs: 60_000 } });
  const model = classifyModel();
  const native = await ortNode.InferenceSession.create(model);
  try {
    const { wasm, labels } = classifyModule();
    const instance = await sandbox.load({ wasm, files: { model, labels }, grants: ['wasi_snapshot_preview1.*', 'wasi_ephemeral_nn.*'], services: { nn: createNodeInferenceEngine() } });
    const pre = await instance.call({ fn: 'preprocess', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': jpeg }, outputs: ['input.bin'] });
    const input = new Float32Array(pre.files['input.bin']!.slice().buffer);
    return (await native.run({ input: new ortNode.Tensor('float32', input, [1, 3, 224, 224]) })).probabilities!.data as Float32Array;
  } finally {
    await native.release();
    await sandbox.close();
  }
}

describe('Image classification over WebRTC', () => {
  const e2e = useE2eServices('e2e-classify-timings.json');
  const { browsers, nodes, timings } = e2e;

  it('runs camera → classify across a Node and a Chromium peer, both ways, with the 10 MiB model as a blob', async () => {
    const params = { signal: e2e.signal.url, mesh: 'see', secret: 'see-secret' };
    // Both devices' owners have switched their cameras on (the flag a user types).
    const node = new NodePeerProcess('node-1', ['--signal', e2e.signal.url, '--mesh', params.mesh, '--secret', params.secret, '--offer', 'camera']);
    nodes.push(node);
    const [c1] = await Promise.all([BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'chromium-1', params, policy: OFFER_EVERYTHING }), node.ready()]);
    browsers.push(c1!);
    await waitFor(async () => (await Promise.all([node.view(), c1!.view()])).every((v) => v.alive.length === 1 && v.linked.length === 1), 'the two peers to link', 60_000);
    const id = { node: node.id, c1: (await c1!.view()).id };
    expect(await c1!.run((lm) => lm.peer.registry.devices.get(lm.peer.id)?.capabilities.includes('wasi_ephemeral_nn.compute'))).to.equal(true);

    for (const module of ['camera', 'classify']) await node.command('publish', { module });
    await waitFor(() => c1!.run((lm) => lm.peer.registry.modules.size === 2), 'the module records to reach chromium-1');

    const runChain = (dep: string): Promise<ChainRun> =>
      c1!.run(async (lm, d) => {
        const out = await (lm as Lm).orchestrator.execute(d as string);
        const json = out.result.files.find((f) => f.name === 'classification.json');
        return {
          value: out.result.value,
          jpeg: Array.from(out.steps[0]!.files.find((f) => f.name === 'image.jpeg')?.bytes ?? []),
          classification: json ? new TextDecoder().decode(json.bytes) : '',
          steps: out.steps.map((s) => ({ peer: s.peer, module: s.module, files: s.files.map((f) => f.name), durationMs: s.durationMs, totalMs: s.totalMs })),
        };
      }, dep) as Promise<ChainRun>;

    for (const [camera, classifier, key] of [
      ['node-1', 'chromium-1', 'nodeToChromium'],
      ['chromium-1', 'node-1', 'chromiumToNode'],
    ] as const) {
      const t0 = Date.now();
      const dep = await node.command<DeploymentRecord>('deploy', {
        manifest: { name: `see-${key}`, sequence: [{ module: 'camera', func: 'take_image_predefined_path', device: camera }, { module: 'classify', func: 'classify', device: classifier }] },
      });
      const ready = await node.command<DeploymentRecord>('wait', { deployment: dep.id, timeoutMs: 90_000 });
      timings[`${key}DeployMs`] = Date.now() - t0;
      expect(ready.status, ready.reason).to.equal('ready');
      const t1 = Date.now();
      const run = await runChain(dep.id);
      timings[`${key}FirstRunMs`] = Date.now() - t1;
      const peerOf = (name: string): string => (name === 'node-1' ? id.node : id.c1);
      expect(run.steps.map((s) => [s.peer, s.module, s.files])).to.deep.equal([
        [peerOf(camera), 'camera', ['image.jpeg']],
        [peerOf(classifier), 'classify', ['classification.json']],
      ]);
      for (const s of run.steps) {
        expect(s.durationMs).to.be.above(0);
        expect(s.totalMs).to.be.at.least(s.durationMs);
      }
      const jpeg = new Uint8Array(run.jpeg);
      expect(Array.from(jpeg.slice(0, 2))).to.deep.equal([0xff, 0xd8]);
      const expected = await expectedScores(jpeg);
      const best = expected.indexOf(Math.max(...expected));
      expect(run.value).to.equal(best);
      const result = JSON.parse(run.classification) as { class: number; label: string; top: { index: number; label: string; score: number }[]; scores: number[] };
      expect(result.class).to.equal(best);
      expect(result.label).to.equal(LABELS[best]);
      expect(result.top.map((t) => t.index)[0]).to.equal(best);
      expect(result.top.map((t) => t.label)).to.deep.equal(result.top.map((t) => LABELS[t.index]));
      for (let i = 0; i < 5; i++) expect(Math.abs(result.scores[i]! - expected[i]!)).to.be.below(1e-4);
    }
  });
});
