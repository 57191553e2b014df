/**
 * Benchmarks of live migration over real WebRTC (Node peers, node-datachannel, loopback,
 * inside the loopback-only namespace `npm run bench` creates). Several kinds of state —
 * counter-c's repeating heap at 64 KiB, 1 MiB and 16 MiB (compressible), 16 MiB of
 * random bytes (dense), 64 MiB of memory of which 4 MiB written (sparse) — each moved
 * back and forth between two peers while a third calls it without pause. Baselines, same
 * run: the snapshot's bytes as a plain blob between the same two peers, and two raw data
 * channels moving the module's whole memory. Also: the longest hold of calls per kind as
 * the callers saw it, how many calls were lost or answered twice, and the CPU of a dense
 * 16 MiB move against the raw channels: on a small machine that hosts both ends, CPU
 * bounds a large move.
 */
import '../../node-host/webrtc/globals.ts';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { startSignalServer } from '../../node-host/signal/signal-server.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { meshOf, rawChannelPair, sendOverRaw } from './webrtc-mesh.ts';
import { type BenchRow, type BenchSection, bytes, ms, percentile, times } from './harness.ts';
import { wat } from '../helpers/wat.ts';

const SIZES_KIB = [64, 1024, 16 * 1024];
/** Moves per kind of state (alternating direction); an even number, so each peer is source as often. */
const RUNS = 6;
/** The goal for the longest hold, at every size. */
const HOLD_GOAL_MS = 20;

async function counterModule(): Promise<{ wasm: Uint8Array; description: ModuleDescription }> {
  const dir = new URL('../../modules/counter-c/', import.meta.url);
  return {
    wasm: new Uint8Array(await readFile(new URL('counter-c.wasm', dir))),
    description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription,
  };
}

/**
 * A module whose memory the bench lays out: `spread(total_kib, written_kib, seed)` grows
 * the memory to `total_kib` and writes `written_kib` of xorshift bytes (incompressible)
 * after the first page, leaving the rest zero; `next()` counts 1, 2, 3, … in memory.
 */
const SPREAD_WAT = `(module
  (memory (export "memory") 1)
  (func (export "next") (result i64)
    (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1)))
    (i64.load (i32.const 0)))
  (func (export "spread") (param $total i32) (param $written i32) (param $seed i32) (result i32)
    (local $need i32) (local $i i32) (local $x i32) (local $end i32)
    (local.set $need (i32.sub (i32.div_u (i32.add (i32.mul (local.get $total) (i32.const 1024)) (i32.const 65535)) (i32.const 65536)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then (return (i32.const -1))))))
    (local.set $x (i32.or (local.get $seed) (i32.const 1)))
    (local.set $i (i32.const 65536))
    (local.set $end (i32.add (i32.const 65536) (i32.mul (local.get $written) (i32.const 1024))))
    (block $done (loop $more
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
      (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
      (i32.store (local.get $i) (local.get $x))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $more)))
    (memory.size)))`;

async function spreadModule(): Promise<{ wasm: Uint8Array; description: ModuleDescription }> {
  const integer = { type: 'integer' } as const;
  const description = {
    name: 'spread',
    version: '1.0.0',
    functions: {
      next: { method: 'GET', params: [], result: integer, mounts: [] },
      spread: { method: 'POST', params: [{ name: 'total', ...integer }, { name: 'written', ...integer }, { name: 'seed', ...integer }], result: integer, mounts: [] },
    },
  } as unknown as ModuleDescription;
  return { wasm: await wat(SPREAD_WAT), description };
}

/** Non-zero bytes, different per seed, so every transfer ships them all anew. */
function filler(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = ((i * 2654435761) ^ seed) | 1;
  return out;
}

/** One kind of state to move, and how calls to it are checked. */
interface Case {
  label: string;
  module: string;
  /** Put the state in place (through calls). */
  setup(call: (fn: string, args: number[]) => Promise<unknown>): Promise<void>;
  /** The value the n-th call (from 1) of the load must return. */
  expected(): (n: number) => string;
  /** Bytes the raw channel moves for the comparison row (0: none). */
  rawBytes?: number;
  goal?: { label: string; max: number; what: string };
}

