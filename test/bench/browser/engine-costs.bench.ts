// Measured in whichever engine web-test-runner opens this page in (test/bench/engines.ts
// runs it once per engine): a sandbox call against that engine's bare Worker postMessage
// round trip, and a MobileNetV2 classify call (the C module in the sandbox, wasi-nn over
// the Atomics bridge) against the same work done directly on the page: the module's own
// preprocessing of the same JPEG in a bare instance, then onnxruntime-web. Calls are timed in batches and divided, because Firefox and
// WebKit round performance.now() coarser than one call takes, and a figure's batches
// alternate with its baseline's, so that both see the same load. The figures go to the
// bench process through a web-test-runner server command.
import { executeServerCommand } from '@web/test-runner-commands';
import { FakeCamera } from '../../../shared/adapters/fake-camera.ts';
import { createBrowserInferenceEngine } from '../../../web/nn/onnx.ts';
import { createBrowserSandbox } from '../../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from '../../browser/module-files.ts';
import { installBridgeServiceWorker } from '../../browser/bridge-service-worker.ts';
import type { HostServices } from '../../../shared/ports/sandbox.ts';
import { directClassifier } from '../direct-classify.ts';
import { paired } from '../paired.ts';

const CALL = { fn: 'fibo', convention: { kind: 'scalar' as const, args: [20n] } };
/** host-demo's temperature(): one host import (dht.getTemperature) answered by the page. */
const HOST_CALL = { fn: 'temperature', convention: { kind: 'scalar' as const, args: [] } };
const HOST_GRANTS = ['sys.*', 'dht.*', 'communication.*'];
const HOST_SERVICES: HostServices = { readTemperature: async () => 21.5, readHumidity: async () => 0.4, rpcCall: async () => undefined };


describe('engine costs', () => {
  it('measures a sandbox call and a classify call against their baselines', async () => {
    // The baseline worker answers each message with itself, as the sandbox's worker answers a call.
    const echo = new Worker(URL.createObjectURL(new Blob(['onmessage = (e) => postMessage(e.data);'], { type: 'text/javascript' })));
    const roundTrip = (): Promise<unknown> => new Promise((resolve) => {
      echo.onmessage = resolve;
      echo.postMessage({ t: 'call', id: 0, request: CALL });
    });
    const sandbox = createBrowserSandbox({ limits: { callTimeoutMs: 120_000 } });
    const engine = createBrowserInferenceEngine();
    // The bench takes the calls on one core and classify on all of them: one part per page.
    const part = (await executeServerCommand('liquidmesh-bench-part')) as 'calls' | 'classify' | undefined;
    let [bare, call, noSharedCall, noSharedBare, hostShared, hostBridged, classified, baseline]: number[][] = [[], [], [], [], [], [], [], []];
    try {
      if (part !== 'classify') {
        const fibo = await sandbox.load({ wasm: await moduleFile('fibo/fibo.wasm'), grants: ['wasi_snapshot_preview1.*'] });
        [call, bare] = await paired(15, 200, () => fibo.call(CALL), roundTrip);
        // The same call in a sandbox without shared memory (what a page that is not
        // cross-origin isolated, or WebKitGTK, runs), against the same baseline.
        const unshared = createBrowserSandbox({ limits: { callTimeoutMs: 120_000 }, sharedMemory: false });
        try {
          const fiboUnshared = await unshared.load({ wasm: await moduleFile('fibo/fibo.wasm'), grants: ['wasi_snapshot_preview1.*'] });
          [noSharedCall, noSharedBare] = await paired(15, 200, () => fiboUnshared.call(CALL), roundTrip);
        } finally {
          await unshared.close();
        }

        // A call whose module reaches the host once: through shared memory where the page has
        // it, and through the service worker's bridge (ADR 0039), alternating in the same run.
        if (await installBridgeServiceWorker()) {
          const bridged = createBrowserSandbox({ limits: { callTimeoutMs: 120_000 }, sharedMemory: false });
          try {
            const viaBridge = await bridged.load({ wasm: await moduleFile('host-demo/host-demo.wasm'), grants: HOST_GRANTS, services: HOST_SERVICES });
            if (typeof SharedArrayBuffer === 'function' && crossOriginIsolated) {
              const viaShared = await sandbox.load({ wasm: await moduleFile('host-demo/host-demo.wasm'), grants: HOST_GRANTS, services: HOST_SERVICES });
              [hostBridged, hostShared] = await paired(15, 50, () => viaBridge.call(HOST_CALL), () => viaShared.call(HOST_CALL));
            } else {
              [hostBridged] = await paired(15, 50, () => viaBridge.call(HOST_CALL), async () => undefined);
            }
          } finally {
            await bridged.close();
          }
        }
      }

      if (part !== 'calls') {
        const [wasm, labels, model] = await Promise.all([moduleFile('classify/classify.wasm'), moduleFile('classify/labels'), moduleFile('classify/model.onnx')]);
        const classify = await sandbox.load({ wasm, files: { model, labels }, grants: ['wasi_snapshot_preview1.*', 'wasi_ephemeral_nn.*'], services: { nn: engine } });
        const jpeg = new FakeCamera({ seed: 7 }).capture();
        const classifyCall = () => classify.call({ fn: 'classify', convention: { kind: 'scalar', args: [] }, files: { 'image.jpeg': jpeg }, outputs: ['classification.json'] });
        const first = await classifyCall();
        if (Number(first.value) < 0) throw new Error(`classify failed: ${String(first.value)} ${first.stderr}`);
        // onnxruntime-web direct: an engine of the same kind as the sandbox's wasi-nn uses, no
        // sandbox, given the tensor the module's own preprocessing makes from the same JPEG.
        const graph = await createBrowserInferenceEngine().load([model], 'onnx');
        const direct = await directClassifier(wasm, graph);
        [classified, baseline] = await paired(20, 1, classifyCall, () => direct(jpeg));
        await graph.release();
      }

      await executeServerCommand('liquidmesh-bench', { bare, call, noSharedCall, noSharedBare, hostShared, hostBridged, classified, direct: baseline, userAgent: navigator.userAgent });
    } finally {
      echo.terminate();
      await sandbox.close();
    }
  });
});
