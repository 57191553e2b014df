/**
 * Benchmarks of the sandbox and supervisor on Node worker threads.
 */
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { Supervisor } from '../../shared/supervisor/supervisor.ts';
import { encodeU32Leb } from '../../shared/wasm/binary.ts';
import { type BenchSection, bytes, ms, percentile, sample, times } from './harness.ts';

const modulesDir = new URL('../../modules/', import.meta.url);
const read = async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(new URL(path, modulesDir)));

/** Supervisor call overhead against a bare Worker postMessage round trip. */
async function callOverhead(): Promise<BenchSection> {
  const echo = new Worker("require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));", { eval: true });
  const roundTrip = (): Promise<unknown> => new Promise((resolve) => {
    echo.once('message', resolve);
    echo.postMessage({ t: 'call', id: 0, request: { fn: 'fibo', convention: { kind: 'scalar', args: [20n] } } });
  });
  const N = 5000;
  const bare = await sample(N, roundTrip);
  await echo.terminate();

  const sandbox = createNodeSandbox();
  const supervisor = new Supervisor({ sandbox, kv: new MemoryKeyValueStore() });
  const wasm = await read('fibo/fibo.wasm');
  const description = JSON.parse(new TextDecoder().decode(await read('fibo/description.json'))) as ModuleDescription;
  await supervisor.deploy({ deploymentId: 'bench', name: 'fibo', wasm, description, grants: ['wasi_snapshot_preview1.*'] });
  const instance = supervisor.instance('bench', 'fibo');
  const raw = await sample(N, () => instance.call({ fn: 'fibo', convention: { kind: 'scalar', args: [20n] } }));
  const full = await sample(N, () => supervisor.call('bench', 'fibo', 'fibo', { args: { param0: '20' } }));
  await supervisor.stop();

  // fibo(20) itself: plain JS against the same wasm export called in-process.
  const jsFibo = (n: bigint): bigint => {
    let a = 0n;
    let b = 1n;
    for (let i = 0n; i < n; i++) [a, b] = [b, a + b];
    return b;
  };
  const module = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>, { wasi_snapshot_preview1: { fd_write: () => 0, environ_get: () => 0, environ_sizes_get: () => 0, proc_exit: () => 0 } });
  const wasmFibo = module.instance.exports.fibo as (n: bigint) => bigint;
  const reps = 100_000;
  const js = await sample(20, () => { for (let i = 0; i < reps; i++) jsFibo(20n); });
  const direct = await sample(20, () => { for (let i = 0; i < reps; i++) wasmFibo(20n); });

  const p = (s: number[], q: number): number => percentile(s, q);
  return {
    title: 'Calls through the sandbox',
    method: `Node worker threads. Baseline: a bare Worker postMessage round trip of a call-sized message (${N} samples). "Sandbox" is one instance call (worker hop, wasm, result, state copy); "supervisor" adds parameter parsing from a query string, the calling convention and the history record (kept in memory, written to the store behind the calls). fibo(20) rows time ${reps.toLocaleString('en')} calls in-process.`,
    rows: [
      { name: 'sandbox call p50', figure: ms(p(raw, 50)), baseline: `postMessage round trip ${ms(p(bare, 50))}`, ratio: times(p(raw, 50), p(bare, 50)), goal: '≤ 2×', met: p(raw, 50) <= 2 * p(bare, 50) },
      { name: 'sandbox call p99', figure: ms(p(raw, 99)), baseline: `postMessage round trip ${ms(p(bare, 99))}`, ratio: times(p(raw, 99), p(bare, 99)), goal: '' },
      { name: 'supervisor call p50', figure: ms(p(full, 50)), baseline: `postMessage round trip ${ms(p(bare, 50))}`, ratio: times(p(full, 50), p(bare, 50)), goal: '≤ 2×', met: p(full, 50) <= 2 * p(bare, 50) },
      { name: 'supervisor call p99', figure: ms(p(full, 99)), baseline: `postMessage round trip ${ms(p(bare, 99))}`, ratio: times(p(full, 99), p(bare, 99)), goal: '' },
      { name: 'fibo(20) in wasm, in-process', figure: ms(p(direct, 50) / reps), baseline: `plain JS ${ms(p(js, 50) / reps)}`, ratio: times(p(direct, 50), p(js, 50)), goal: '' },
      { name: 'fibo(20) through the supervisor', figure: ms(p(full, 50)), baseline: `plain JS ${ms(p(js, 50) / reps)}`, ratio: times(p(full, 50), p(js, 50) / reps), goal: '' },
    ],
  };
}