function fibonacci(): (n: number) => string {
  let p = 0n;
  let q = 1n;
  // (i64 arithmetic wraps; values past 2^53 arrive as decimal strings).
  return () => {
    [p, q] = [q, BigInt.asIntN(64, p + q)];
    return String(q);
  };
}

const counting = (): ((n: number) => string) => (n) => String(n);

const MIB = 1024 * 1024;
const CASES: Case[] = [
  ...SIZES_KIB.map((kib): Case => ({
    label: `${bytes(kib * 1024)} of repeated data (counter-c)`,
    module: 'counter-c',
    setup: async (call) => void (await call('fill', [kib])),
    expected: fibonacci,
    ...(kib === 16 * 1024 ? { rawBytes: 16 * MIB, goal: { label: '< 0.5×', max: 0.5, what: 'compressible' } } : {}),
  })),
  {
    label: '16.00 MiB of random data (dense)',
    module: 'spread',
    setup: async (call) => void (await call('spread', [16 * 1024 + 64, 16 * 1024, 12345])),
    expected: counting,
    rawBytes: 16 * MIB,
    goal: { label: '≤ 1.3×', max: 1.3, what: 'dense' },
  },
  {
    label: '64.00 MiB memory of which 4.00 MiB written (sparse)',
    module: 'spread',
    setup: async (call) => void (await call('spread', [64 * 1024, 4 * 1024, 777])),
    expected: counting,
    rawBytes: 64 * MIB,
    goal: { label: '< 0.5×', max: 0.5, what: 'sparse' },
  },
];

