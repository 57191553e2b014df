/**
 * Benchmarks of orchestration over real WebRTC (Node peers, node-datachannel, loopback,
 * inside the loopback-only namespace `npm run bench` creates), each against a baseline
 * measured in the same run: deploying a 1 MB module to 5 peers against fetching its blob
 * to them; a chain over three peers against the sum of its single hops (failover is in
 * failover.ts).
 */
import '../../node-host/webrtc/globals.ts';
import { readFile } from 'node:fs/promises';
import { startSignalServer } from '../../node-host/signal/signal-server.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { meshOf } from './webrtc-mesh.ts';
import { type BenchSection, ms, percentile, times } from './harness.ts';

/** fibo with a custom section of `padding` bytes (unique per `seed`), so every run fetches anew. */
function padded(fibo: Uint8Array, padding: number, seed: number): Uint8Array {
  const name = new TextEncoder().encode('pad');
  const body = padding + 1 + name.length;
  const leb: number[] = [];
  for (let v = body; ; ) {
    const b = v & 0x7f;
    v >>>= 7;
    if (v === 0) {
      leb.push(b);
      break;
    }
    leb.push(b | 0x80);
  }
  const out = new Uint8Array(fibo.length + 1 + leb.length + body);
  out.set(fibo);
  let o = fibo.length;
  out[o++] = 0;
  out.set(leb, o);
  o += leb.length;
  out[o++] = name.length;
  out.set(name, o);
  o += name.length;
  for (let i = 0; i < padding; i++) out[o + i] = (i * 31 + seed * 7919) & 0xff;
  return out;
}

async function fiboModule(): Promise<{ wasm: Uint8Array; description: ModuleDescription }> {
  const dir = new URL('../../modules/fibo/', import.meta.url);
  return {
    wasm: new Uint8Array(await readFile(new URL('fibo.wasm', dir))),
    description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription,
  };
}

/** A pause before each timed step, so that it starts on a mesh at rest (warm workers booted, fetches done). */
const SETTLE_MS = 500;

async function deployAndChain(): Promise<BenchSection> {
  requireLoopbackNamespace();
  const server = await startSignalServer();
  const names = ['coordinator', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const peers = await meshOf(server.url, names, 'bench-orch');
  const [coord] = peers as [SupervisedPeer];
  try {
    const fibo = await fiboModule();
    // Deploy 1 MB to five peers, against fetching the same-sized blob to them.
    const deploys: number[] = [];
    const fetches: number[] = [];
    for (let run = 0; run < 6; run++) {
      const record = await coord.orchestrator.packages.publish({ wasm: padded(fibo.wasm, 1024 * 1024, run), description: { ...fibo.description, version: `1.0.${run}` } });
      await waitFor(() => peers.every((p) => p.peer.registry.modules.get(record.id) !== undefined), 'the record everywhere');
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const t0 = performance.now();
      const dep = coord.orchestrator.deploy({ name: `big-${run}`, sequence: names.slice(1).map((device) => ({ module: record.id, func: 'fibo', device })) });
      const view = await coord.orchestrator.waitFor(dep.id, undefined, 30_000);
      if (view.record.status !== 'ready') throw new Error(`deployment ended ${view.record.status}: ${view.record.reason}`);
      if (run > 0) deploys.push(performance.now() - t0);
      coord.orchestrator.remove(dep.id);
      // The baseline runs on a mesh at rest, as the deploy did: the instances closed and the
      // warm workers their close frees booted, not behind five unloads.
      await waitFor(() => peers.every((p) => !p.supervisor.deployed().some((d) => d.deploymentId === dep.id)), 'the deployment unloaded everywhere');
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const blob = await coord.peer.store.blobs.put(padded(fibo.wasm, 1024 * 1024, 1000 + run));
      const t1 = performance.now();
      await Promise.all(peers.slice(1).map((p) => p.peer.fetchBlob(blob)));
      if (run > 0) fetches.push(performance.now() - t1);
    }
    const deployMs = percentile(deploys.sort((a, b) => a - b), 50);
    const fetchMs = percentile(fetches.sort((a, b) => a - b), 50);

    // A chain over three peers, called from a fourth, against its three single hops.
    await coord.orchestrator.packages.publish(fibo);
    const chain = coord.orchestrator.deploy({ name: 'chain', sequence: ['p1', 'p2', 'p3'].map((device) => ({ module: 'fibo', func: 'fibo', device })) });
    await coord.orchestrator.waitFor(chain.id, (v) => v.record.status === 'ready', 30_000);
    const chained: number[] = [];
    const hops: number[] = [];
    for (let i = 0; i < 220; i++) {
      const t0 = performance.now();
      await coord.orchestrator.execute(chain.id, { args: [2] });
      const t1 = performance.now();
      for (const module of ['fibo']) for (let s = 0; s < 3; s++) await coord.peer.call(chain.solution[String(s)]!, 'supervisor.call', { deploymentId: chain.id, module, fn: 'fibo', args: [2] });
      const t2 = performance.now();
      if (i >= 20) {
        chained.push(t1 - t0);
        hops.push(t2 - t1);
      }
    }
    const chainP50 = percentile(chained.sort((a, b) => a - b), 50);
    const hopsP50 = percentile(hops.sort((a, b) => a - b), 50);
    return {
      title: 'Orchestration over WebRTC (Node peers, node-datachannel, loopback)',
      method:
        `Six supervised peers in one process, linked by the WebRTC transport, modules in worker threads. Deploy: a 1 MiB module (fibo plus a custom section, new bytes each run) pinned to five peers, from writing the deployment to every step ready; baseline: the five peers fetching a 1 MiB blob from the coordinator at once, once the deployment before it has been removed and unloaded everywhere; each of the two starts ${SETTLE_MS} ms after the mesh came to rest. Chain: fibo → fibo → fibo on three peers, executed from a fourth; baseline: the same three calls made one after another from the caller. Medians of 5 deploys and 200 chains after warm-up.`,
      rows: [
        { name: 'deploy 1 MiB to 5 peers, until all ready', figure: ms(deployMs), baseline: `5 parallel blob fetches ${ms(fetchMs)}`, ratio: times(deployMs, fetchMs), goal: '≤ 1.5×', met: deployMs <= 1.5 * fetchMs },
        { name: 'chain over 3 peers, p50', figure: ms(chainP50), baseline: `3 single hops ${ms(hopsP50)}`, ratio: times(chainP50, hopsP50), goal: '' },
      ],
    };
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
    await server.close();
  }
}

/** The orchestration benchmarks, by id. */
export const orchestrationBenchmarks = [
  { id: 'orchestration', run: deployAndChain },
];