/** A valid module of about `size` bytes of code: many small functions, one exported; `seed` makes its bytes unique. */
function syntheticModule(size: number, seed = 1): Uint8Array {
  const section = (id: number, body: Uint8Array): Uint8Array => concat([new Uint8Array([id]), encodeU32Leb(body.byteLength), body]);
  const vec = (items: Uint8Array[]): Uint8Array => concat([encodeU32Leb(items.length), ...items]);
  // Each body: i32.const 1, then (i32.const 1, i32.add) × k, end — about 1 KiB.
  const k = 250;
  const ops = new Uint8Array(2 + k * 3 + 1);
  ops.set([0x41, seed & 0x3f]);
  for (let i = 0; i < k; i++) ops.set([0x41, 0x01, 0x6a], 2 + i * 3);
  ops[ops.length - 1] = 0x0b;
  const body = concat([new Uint8Array([0x00]), ops]);
  const fbody = concat([encodeU32Leb(body.byteLength), body]);
  const count = Math.max(1, Math.round(size / fbody.byteLength));
  const types = section(1, vec([new Uint8Array([0x60, 0x00, 0x01, 0x7f])]));
  const funcs = section(3, vec(Array.from({ length: count }, () => new Uint8Array([0x00]))));
  const name = new TextEncoder().encode('f0');
  const exports = section(7, vec([concat([encodeU32Leb(name.length), name, new Uint8Array([0x00, 0x00])])]));
  const code = section(10, vec(Array.from({ length: count }, () => fbody)));
  return concat([new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]), types, funcs, exports, code]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** How long a sandbox at rest takes to boot the warm workers a closed instance freed. */
const SETTLE_MS = 300;
const LOADS = 9;

/**
 * Load time of 1 MB and 10 MB modules against a bare WebAssembly.compile. Each sample
 * alternates a compile and a load, so both see the same machine; the loads at rest come
 * after a pause in which the sandbox boots its warm workers, as on a peer that has run
 * modules before; the back-to-back ones load the moment the previous instance closed.
 */
async function loadTime(): Promise<BenchSection> {
  const rows = [];
  for (const size of [1_000_000, 10_000_000]) {
    const wasm = syntheticModule(size);
    const sandbox = createNodeSandbox();
    const compiles: number[] = [];
    const atRest: number[] = [];
    const backToBack: number[] = [];
    const freshCompiles: number[] = [];
    const firstLoads: number[] = [];
    // The first load prepares the module (rewrite and compile, kept per content hash) and fills the pool.
    await (await sandbox.load({ wasm, grants: [] })).close();
    for (let i = 0; i < LOADS; i++) {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      let t = performance.now();
      await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
      compiles.push(performance.now() - t);
      t = performance.now();
      const instance = await sandbox.load({ wasm, grants: [] });
      atRest.push(performance.now() - t);
      await instance.close();
      t = performance.now();
      await (await sandbox.load({ wasm, grants: [] })).close();
      backToBack.push(performance.now() - t);
      // Bytes never seen before, at rest: the rewrite and compilation are part of the load.
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const fresh = syntheticModule(size, 2 + 2 * i);
      const other = syntheticModule(size, 3 + 2 * i);
      t = performance.now();
      await WebAssembly.compile(fresh as Uint8Array<ArrayBuffer>);
      freshCompiles.push(performance.now() - t);
      t = performance.now();
      const first = await sandbox.load({ wasm: other, grants: [] });
      firstLoads.push(performance.now() - t);
      await first.close();
    }
    await sandbox.close();
    const median = (values: number[]): number => percentile([...values].sort((x, y) => x - y), 50);
    const compile = median(compiles);
    rows.push({
      name: `load ${bytes(wasm.byteLength)} at rest (hash, parse, checks, prepared module reused, a warm worker instantiates it)`,
      figure: ms(median(atRest)),
      baseline: `WebAssembly.compile ${ms(compile)}`,
      ratio: times(median(atRest), compile),
      goal: '≤ 5×',
      met: median(atRest) <= 5 * compile,
    });
    rows.push({
      name: `first load of ${bytes(wasm.byteLength)} never loaded before, at rest (also the rewrite and its compilation)`,
      figure: ms(median(firstLoads)),
      baseline: `WebAssembly.compile of new bytes ${ms(median(freshCompiles))}`,
      ratio: times(median(firstLoads), median(freshCompiles)),
      goal: '',
    });
    rows.push({
      name: `load and close ${bytes(wasm.byteLength)} back to back (the worker is still booting)`,
      figure: ms(median(backToBack)),
      baseline: `WebAssembly.compile ${ms(compile)}`,
      ratio: times(median(backToBack), compile),
      goal: '',
    });
  }
  return {
    title: 'Module load time',
    method: `Synthetic modules of about 1 and 10 MB of code (many 1 KiB functions) on Node worker threads; the baseline compiles the same bytes on the calling thread. After a first load (which rewrites and compiles the module once per content hash and starts the warm-worker pool), ${LOADS} samples each alternate a compile, a load at rest (${SETTLE_MS} ms after the last instance closed, time for the pool to boot the workers it frees, as on a peer that has run modules before), a load and close back to back (the worker it takes was spawned as the previous instance closed), and, at rest again, a compile and a load of bytes never seen before (new modules of the same size, so neither the sandbox's cache nor the engine's can serve them); medians. A load ends when the instance's worker has instantiated the module and can take calls; its spare boots behind it.`,
    rows,
  };
}

/** The sandbox's benchmark sections. */
export const sandboxBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [
  { id: 'calls', run: callOverhead },
  { id: 'load', run: loadTime },
];
