/**
 * Warm workers for a sandbox: a worker thread takes tens of milliseconds to boot, most
 * of a module's load time, so a sandbox that has run modules keeps a few booted ones idle
 * and hands them out at once. It boots them when an instance closes (the workers it
 * frees are replaced), never during a load or while a fresh instance starts answering
 * calls; a sandbox that never ran a module starts none, so its peer stays small. Each
 * worker still runs one instance only and is terminated with it.
 * @module
 */
import type { WorkerHandle } from './worker-slot.ts';

interface Idle {
  handle: WorkerHandle;
  dead: boolean;
}

/** Booted, unused workers, refilled behind the loads that take them. */
export class WorkerPool {
  readonly #spawn: () => WorkerHandle;
  readonly #size: number;
  readonly #defer: (task: () => void) => void;
  #idle: Idle[] = [];
  #refilling = false;
  #closed = false;

  /**
   * @param spawn starts one worker
   * @param size how many to keep idle (0: none, every take spawns)
   * @param defer runs the refill after the current task, so a take costs no spawn
   */
  constructor(spawn: () => WorkerHandle, size: number, defer: (task: () => void) => void) {
    this.#spawn = spawn;
    this.#size = size;
    this.#defer = defer;
  }

  /** How many idle workers are ready (or booting). */
  get idle(): number {
    return this.#idle.filter((w) => !w.dead).length;
  }

  /** A worker for one instance: an idle one if any, else a new one. */
  take(): WorkerHandle {
    let taken: Idle | undefined;
    while ((taken = this.#idle.shift()) && taken.dead) {
      /* a worker that died idle is skipped */
    }
    return taken?.handle ?? this.#spawn();
  }

  /** Terminate the idle workers; later takes spawn without keeping any. */
  close(): void {
    this.#closed = true;
    for (const w of this.#idle) w.handle.terminate();
    this.#idle = [];
  }

  /** Boot idle workers up to the pool's size, after the current task. */
  refill(): void {
    if (this.#refilling || this.#closed || this.#size === 0) return;
    this.#refilling = true;
    this.#defer(() => {
      this.#refilling = false;
      while (!this.#closed && this.#idle.length < this.#size) {
        const entry: Idle = { handle: this.#spawn(), dead: false };
        // An idle worker that dies (out of memory, a crash while booting) is dropped, not handed out.
        entry.handle.onError(() => {
          entry.dead = true;
          this.#idle = this.#idle.filter((w) => w !== entry);
        });
        this.#idle.push(entry);
      }
    });
  }
}
