/**
 * Benchmarks of the isomorphic core: RPC over the in-memory transport, cold join into a
 * large registry, and document growth under heartbeats.
 */
import * as Y from 'yjs';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import { SystemClock } from '../../shared/system-clock.ts';
import { waitFor } from '../acceptance/wait.ts';
import { collectLogs, createMesh, memoryStore } from '../helpers/mesh.ts';
import { type BenchSection, bytes, ms, percentile, sample, times } from './harness.ts';

/** RPC round trip over MemoryTransport against a direct async call of the same handler. */
async function rpcRoundTrip(): Promise<BenchSection> {
  const mesh = await createMesh(['a', 'b'], { clock: new SystemClock() });
  const [a, b] = mesh.peers as [Peer, Peer];
  await waitFor(() => a.linked().includes(b.id), 'link');
  const handler = async (p: { sentAt: number }): Promise<{ sentAt: number; peer: string }> => ({ sentAt: p.sentAt, peer: b.id });
  const N = 20_000;
  const direct = await sample(N, () => handler({ sentAt: 1 }));
  const rpc = await sample(N, () => a.call(b.id, 'peer.ping', { sentAt: 1 }));
  // Pipelined: many calls in flight at once.
  const inFlight = 64;
  const total = 50_000;
  const t0 = performance.now();
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (issued < total) {
      issued++;
      await a.call(b.id, 'peer.ping', { sentAt: 1 });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const perSecond = total / ((performance.now() - t0) / 1000);
  await mesh.stopAll();
  return {
    title: 'RPC over the in-memory transport',
    method: `Two peers in one process on a MemoryNetwork (real encoding, framing and authenticated links; no network). ${N} sequential \`peer.ping\` calls against ${N} direct \`await\`s of the same handler; then ${total} calls with ${inFlight} in flight.`,
    rows: [
      { name: 'round trip p50', figure: ms(percentile(rpc, 50)), baseline: `direct call ${ms(percentile(direct, 50))}`, ratio: times(percentile(rpc, 50), percentile(direct, 50)), goal: '' },
      { name: 'round trip p99', figure: ms(percentile(rpc, 99)), baseline: `direct call ${ms(percentile(direct, 99))}`, ratio: times(percentile(rpc, 99), percentile(direct, 99)), goal: '' },
      { name: 'pipelined calls per second', figure: `${Math.round(perSecond).toLocaleString('en')}/s`, baseline: `direct ${Math.round(1000 / percentile(direct, 50)).toLocaleString('en')}/s`, ratio: times(perSecond, 1000 / percentile(direct, 50)), goal: '' },
    ],
  };
}

/** A peer joins a mesh whose registry holds 1,000 devices and 1,000 deployments. */
async function coldJoin(): Promise<BenchSection> {
  const log = collectLogs();
  const network = new MemoryNetwork();
  const clock = new SystemClock();
  const mesh = await createMesh(['seed'], { network, clock, log });
  const seed = mesh.peers[0]!;
  const fakeId = (i: number): string => i.toString(16).padStart(32, '0');
  seed.registry.transact(() => {
    for (let i = 0; i < 1000; i++) {
      seed.registry.devices.set({
        id: fakeId(i), name: `device-${i}`, engine: i % 3 === 0 ? 'browser' : i % 3 === 1 ? 'chromium' : 'node',
        publicKey: 'ab'.repeat(32), platform: { cpu: { humanReadableName: 'Cortex-A72', cores: 4, clockSpeedHz: 1.5e9 }, memory: { bytes: 4e9 } },
        capabilities: ['sys.millis', 'sys.print', 'wasi_snapshot_preview1.*', 'camera.takeImageStaticSize'], version: '0.1.0', startedAt: 1,
      });
      seed.registry.deployments.put({
        id: `dep-${i}`, name: `fibo-chain-${i}`, manifest: { sequence: [{ device: null, module: 'fibo', func: 'fibo' }, { device: null, module: 'grayscale', func: 'convert2Grayscale' }] },
        solution: { '0': fakeId(i), '1': fakeId((i + 1) % 1000) }, revision: 1, coordinator: fakeId(i), status: 'ready', createdAt: 1, updatedAt: 1,
      });
    }
  });
  const state = Y.encodeStateAsUpdate(seed.registry.doc);
  const runs = 10;
  const joins: number[] = [];
  const applies: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    const joiner = new Peer({ transports: [network.createTransport()], store: memoryStore(), clock, device: { name: `joiner-${r}`, engine: 'node' }, logger: createLogger('bench', log.sink) });
    await joiner.start();
    await waitFor(() => joiner.registry.devices.size >= 1001 && joiner.registry.deployments.keys().length >= 1000, 'the joiner to have the registry', 30_000);
    joins.push(performance.now() - t);
    await joiner.stop();
    const t2 = performance.now();
    const doc = new Y.Doc();
    Y.applyUpdate(doc, state);
    applies.push(performance.now() - t2);
  }
  joins.sort((x, y) => x - y);
  applies.sort((x, y) => x - y);
  await mesh.stopAll();
  const p50 = percentile(joins, 50);
  return {
    title: 'Cold join into a large registry',
    method: `A new peer starts (key pair, authenticated link, sync step 1/2, validation of every entry on read) and waits until its registry shows 1,000 devices and 1,000 deployments (${bytes(state.byteLength)} of Yjs state). Baseline: applying the same state to an empty Y.Doc directly. Median of ${runs}.`,
    rows: [{ name: 'join until the registry is complete', figure: ms(p50), baseline: `Y.applyUpdate ${ms(percentile(applies, 50))}`, ratio: times(p50, percentile(applies, 50)), goal: '≤ 100 ms', met: p50 <= 100 }],
  };
}

