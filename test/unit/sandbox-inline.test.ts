/**
 * Instances on the peer's own thread (ADR 0040): a module that needs nothing from the
 * host thread runs there, each call lent a small budget; a call past it finishes in a
 * worker, where the instance stays with its state. What a caller sees must not change:
 * the same answers, the same named errors, and the peer answering other calls meanwhile.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeSandbox as nodeSandbox, INLINE_BUDGET_MS } from '../../node-host/sandbox/node-sandbox.ts';
import type { CallRequest, Sandbox, SandboxInstance } from '../../shared/ports/sandbox.ts';
import type { WorkerSandboxOptions } from '../../shared/sandbox/worker-sandbox.ts';
import { dataBomb, malformed, recursion } from '../helpers/hostile-wasm.ts';
import { wat } from '../helpers/wat.ts';
import { rejectionOf } from '../acceptance/wait.ts';

/** A Node sandbox that runs qualifying instances on this thread. */
const createNodeSandbox = (options: Omit<WorkerSandboxOptions, 'spawn'> = {}) => nodeSandbox({ inline: { budgetMs: INLINE_BUDGET_MS }, ...options });
const scalar = (fn: string, ...args: (number | bigint)[]): CallRequest => ({ fn, convention: { kind: 'scalar', args } });
const moduleFile = async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url)));
/** Whether an instance runs on the peer's own thread (the sandbox's instances say so). */
const onPeerThread = (m: SandboxInstance): boolean => (m as SandboxInstance & { inline?: boolean }).inline === true;

/**
 * A counter in a global and in memory (`bump` adds 1 and 10 and returns their sum), a
 * loop of `n` turns before a bump (`spin`), an endless loop, a trap after a store, and a
 * memory growth that traps when refused.
 */
const COUNTER = `(module
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func $bump (export "bump") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 10)))
    (i32.add (global.get $count) (i32.load (i32.const 64))))
  (func (export "spin") (param $n i32) (result i32)
    (local $i i32)
    (loop $turn
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $turn (i32.lt_u (local.get $i) (local.get $n))))
    (call $bump))
  (func (export "forever") (loop $l (br $l)))
  (func (export "boom") (i32.store (i32.const 64) (i32.const 999)) (global.set $count (i32.const 999)) unreachable)
  (func (export "hog") (result i32)
    (i32.store (i32.const 64) (i32.const 999))
    (if (i32.eq (memory.grow (i32.const 100)) (i32.const -1)) (then unreachable))
    (memory.size)))`;

/** Turns of `spin` that take far longer than the peer thread's budget (tens of milliseconds at least). */
const LONG = 100_000_000;

