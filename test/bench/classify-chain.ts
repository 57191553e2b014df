/**
 * The camera → classify chain end to end: two peers of the in-memory network with
 * worker sandboxes — one with the fake camera, one with the wasi-nn engine — and the
 * chain run by the orchestrator (camera on the first, its picture forwarded to classify
 * on the second), against the sum of its parts measured in the same run: the camera
 * call on its peer plus the classify call on its peer with the same picture.
 */
import { readFile } from 'node:fs/promises';
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
import { classifyModel, classifyModule } from '../unit/classify-model.ts';
import { type BenchSection, ms, percentile, sample, times } from './harness.ts';

const N = 20;
const FAST = { heartbeatMs: 100, livenessTimeoutMs: 600, antiEntropyMs: 500, handshakeRetryMs: 200 };

async function start(network: MemoryNetwork, name: string, services: HostServices): Promise<SupervisedPeer> {
  return startSupervisedPeer({
    transports: [network.createTransport()],
    store: memoryStore(),
    clock: new SystemClock(),
    device: { name, engine: 'node', platform: { cpu: { humanReadableName: 'bench', cores: 2 }, memory: { bytes: 2 ** 31 } } },
    sandbox: createNodeSandbox({ limits: { callTimeoutMs: 120_000 } }),
    services,
    timing: FAST,
    logger: createLogger(`peer:${name}`, collectLogs().sink),
    deploymentTiming: { startMs: 60_000 },
  });
}

const description = async (dir: string): Promise<ModuleDescription> =>
  JSON.parse(await readFile(new URL(`../../modules/${dir}/description.json`, import.meta.url), 'utf8')) as ModuleDescription;

async function chainBench(): Promise<BenchSection> {
  const network = new MemoryNetwork();
  const camera = new FakeCamera({ seed: 7 });
  const cam = await start(network, 'cam', { captureImage: async () => camera.capture() });
  const brain = await start(network, 'brain', { nn: createNodeInferenceEngine() });
  try {
    await waitFor(() => [cam, brain].every((p) => p.peer.alive().length === 1), 'the two peers to see each other', 30_000);
    const { wasm, labels } = classifyModule();
    await cam.orchestrator.packages.publish({ wasm: new Uint8Array(await readFile(new URL('../../modules/camera/camera.wasm', import.meta.url))), description: await description('camera') });
    await cam.orchestrator.packages.publish({ wasm, description: await description('classify'), dataFiles: { model: classifyModel(), labels } });
    const dep = cam.orchestrator.deploy({ name: 'see', sequence: [{ module: 'camera', func: 'take_image_predefined_path' }, { module: 'classify', func: 'classify' }] });
    const view = await cam.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready' || v.record.status === 'failed', 120_000);
    if (view.record.status !== 'ready') throw new Error(`the chain did not deploy: ${view.record.reason}`);

    const t = performance.now();
    const first = await cam.orchestrator.execute(dep.id);
    const firstMs = performance.now() - t;
    const picture = first.steps[0]!.files[0]!.bytes;
    const chain = await sample(N, () => cam.orchestrator.execute(dep.id), 3);
    const shoot = await sample(N, () => cam.supervisor.call(dep.id, 'camera', 'take_image_predefined_path'), 3);
    const classify = await sample(N, () => brain.supervisor.call(dep.id, 'classify', 'classify', { files: { 'image.jpeg': picture } }), 3);
    const p50 = (xs: number[]): number => percentile(xs, 50);
    const parts = p50(shoot) + p50(classify);
    return {
      title: 'Camera → classify chain (two peers, in-memory network, worker sandboxes)',
      method:
        `The orchestrator runs camera.take_image_predefined_path on the camera peer and forwards its image.jpeg (${(picture.byteLength / 1024).toFixed(1)} KiB) to classify.classify on the peer with the wasi-nn engine; median of ${N} executions after 3 warm-up runs, timed by the caller. ` +
        'Baseline in the same run: the sum of the parts — the camera call on its peer and the classify call on its peer with the same picture, each through its supervisor, medians of the same count. The difference is what chaining costs: the hop between peers and the orchestration around it.',
      rows: [
        { name: 'camera → classify chain, end to end, p50', figure: ms(p50(chain)), baseline: `camera ${ms(p50(shoot))} + classify ${ms(p50(classify))} = ${ms(parts)}`, ratio: times(p50(chain), parts), goal: '' },
        { name: 'first execution (model loaded into the engine on first use)', figure: ms(firstMs), baseline: `chain p50 ${ms(p50(chain))}`, ratio: times(firstMs, p50(chain)), goal: '' },
      ],
    };
  } finally {
    await Promise.all([cam.stop(), brain.stop()]);
  }
}

/** The benchmarks of this file. */
export const classifyChainBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [{ id: 'classify-chain', run: chainBench }];
