/**
 * The host side of the sandbox: loading and the instances' options. Loading checks size
 * and imports (linked provider modules: linking.ts) and what the module declares it will
 * allocate (budget.ts), rewrites the binary (write
 * tracking, memory cap, exported mutable globals: prepare.ts) and compiles it once; the compiled module goes to each
 * worker of the instance (worker-instance.ts: calls, time limits, the spare). Platform
 * specifics — how a worker is spawned, when a turn of the event loop ends — come in as
 * functions, so this file serves browser Workers and Node worker threads alike.
 * @module
 */
import { sha256Hex } from '../bytes.ts';
import { createLogger, type Logger } from '../log.ts';
import type { Clock } from '../ports/clock.ts';
import type { HostServices, LoadSpec, Sandbox, SandboxInstance, SandboxLimits } from '../ports/sandbox.ts';
import { SystemClock } from '../system-clock.ts';
import { parseModule } from '../wasm/binary.ts';
import { checkModuleBudget, DEFAULT_BUDGET_LIMITS, DEFAULT_MAX_MEMORY_PAGES } from './budget.ts';
import { grantableImports, hostThreadImport } from './capabilities.ts';
import type { AnswerChannel } from './async-bridge.ts';
import { ModuleTooLargeError, SharedMemoryRequiredError } from './errors.ts';
import { linkProviders } from './linking.ts';
import { type PreparedModule, prepareModule } from './prepare.ts';
import { BRIDGE_HEADER } from './protocol.ts';
import { guardTopics } from '../protocol/topics.ts';
import { WorkerInstance } from './worker-instance.ts';
import { WorkerPool } from './worker-pool.ts';
import type { WorkerHandle } from './worker-slot.ts';

/** Defaults for {@link SandboxLimits}. */
export const DEFAULT_LIMITS: SandboxLimits = {
  callTimeoutMs: 10_000,
  maxMemoryPages: DEFAULT_MAX_MEMORY_PAGES,
  maxModuleBytes: 64 * 1024 * 1024,
  ...DEFAULT_BUDGET_LIMITS,
};

/** Options of a {@link WorkerSandbox}. */
export interface WorkerSandboxOptions {
  spawn: () => WorkerHandle;
  limits?: Partial<SandboxLimits>;
  clock?: Clock;
  logger?: Logger;
  /** Size of each instance's bridge buffer: the largest host answer (e.g. a JPEG) it can carry. */
  bridgeBytes?: number;
  /**
   * Run a task once the current one is done: calls made before it travel to the worker
   * in one message. Default `queueMicrotask`; Node passes `setImmediate`, which waits for
   * every socket read in the same turn of the event loop.
   */
  defer?: (task: () => void) => void;
  /**
   * Block a module's worker on the host thread through shared memory (the bridge). Default:
   * when `SharedArrayBuffer` exists and the page, if it is one, is cross-origin isolated.
   * Without it (protocol.ts): calls, time limits, rollback, resume and snapshots work as
   * with it; imports answered by the host thread (camera, sensors, rpc, pub/sub, wasi-nn)
   * block on `answers` (a service worker's synchronous bridge) where it is given and
   * available, and are refused at load with ERR_NO_SHARED_MEMORY where not; `grantable`
   * offers them only with `answers`.
   */
  sharedMemory?: boolean;
  /**
   * Without shared memory: the page's side of the bridge a service worker serves
   * (async-bridge.ts, ADR 0039). Ignored with shared memory.
   */
  answers?: AnswerChannel;
  /**
   * Rewrite modules with stop checks (shared/wasm/stop-checks.ts), so that a call past its
   * time limit unwinds in its own thread. Default true: a browser's `Worker.terminate()` may
   * leave running wasm alone. Node's worker threads stop at `terminate()` within
   * milliseconds, so its sandbox turns them off: rewriting every function of 1 MB of code
   * took several times as long as compiling it.
   */
  stopChecks?: boolean;
  /**
   * Booted workers kept idle once an instance of this sandbox has closed (default 2: an
   * instance's active worker and its spare); 0 spawns each worker when it is needed.
   */
  warmWorkers?: number;
}

/** Prepared (rewritten and compiled) modules kept for loading the same bytes again. */
const PREPARED_CACHE_ENTRIES = 16;

/** {@link Sandbox} on workers. */
export class WorkerSandbox implements Sandbox {
  readonly #options: WorkerSandboxOptions;
  readonly #limits: SandboxLimits;
  readonly #log: Logger;
  readonly #shared: boolean;
  readonly #instances = new Set<WorkerInstance>();
  /** Created by the first load: a peer that runs no module starts no worker. */
  #pool: WorkerPool | null = null;
  /** By content hash and the limits the rewrite applied, newest last. */
  readonly #prepared = new Map<string, Promise<PreparedModule>>();

  constructor(options: WorkerSandboxOptions) {
    this.#options = options;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#log = options.logger ?? createLogger('sandbox');
    this.#shared = options.sharedMemory ?? sharedMemoryAvailable();
  }

