/**
 * The sandbox's warm workers (shared/sandbox/worker-pool.ts), with stand-in workers: a
 * sandbox that runs modules hands out booted workers and boots replacements behind the
 * load; one that never loads starts none.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { workerBundle } from '../../node-host/sandbox/node-sandbox.ts';
import { Worker } from 'node:worker_threads';
import { WorkerSandbox } from '../../shared/sandbox/worker-sandbox.ts';
import { WorkerPool } from '../../shared/sandbox/worker-pool.ts';
import type { WorkerHandle } from '../../shared/sandbox/worker-slot.ts';

interface Fake extends WorkerHandle {
  id: number;
  terminated: boolean;
  fail(): void;
}

function fakes() {
  const spawned: Fake[] = [];
  const spawn = (): Fake => {
    let onError: ((e: Error) => void)[] = [];
    const fake: Fake = {
      id: spawned.length,
      terminated: false,
      post: () => {},
      onMessage: () => {},
      onError: (h) => void onError.push(h),
      terminate: () => void (fake.terminated = true),
      fail: () => onError.forEach((h) => h(new Error('died'))),
    };
    spawned.push(fake);
    return fake;
  };
  const later: (() => void)[] = [];
  const defer = (task: () => void): void => void later.push(task);
  const settle = (): void => {
    while (later.length > 0) later.shift()!();
  };
  return { spawned, spawn, defer, settle };
}

describe('Worker pool', () => {
  it('starts nothing until asked to refill, not even when a worker is taken', () => {
    const { spawned, spawn, defer, settle } = fakes();
    const pool = new WorkerPool(spawn, 2, defer);
    settle();
    expect(spawned).to.have.length(0);
    pool.take();
    settle();
    expect(spawned).to.have.length(1);
    expect(pool.idle).to.equal(0);
  });

  it('after a refill hands out booted workers, spawned before they were asked for', () => {
    const { spawned, spawn, defer, settle } = fakes();
    const pool = new WorkerPool(spawn, 2, defer);
    pool.refill();
    settle();
    expect(pool.idle).to.equal(2);
    const taken = [pool.take() as Fake, pool.take() as Fake];
    expect(taken.map((f) => f.id)).to.deep.equal([0, 1]);
    expect(pool.idle).to.equal(0);
    // Empty again: the next take spawns on demand.
    expect((pool.take() as Fake).id).to.equal(2);
    expect(spawned).to.have.length(3);
  });

  it('skips a worker that died idle', () => {
    const { spawned, spawn, defer, settle } = fakes();
    const pool = new WorkerPool(spawn, 2, defer);
    pool.refill();
    settle();
    spawned[0]!.fail();
    expect(pool.idle).to.equal(1);
    expect((pool.take() as Fake).id).to.equal(1);
  });

  it('terminates its idle workers when closed and keeps none afterwards', () => {
    const { spawned, spawn, defer, settle } = fakes();
    const pool = new WorkerPool(spawn, 2, defer);
    pool.refill();
    settle();
    pool.close();
    expect(spawned.map((f) => f.terminated)).to.deep.equal([true, true]);
    pool.refill();
    settle();
    expect(pool.idle).to.equal(0);
  });

  it('keeps none when its size is 0', () => {
    const { spawn, defer, settle } = fakes();
    const pool = new WorkerPool(spawn, 0, defer);
    pool.refill();
    settle();
    expect(pool.idle).to.equal(0);
  });
});

describe('Sandbox with warm workers (Node worker threads)', () => {
  it('starts no worker before the first load, and loads the same bytes again (cached, on warm workers) with the same results', async () => {
    const workers: Worker[] = [];
    const sandbox = new WorkerSandbox({
      defer: (task) => void setImmediate(task),
      spawn: () => {
        const worker = new Worker(workerBundle(), { execArgv: [] });
        worker.unref();
        workers.push(worker);
        return {
          post: (message, transfer) => worker.postMessage(message, transfer as never),
          onMessage: (handler) => worker.on('message', handler),
          onError: (handler) => worker.on('error', handler),
          terminate: () => void worker.terminate(),
        };
      },
    });
    try {
      expect(workers).to.have.length(0);
      const wasm = new Uint8Array(await readFile(new URL('../../modules/stateful-fibo/stateful-fibo.wasm', import.meta.url)));
      const call = { fn: 'stateful_fibo', convention: { kind: 'scalar' as const, args: [] } };
      for (let round = 0; round < 3; round++) {
        const instance = await sandbox.load({ wasm, grants: [] });
        // Each load is a fresh instance (its own worker), whatever the cache holds.
        expect((await instance.call(call)).value).to.equal(1n);
        expect((await instance.call(call)).value).to.equal(2n);
        await instance.close();
      }
      expect(workers.length).to.be.at.least(3);
    } finally {
      await sandbox.close();
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });

  it('closes an instance at once, terminating a spare that has not booted yet', async () => {
    const workers: Worker[] = [];
    let silentSpare: Fake | null = null;
    const sandbox = new WorkerSandbox({
      defer: (task) => void setImmediate(task),
      warmWorkers: 0,
      spawn: () => {
        if (workers.length > 0) {
          // The spare: a worker that never finishes booting (it never answers its init).
          silentSpare = fakes().spawn();
          return silentSpare;
        }
        const worker = new Worker(workerBundle(), { execArgv: [] });
        worker.unref();
        workers.push(worker);
        return {
          post: (message, transfer) => worker.postMessage(message, transfer as never),
          onMessage: (handler) => worker.on('message', handler),
          onError: (handler) => worker.on('error', handler),
          terminate: () => void worker.terminate(),
        };
      },
    });
    try {
      const wasm = new Uint8Array(await readFile(new URL('../../modules/stateful-fibo/stateful-fibo.wasm', import.meta.url)));
      const instance = await sandbox.load({ wasm, grants: [] });
      expect((await instance.call({ fn: 'stateful_fibo', convention: { kind: 'scalar', args: [] } })).value).to.equal(1n);
      expect(silentSpare).to.not.equal(null);
      await instance.close();
      expect(silentSpare!.terminated).to.equal(true);
    } finally {
      await sandbox.close();
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });
});