describe('Sandbox instances on the peer\'s own thread', () => {
  let sandbox: Sandbox;
  afterEach(async () => {
    await sandbox?.close();
  });

  it('runs a module that needs nothing from the host thread on it, with the answers a worker gives', async () => {
    sandbox = createNodeSandbox();
    const fibo = await sandbox.load({ wasm: await moduleFile('fibo/fibo.wasm'), grants: ['wasi_snapshot_preview1.*'] });
    const counter = await sandbox.load({ wasm: await wat(COUNTER), grants: [] });
    expect(onPeerThread(fibo)).toBe(true);
    expect(onPeerThread(counter)).toBe(true);
    expect((await fibo.call(scalar('fibo', 12n))).value).toBe(233n);
    expect((await counter.call(scalar('bump'))).value).toBe(11);
    expect((await counter.call(scalar('bump'))).value).toBe(22);
  });

  it('moves an endless loop to a worker, answers other calls meanwhile, and stops the loop at its time limit', async () => {
    sandbox = createNodeSandbox({ limits: { callTimeoutMs: 1500 } });
    const loop = await sandbox.load({ wasm: await wasm('loop'), grants: [] });
    const fibo = await sandbox.load({ wasm: await moduleFile('fibo/fibo.wasm'), grants: ['wasi_snapshot_preview1.*'] });
    expect((await loop.call(scalar('next'))).value).toBe(11);
    let loopEnded = false;
    const forever = rejectionOf(loop.call(scalar('forever'))).finally(() => {
      loopEnded = true;
    });
    // The peer's thread is free while the loop runs in its worker.
    expect((await fibo.call(scalar('fibo', 20n))).value).toBe(10946n);
    expect(loopEnded).toBe(false);
    expect((await forever).code).toBe('ERR_CALL_TIMEOUT');
    expect(onPeerThread(loop)).toBe(false);
    // Resumed from the state before the loop, in the worker.
    expect((await loop.call(scalar('next'))).value).toBe(22);
    expect((await fibo.call(scalar('fibo', 12n))).value).toBe(233n);
    expect(onPeerThread(fibo)).toBe(true);
  });

  it('finishes a call past the budget in a worker, which keeps the instance\'s state from then on', async () => {
    sandbox = createNodeSandbox();
    const m = await sandbox.load({ wasm: await wat(COUNTER), grants: [] });
    expect((await m.call(scalar('bump'))).value).toBe(11);
    expect((await m.call(scalar('bump'))).value).toBe(22);
    expect((await m.call(scalar('spin', LONG))).value).toBe(33);
    expect(onPeerThread(m)).toBe(false);
    expect((await m.call(scalar('bump'))).value).toBe(44);
    // A snapshot of the worker's state carries everything the thread's calls did.
    const snapshot = await m.snapshot();
    const elsewhere = nodeSandbox();
    try {
      const copy = await elsewhere.load({ wasm: await wat(COUNTER), grants: [] });
      await copy.restore(snapshot);
      expect((await copy.call(scalar('bump'))).value).toBe(55);
    } finally {
      await elsewhere.close();
    }
  });

  it('answers calls issued together in order when one of them moves the instance to a worker', async () => {
    sandbox = createNodeSandbox();
    const m = await sandbox.load({ wasm: await wat(COUNTER), grants: [] });
    const values = await Promise.all([m.call(scalar('bump')), m.call(scalar('spin', LONG)), m.call(scalar('bump')), m.call(scalar('bump'))]);
    expect(values.map((r) => r.value)).toEqual([11, 22, 33, 44]);
  });

  it('reports a trap as ERR_WASM_TRAP, undoes what the call wrote, and keeps the instance on the thread', async () => {
    sandbox = createNodeSandbox();
    const m = await sandbox.load({ wasm: await wat(COUNTER), grants: [] });
    expect((await m.call(scalar('bump'))).value).toBe(11);
    expect((await rejectionOf(m.call(scalar('boom')))).code).toBe('ERR_WASM_TRAP');
    expect((await m.call(scalar('bump'))).value).toBe(22);
    expect(onPeerThread(m)).toBe(true);
  });

  it('fails a call that exhausts its memory with a named error, undone, and serves on', async () => {
    sandbox = createNodeSandbox({ limits: { maxMemoryPages: 8 } });
    const m = await sandbox.load({ wasm: await wat(COUNTER), grants: [] });
    expect((await m.call(scalar('bump'))).value).toBe(11);
    expect((await rejectionOf(m.call(scalar('hog')))).code).toBe('ERR_WASM_TRAP');
    expect((await m.call(scalar('bump'))).value).toBe(22);
    const gray = await sandbox.load({ wasm: await moduleFile('grayscale/grayscale.wasm'), grants: [] });
    const error = await rejectionOf(gray.call({ fn: 'convert2Grayscale', convention: { kind: 'buffer', pointer: 'get_img_ptr', input: new Uint8Array(640 * 480 * 3) } }));
    expect(error.code).toBeOneOf(['ERR_WASM_TRAP', 'ERR_MEMORY_EXHAUSTED']);
    expect((await m.call(scalar('bump'))).value).toBe(33);
  });

  it('reports unbounded recursion as ERR_WASM_TRAP naming the stack overflow, and serves on', async () => {
    sandbox = createNodeSandbox();
    const m = await sandbox.load({ wasm: recursion(), grants: [] });
    const error = await rejectionOf(m.call(scalar('recurse', 0)));
    expect(error.code).toBe('ERR_WASM_TRAP');
    expect(error.message).toContain('stack overflow');
    expect((await m.call(scalar('ok'))).value).toBe(42);
  });

  it('refuses hostile binaries at load with named errors and keeps serving the instances it runs', async () => {
    sandbox = createNodeSandbox();
    const m = await sandbox.load({ wasm: await wat(COUNTER), grants: [] });
    for (const [what, bytes] of Object.entries(malformed())) {
      expect((await rejectionOf(sandbox.load({ wasm: bytes, grants: [] }))).code, what).toBe('ERR_INVALID_WASM');
    }
    expect((await rejectionOf(sandbox.load({ wasm: dataBomb(17 * 1024 * 1024), grants: [] }))).code).toBe('ERR_MODULE_BUDGET');
    expect((await rejectionOf(m.call({ fn: 'bump', convention: { kind: 'nonsense' } as never }))).code).toBe('ERR_FUNCTION_NOT_FOUND');
    expect((await rejectionOf(m.call(scalar('missing')))).code).toBe('ERR_FUNCTION_NOT_FOUND');
    expect((await m.call(scalar('bump'))).value).toBe(11);
  });

  it('starts in a worker a module whose start function runs past the budget', async () => {
    sandbox = createNodeSandbox();
    const slowStart = await wat(`(module
      (global $ready (mut i32) (i32.const 0))
      (func $init (local $i i32)
        (loop $turn
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $turn (i32.lt_u (local.get $i) (i32.const ${LONG}))))
        (global.set $ready (i32.const 42)))
      (start $init)
      (func (export "ready") (result i32) (global.get $ready)))`);
    const m = await sandbox.load({ wasm: slowStart, grants: [] });
    expect((await m.call(scalar('ready'))).value).toBe(42);
    expect(onPeerThread(m)).toBe(false);
  });

  it('keeps a module that blocks its thread (sys.delay) in a worker', async () => {
    sandbox = createNodeSandbox();
    const delays = await wat(`(module (import "sys" "delay" (func $delay (param i32))) (func (export "nap") (call $delay (i32.const 1))))`);
    const m = await sandbox.load({ wasm: delays, grants: ['sys.delay'] });
    expect(onPeerThread(m)).toBe(false);
    await m.call(scalar('nap'));
  });
});

function wasm(name: string): Promise<Uint8Array> {
  return moduleFile(`${name}/${name}.wasm`);
}