  /** False when this sandbox runs without shared memory (see {@link WorkerSandboxOptions.sharedMemory}). */
  get sharedMemory(): boolean {
    return this.#shared;
  }

  grantable(services: HostServices): string[] {
    // Without shared memory only what the worker serves alone can be granted.
    return grantableImports(this.#shared || this.#options.answers?.likely() ? services : {});
  }

  async load(spec: LoadSpec): Promise<SandboxInstance> {
    const limits = { ...this.#limits, ...spec.limits };
    if (spec.wasm.byteLength > limits.maxModuleBytes) {
      throw new ModuleTooLargeError(`module of ${spec.wasm.byteLength} bytes exceeds the limit of ${limits.maxModuleBytes}`);
    }
    const info = parseModule(spec.wasm);
    // What instantiation would allocate is refused before anything is compiled.
    checkModuleBudget(info, limits);
    // Pub/sub calls are checked against the topic grants before any service runs.
    const services = guardTopics(spec.services ?? {}, spec.topics);
    // Checks the app's imports (and those of its linked providers) against grants and providers.
    const providers = await linkProviders(info, spec, limits, this.#options.stopChecks ?? true);
    let answerUrl: string | undefined;
    if (!this.#shared) {
      for (const [who, i] of [['module', info] as const, ...(spec.providers ?? []).map((p) => [`provider ${p.name}`, parseModule(p.wasm)] as const)]) {
        const needs = hostThreadImport(i);
        if (!needs || answerUrl !== undefined) continue;
        // Asked per load: a page's service worker may take control after the sandbox was made.
        const answers = this.#options.answers;
        if (answers && (await answers.available())) answerUrl = answers.url;
        else throw new SharedMemoryRequiredError(`${who} imports ${needs}, which answers from the host thread; this page has no SharedArrayBuffer to wait on it (it is not cross-origin isolated, or the browser lacks it) and no service worker to answer it instead`, { import: needs });
      }
    }
    const moduleId = await sha256Hex(spec.wasm);
    const prepared = await this.#prepare(moduleId, spec.wasm, limits);
    this.#pool ??= new WorkerPool(this.#options.spawn, this.#options.warmWorkers ?? 2, this.#options.defer ?? ((task) => queueMicrotask(task)));
    const pool = this.#pool;
    const functions = info.exports.filter((e) => e.kind === 'function' && e.type).map((e) => ({ name: e.name, type: e.type! }));
    const instance = new WorkerInstance({
      moduleId,
      info,
      init: {
        t: 'init',
        module: prepared.module,
        functions,
        globals: prepared.globals,
        tables: prepared.tables,
        ...(prepared.dirty ? { dirty: prepared.dirty } : {}),
        files: spec.files ?? {},
        env: spec.env ?? {},
        args: spec.args ?? [],
        ...(this.#shared ? { bridge: new SharedArrayBuffer(BRIDGE_HEADER + (this.#options.bridgeBytes ?? 8 * 1024 * 1024)) } : {}),
        ...(answerUrl !== undefined ? { answerUrl } : {}),
        callTimeoutMs: limits.callTimeoutMs,
        trackState: true,
        providers,
      },
      spawn: () => pool.take(),
      services,
      limits,
      clock: this.#options.clock ?? new SystemClock(),
      logger: this.#log,
      defer: this.#options.defer ?? ((task) => queueMicrotask(task)),
      ...(answerUrl !== undefined && this.#options.answers ? { answers: this.#options.answers } : {}),
      onClose: (i) => {
        this.#instances.delete(i);
        pool.refill();
      },
    });
    this.#instances.add(instance);
    try {
      await instance.start();
    } catch (error) {
      await instance.close();
      throw error;
    }
    return instance;
  }

  async close(): Promise<void> {
    this.#pool?.close();
    await Promise.all([...this.#instances].map((i) => i.close()));
  }

  /**
   * The module rewritten and compiled, once per content and limits: loading the same
   * bytes again (another deployment, a restart of one, a migration target) reuses it.
   */
  #prepare(moduleId: string, wasm: Uint8Array, limits: SandboxLimits): Promise<PreparedModule> {
    const key = `${moduleId}/${limits.maxMemoryPages}/${limits.maxTableElements}`;
    let prepared = this.#prepared.get(key);
    if (prepared) this.#prepared.delete(key);
    else {
      prepared = prepareModule(wasm, { maxMemoryPages: limits.maxMemoryPages, maxTableElements: limits.maxTableElements, exportTables: true, what: 'module', stopChecks: this.#options.stopChecks ?? true });
      // A module that failed to prepare is tried again next time, not remembered.
      prepared.catch(() => this.#prepared.delete(key));
    }
    this.#prepared.set(key, prepared);
    if (this.#prepared.size > PREPARED_CACHE_ENTRIES) this.#prepared.delete(this.#prepared.keys().next().value!);
    return prepared;
  }
}

/** SharedArrayBuffer exists and, on a page, the page is cross-origin isolated (browsers hide or refuse it otherwise). */
export function sharedMemoryAvailable(): boolean {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return typeof SharedArrayBuffer === 'function' && isolated !== false;
}