/** Document size after 10 peers heartbeat once per second for a simulated hour. */
async function heartbeatGrowth(): Promise<BenchSection> {
  const clock = new ManualClock();
  const names = Array.from({ length: 10 }, (_, i) => `hb-${i}`);
  const mesh = await createMesh(names, { clock, timing: { heartbeatMs: 1000, livenessTimeoutMs: 5000, antiEntropyMs: 60_000 } });
  await waitFor(() => mesh.peers.every((p) => p.alive().length === 9), 'everyone alive');
  const size = (): number => Y.encodeStateAsUpdate(mesh.peers[0]!.registry.doc).byteLength;
  const before = size();
  const t = performance.now();
  for (let s = 0; s < 3600; s++) {
    clock.advance(1000);
    await new Promise((r) => setImmediate(r));
  }
  const wall = performance.now() - t;
  const after = size();
  const alive = mesh.peers.every((p) => p.alive().length === 9);
  await mesh.stopAll();

  // Baseline: the same heartbeats written into the document instead of awareness.
  const doc = new Y.Doc();
  const beats = doc.getMap('heartbeats');
  const baseBefore = Y.encodeStateAsUpdate(doc).byteLength;
  for (let s = 0; s < 3600; s++) for (const n of names) beats.set(n, { cpu: 0.1, memory: 0.2, callsPerSecond: s });
  const baseAfter = Y.encodeStateAsUpdate(doc).byteLength;
  return {
    title: 'Registry size under heartbeats',
    method: `10 peers on a simulated clock heartbeat once per second for one simulated hour (36,000 heartbeats, ${ms(wall)} of real time; every peer still sees the 9 others alive at the end: ${alive}). Baseline: the same heartbeats stored in the Yjs document instead of awareness.`,
    rows: [{ name: 'document growth over the hour', figure: `${bytes(after - before)} (from ${bytes(before)})`, baseline: `in-document heartbeats grow it by ${bytes(baseAfter - baseBefore)}`, ratio: `${after - before} / ${baseAfter - baseBefore}`, goal: 'no growth', met: after === before }],
  };
}

/** The core's benchmark sections, in the order they appear in BENCHMARKS.md. */
export const coreBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [
  { id: 'rpc', run: rpcRoundTrip },
  { id: 'join', run: coldJoin },
  { id: 'heartbeat', run: heartbeatGrowth },
];