async function migration(): Promise<BenchSection> {
  requireLoopbackNamespace();
  const server = await startSignalServer();
  const peers = await meshOf(server.url, ['a', 'b', 'caller'], 'bench-migration');
  const [a, b, caller] = peers as [SupervisedPeer, SupervisedPeer, SupervisedPeer];
  const rows: BenchRow[] = [];
  const holds: { label: string; caller: number[]; source: number[]; normal: number }[] = [];
  const versusRaw: BenchRow[] = [];
  let worstDelay = 0;
  let cpu16 = 0;
  let raw16 = { ms: 0, coreMs: 0 };
  let idleCall = 0;
  let lost = 0;
  let sent = 0;
  // With LIQUIDMESH_MIGRATION_TRACE=1: the collector's pauses, to place beside each move's trace.
  const gcs: { at: number; ms: number }[] = [];
  const gcObserver = process.env.LIQUIDMESH_MIGRATION_TRACE === '1' ? new PerformanceObserver((list) => gcs.push(...list.getEntries().map((e) => ({ at: e.startTime, ms: e.duration })))) : null;
  gcObserver?.observe({ entryTypes: ['gc'] });
  try {
    await a.orchestrator.packages.publish(await counterModule());
    await a.orchestrator.packages.publish(await spreadModule());
    await waitFor(() => peers.every((p) => ['counter-c', 'spread'].every((m) => p.orchestrator.packages.list(m).length === 1)), 'the modules everywhere');
    // LIQUIDMESH_BENCH_MIGRATION=<substring>,…: only the kinds whose label contains one (a quick look at one kind).
    const only = (process.env.LIQUIDMESH_BENCH_MIGRATION ?? '').split(',').filter(Boolean);
    for (const [index, c] of CASES.entries()) {
      if (only.length > 0 && !only.some((o) => c.label.includes(o))) continue;
      const dep = a.orchestrator.deploy({ name: `state-${index}`, sequence: [{ module: c.module, func: 'next', device: 'a' }] });
      await a.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready', 30_000);
      await waitFor(() => caller.peer.registry.deployments.get(dep.id)?.record.status === 'ready', 'the caller sees it');
      await c.setup((fn, args) => caller.orchestrator.call(dep.id, c.module, fn, { args }));
      // Warm the target up with the module blob, as any peer that ever ran it would be.
      await b.peer.fetchBlob(a.orchestrator.packages.resolve(c.module).id);
      // A steady load: one call after another from the caller, each timed.
      let stop = false;
      const calls: { at: number; ms: number; value: string }[] = [];
      const load = (async () => {
        while (!stop) {
          const t = performance.now();
          const value = String((await caller.orchestrator.call(dep.id, c.module, 'next')).value);
          calls.push({ at: t, ms: performance.now() - t, value });
        }
      })();
      // If a step below fails, that failure is the one to report, not this loop's when the peers stop.
      load.catch(() => undefined);
      await waitFor(() => calls.length >= 50, 'the load runs', 30_000);
      const durations: number[] = [];
      const cpuRuns: number[] = [];
      const windows: [number, number][] = [];
      /** Per move: the longest extra wait a call overlapping the hold saw, and the source's own figure. */
      const callerHolds: number[] = [];
      const sourceHolds: number[] = [];
      /** Per move, the raw channel's time just before it, and the two's ratio. */
      const rawRuns: { ms: number; coreMs: number }[] = [];
      const ratios: number[] = [];
      // The raw channels stay open through the moves: each move is bracketed by a raw
      // transfer of the same bytes just before it, under the same load (the calls go on).
      const raw = c.rawBytes ? await rawChannelPair() : null;
      const rawPayload = c.rawBytes ? filler(c.rawBytes, 99) : null;
      if (raw && rawPayload) await sendOverRaw(raw, rawPayload);
      let snapshotBytes = 0;
      let wireBytes = 0;
      let deltaBytes = 0;
      try {
        for (let run = 0; run < RUNS; run++) {
          const [from, to] = run % 2 === 0 ? [a, b] : [b, a];
          if (raw && rawPayload) {
            const t = performance.now();
            const cpu = process.cpuUsage();
            await sendOverRaw(raw, rawPayload);
            rawRuns.push({ ms: performance.now() - t, coreMs: coreMs(process.cpuUsage(cpu)) });
          }
          // A call's normal time: the median of the 20 calls just before this move.
          const normal = percentile(calls.slice(-20).map((call) => call.ms).sort((x, y) => x - y), 50);
          const t0 = performance.now();
          const cpu0 = process.cpuUsage();
          const result = await caller.orchestrator.migrate(dep.id, c.module, to.peer.id, { timeoutMs: 60_000 });
          const t1 = performance.now();
          windows.push([t0, t1]);
          cpuRuns.push(coreMs(process.cpuUsage(cpu0)));
          // The move as its caller saw it, request to answer.
          durations.push(t1 - t0);
          if (rawRuns.length > 0) ratios.push((t1 - t0) / rawRuns[rawRuns.length - 1]!.ms);
          snapshotBytes = result.snapshotBytes;
          wireBytes = result.baseWireBytes ?? result.snapshotBytes;
          deltaBytes = Math.max(deltaBytes, result.deltaBytes);
          sourceHolds.push(result.pausedMs);
          if (result.from !== from.peer.id) throw new Error('moved from an unexpected peer');
          const settle = calls.length;
          await waitFor(() => calls.length >= settle + 20, 'calls after the move', 30_000);
          // The hold as callers saw it: among the calls that overlapped the hold (the source
          // is in this process, so its trace is on this clock), the longest, less a call's
          // normal time.
          const origin = (result.tracedFrom ?? performance.timeOrigin + t0) - performance.timeOrigin;
          const holdFrom = origin + (result.trace?.hold ?? result.durationMs - result.pausedMs);
          const holdTo = result.trace?.released !== undefined ? origin + result.trace.released : t1;
          const overlapping = calls.filter((call) => call.at + call.ms >= holdFrom && call.at <= holdTo).map((call) => call.ms);
          callerHolds.push(Math.max(0, Math.max(0, ...overlapping) - normal));
          if (process.env.LIQUIDMESH_MIGRATION_TRACE === '1') {
            const slow = calls.filter((call) => call.at + call.ms >= t0 && call.at <= t1 && call.ms > 5).map((call) => `${Math.round(call.at - t0)}+${Math.round(call.ms)}`);
            const rawBefore = rawRuns.length > 0 ? ` (raw channel just before: ${Math.round(rawRuns[rawRuns.length - 1]!.ms)} ms)` : '';
            process.stderr.write(`${c.label} run ${run}: ${Math.round(t1 - t0)} ms${rawBefore}, parts ${result.baseParts ?? 1}, rounds ${result.rounds} (${result.roundBytes} B), delta ${result.deltaBytes} B, held ${result.pausedMs.toFixed(1)} ms: ${JSON.stringify(result.trace)}; calls over 5 ms (start+ms): ${slow.join(' ')}; collector over 2 ms (start+ms): ${gcs.filter((g) => g.at + g.ms >= t0 && g.at <= t1 + 50 && g.ms > 2).map((g) => `${Math.round(g.at - t0)}+${Math.round(g.ms)}`).join(' ')}; the source began ${Math.round(origin - t0)} ms after the request\n`);
          }
        }
      } finally {
        raw?.close();
      }
      stop = true;
      await load;
      // Every call answered exactly once, in order: the values follow the module's sequence.
      sent += calls.length;
      const next = c.expected();
      calls.forEach((call, i) => {
        if (call.value !== next(i + 1)) lost++;
      });
      const during = calls.filter((call) => windows.some(([s, e]) => call.at + call.ms >= s && call.at <= e));
      // Baseline for delays: the calls before the first move.
      const before = calls.filter((call) => call.at + call.ms < windows[0]![0]).map((call) => call.ms).sort((x, y) => x - y);
      idleCall = Math.max(idleCall, percentile(before, 50));
      worstDelay = Math.max(worstDelay, ...during.map((call) => call.ms));
      holds.push({ label: c.label, caller: callerHolds, source: sourceHolds, normal: percentile(before, 50) });
      // Baseline: the same bytes as a plain blob between the same two peers.
      const blobs: number[] = [];
      for (let run = 0; run < 3; run++) {
        const hash = await a.peer.store.blobs.put(filler(snapshotBytes, index * 10 + run));
        const t = performance.now();
        await b.peer.fetchBlob(hash, { chunkBytes: 1024 * 1024 });
        blobs.push(performance.now() - t);
        await a.peer.store.blobs.delete(hash);
        await b.peer.store.blobs.delete(hash);
      }
      const migrationMs = percentile(durations.sort((x, y) => x - y), 50);
      const blobMs = percentile(blobs.sort((x, y) => x - y), 50);
      const shipped = wireBytes < snapshotBytes ? `, ${bytes(wireBytes)} compressed` : '';
      rows.push({
        name: `move with ${c.label} (snapshot ${bytes(snapshotBytes)}${shipped}, delta ${bytes(deltaBytes)}), p50`,
        figure: ms(migrationMs),
        baseline: `blob transfer of ${bytes(snapshotBytes)} ${ms(blobMs)}`,
        ratio: times(migrationMs, blobMs),
        goal: '',
      });
      if (c.rawBytes && c.goal && rawRuns.length > 0) {
        const rawMs = percentile(rawRuns.map((r) => r.ms).sort((x, y) => x - y), 50);
        if (c.goal.what === 'dense') [cpu16, raw16] = [percentile(cpuRuns.sort((x, y) => x - y), 50), { ms: rawMs, coreMs: percentile(rawRuns.map((r) => r.coreMs).sort((x, y) => x - y), 50) }];
        const ratio = percentile(ratios.sort((x, y) => x - y), 50);
        versusRaw.push({
          name: `move with ${c.label} against the raw data channel moving ${bytes(c.rawBytes)} just before it (${c.goal.what}); median of ${ratios.length} ratios (${ratios.map((r) => r.toFixed(2)).join(', ')})`,
          figure: ms(migrationMs),
          baseline: `raw channel ${ms(rawMs)}`,
          ratio: `${ratio.toFixed(2)}×`,
          goal: c.goal.label,
          met: ratio <= c.goal.max,
        });
      }
      a.orchestrator.remove(dep.id);
    }
    rows.push(...versusRaw);
    for (const h of holds) {
      const median = percentile([...h.caller].sort((x, y) => x - y), 50);
      const source = percentile([...h.source].sort((x, y) => x - y), 50);
      rows.push({
        name: `hold of calls as callers saw it, ${h.label}: per move, the longest call overlapping the hold less a call's normal time, median of ${h.caller.length} (each: ${h.caller.map((x) => Math.round(x)).join(', ')} ms; the source held calls ${ms(source)}, median, ${ms(Math.max(...h.source))} at most)`,
        figure: ms(median),
        baseline: `call p50 before the moves ${ms(h.normal)}`,
        ratio: '—',
        goal: `≤ ${HOLD_GOAL_MS} ms`,
        met: median <= HOLD_GOAL_MS,
      });
    }
    rows.push({
      name: 'CPU of a move with 16 MiB of random state (the whole process: three peers, both ends of the channel, the workers), p50',
      figure: `${Math.round(cpu16)} core-ms`,
      baseline: `raw data channel moving the same bytes ${Math.round(raw16.coreMs)} core-ms in ${ms(raw16.ms)}`,
      ratio: times(cpu16, raw16.coreMs),
      goal: '',
    });
    rows.push({ name: 'longest call during a move (any size)', figure: ms(worstDelay), baseline: `call p50 before the moves ${ms(idleCall)}`, ratio: times(worstDelay, idleCall), goal: '' });
    rows.push({ name: 'calls lost or answered twice', figure: `${lost} of ${sent}`, baseline: '—', ratio: '—', goal: '0', met: lost === 0 });
    return {
      title: 'Live migration over WebRTC (Node peers, node-datachannel, loopback)',
      method: `Three supervised peers in one process on ${cpus().length} cores, linked by the WebRTC transport, modules in worker threads. Each kind of state is put in place, then moved between two peers ${RUNS} times (alternating) while the third calls it one call after another; each figure is the move as the peer that asked for it timed it, from the request to the answer (after the routing switch), median of ${RUNS}. The source snapshots while serving (zero pages left out, a page repeating the one before it sent as a reference) and compresses the base when a sample of it shrinks to under half; the target loads the module and fetches and restores that base; a pre-copy round ships the pages written meanwhile, still serving, unless they are few (≤ 256 KiB); then the source holds calls, ships only the pages written since, and the target applies them; snapshot blobs travel in 1 MiB sha256-verified ranges, small deltas inline. Kinds: counter-c's heap (a repeating pattern: compressible), and a small module whose memory holds xorshift bytes (incompressible): 16 MiB dense, and 64 MiB of which 4 MiB written (sparse). Against the raw channel, bracketed like the gateway bench: two raw RTCDataChannels in the same process (no LiquidMesh code; DTLS and SCTP on both ends, 64 KiB messages) send the module's whole memory just before each move, under the same load of calls, and the figure is the median of the ${RUNS} ratios of a move to the raw transfer before it. The hold as callers saw it: per move, the longest call that overlapped the hold (from the moment the source began to hold calls to the moment it let them go, on the caller's clock: all peers run in this process), as its caller timed it from request to answer, less a call's normal time (the median of the 20 calls before that move); the row gives the median over the moves and each move's figure, beside the source's own measure of how long it held calls. Also the snapshot's bytes fetched as a plain blob between the same peers (median of 3). Calls are checked against each module's sequence: a lost or repeated call breaks it. CPU: the process's user + system time during each dense 16 MiB move and each raw transfer before it.`,
      rows,
    };
  } finally {
    gcObserver?.disconnect();
    await Promise.all(peers.map((p) => p.stop()));
    await server.close();
  }
}

/** CPU time in milliseconds (all threads of this process). */
function coreMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

/** The migration benchmarks, by id. */
export const migrationBenchmarks = [{ id: 'migration', run: migration }];
