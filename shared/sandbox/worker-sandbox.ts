/**
 * The host side of the sandbox: one worker per module instance plus a warm spare.
 * Loading checks size and imports (linked provider modules: linking.ts), rewrites the
 * binary (memory cap, exported mutable globals) and compiles it once; the compiled
 * module goes to each worker. Calls to one instance run one at a time, in order, but
 * are pipelined: each is posted as soon as it arrives, so under load the worker finds
 * the next call waiting and the host reads several answers per wake-up. A call's time
 * limit runs from when it starts (when the call before it answered). A call past its
 * limit terminates the worker; the spare takes over, resumes from the state after the
 * last successful call, the calls queued behind it are posted again (none of them had
 * started), and a new spare starts. Snapshot and restore wait for the calls before
 * them and hold back the calls after them. One worker's requests and host operations:
 * worker-slot.ts. Platform specifics — how a worker is spawned — come in as a
 * function, so this file serves browser Workers and Node worker threads alike.
 * @module
 */
import { sha256Hex } from '../bytes.ts';
import { fromErrorInfo, MeshError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import type { Clock, TimerHandle } from '../ports/clock.ts';
import type {
  CallRequest,
  CallResult,
  HostServices,
  InstanceSnapshot,
  LoadSpec,
  Sandbox,
  SandboxInstance,
  SandboxLimits,
} from '../ports/sandbox.ts';
import { SystemClock } from '../system-clock.ts';
import { type ModuleInfo, parseModule, rewriteModule } from '../wasm/binary.ts';
import { grantableImports } from './capabilities.ts';
import { CallTimeoutError, InstanceClosedError, ModuleLoadError, ModuleTooLargeError, SnapshotMismatchError } from './errors.ts';
import { linkProviders } from './linking.ts';
import { BRIDGE_HEADER, type InitMessage, type StateCopy, type WorkerToHost } from './protocol.ts';
import { guardTopics } from './topics.ts';
import { NnHost } from './wasi-nn-host.ts';
import { Slot, type WorkerHandle } from './worker-slot.ts';



/** Defaults for {@link SandboxLimits}. */
export const DEFAULT_LIMITS: SandboxLimits = {
  callTimeoutMs: 10_000,
  maxMemoryPages: 4096,
  maxModuleBytes: 64 * 1024 * 1024,
};

/** Options of a {@link WorkerSandbox}. */
export interface WorkerSandboxOptions {
  spawn: () => WorkerHandle;
  limits?: Partial<SandboxLimits>;
  clock?: Clock;
  logger?: Logger;
  /** Size of each instance's bridge buffer: the largest host answer (e.g. a JPEG) it can carry. */
  bridgeBytes?: number;
}

/** {@link Sandbox} on workers. */
export class WorkerSandbox implements Sandbox {
  readonly #options: WorkerSandboxOptions;
  readonly #limits: SandboxLimits;
  readonly #log: Logger;
  readonly #instances = new Set<WorkerInstance>();

  constructor(options: WorkerSandboxOptions) {
    this.#options = options;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#log = options.logger ?? createLogger('sandbox');
  }

  grantable(services: HostServices): string[] {
    return grantableImports(services);
  }

  async load(spec: LoadSpec): Promise<SandboxInstance> {
    const limits = { ...this.#limits, ...spec.limits };
    if (spec.wasm.byteLength > limits.maxModuleBytes) {
      throw new ModuleTooLargeError(`module of ${spec.wasm.byteLength} bytes exceeds the limit of ${limits.maxModuleBytes}`);
    }
    const info = parseModule(spec.wasm);
    // Pub/sub calls are checked against the topic grants before any service runs.
    const services = guardTopics(spec.services ?? {}, spec.topics);
    // Checks the app's imports (and those of its linked providers) against grants and providers.
    const providers = await linkProviders(info, spec, limits);
    const rewritten = rewriteModule(spec.wasm, { maxMemoryPages: limits.maxMemoryPages, exportMutableGlobals: true, exportTables: true });
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(rewritten.bytes as Uint8Array<ArrayBuffer>);
    } catch (error) {
      throw new ModuleLoadError(`module does not compile: ${(error as Error).message}`);
    }
    const functions = info.exports.filter((e) => e.kind === 'function' && e.type).map((e) => ({ name: e.name, type: e.type! }));
    const instance = new WorkerInstance({
      moduleId: await sha256Hex(spec.wasm),
      info,
      init: {
        t: 'init',
        module,
        functions,
        globals: rewritten.globalExports.map((g) => g.name),
        tables: rewritten.tableExports.map((t) => t.name),
        files: spec.files ?? {},
        env: spec.env ?? {},
        args: spec.args ?? [],
        bridge: new SharedArrayBuffer(BRIDGE_HEADER + (this.#options.bridgeBytes ?? 8 * 1024 * 1024)),
        trackState: true,
        providers,
      },
      spawn: this.#options.spawn,
      services,
      limits,
      clock: this.#options.clock ?? new SystemClock(),
      logger: this.#log,
      onClose: (i) => this.#instances.delete(i),
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
    await Promise.all([...this.#instances].map((i) => i.close()));
  }
}

/** A call posted (or about to be posted) to an instance's worker. */
interface InFlight {
  request: CallRequest;
  resolve: (result: CallResult) => void;
  reject: (error: Error) => void;
  /** The worker it was last posted to. */
  slot: Slot | null;
}

interface InstanceOptions {
  moduleId: string;
  info: ModuleInfo;
  init: InitMessage;
  spawn: () => WorkerHandle;
  services: HostServices;
  limits: SandboxLimits;
  clock: Clock;
  logger: Logger;
  onClose: (instance: WorkerInstance) => void;
}

/** One module instance: an active worker, a warm spare, the last good state. */
class WorkerInstance implements SandboxInstance {
  readonly moduleId: string;
  readonly info: ModuleInfo;
  readonly #o: InstanceOptions;
  #active: Slot | null = null;
  #spare: Promise<Slot> | null = null;
  #lastState: StateCopy | null = null;
  #files: Record<string, Uint8Array>;
  /** Snapshot and restore, in order; calls wait for the ones before them. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Calls posted to the active worker and not yet answered, oldest (running) first. */
  readonly #inflight: InFlight[] = [];
  #headTimer: TimerHandle | undefined;
  /** Set while a stopped or dead worker is being replaced. */
  #replacing: Promise<void> | null = null;
  readonly #retired = new WeakSet<Slot>();
  #drainWaiters: (() => void)[] = [];
  #closed = false;
  /** Graphs loaded through wasi-nn: shared by this instance's workers, freed at close. */
  readonly #nn: NnHost;

  constructor(options: InstanceOptions) {
    this.#o = options;
    this.moduleId = options.moduleId;
    this.info = options.info;
    this.#files = options.init.files;
    this.#nn = new NnHost(options.services.nn);
  }

  async start(): Promise<void> {
    this.#active = await this.#spawnSlot();
    this.#spare = this.#spawnSpare();
  }

  call(request: CallRequest): Promise<CallResult> {
    return this.#queue.then(() => this.#enqueue(request));
  }

  snapshot(): Promise<InstanceSnapshot> {
    return this.#serial(async () => {
      const reply = await this.#slot().request({ t: 'snapshot', id: 0 });
      if (reply.t !== 'snapshot') throw new ModuleLoadError('unexpected reply to snapshot');
      return { moduleId: this.moduleId, ...reply.snapshot };
    });
  }

  restore(snapshot: InstanceSnapshot): Promise<void> {
    return this.#serial(async () => {
      if (snapshot.moduleId !== this.moduleId) {
        throw new SnapshotMismatchError(`snapshot of module ${snapshot.moduleId} cannot be restored into ${this.moduleId}`);
      }
      const reply = await this.#slot().request({ t: 'restore', id: 0, snapshot });
      if (reply.t !== 'done') throw new ModuleLoadError('unexpected reply to restore');
      if (reply.error) throw fromErrorInfo(reply.error);
      // The restored state is the new baseline for a successor after a timeout.
      this.#lastState = reply.state ?? null;
      this.#files = snapshot.files;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const call of this.#inflight.splice(0)) call.reject(new InstanceClosedError('instance closed'));
    this.#clearHeadTimer();
    this.#drained();
    this.#active?.kill(new InstanceClosedError('instance closed'));
    this.#active = null;
    const spare = this.#spare;
    this.#spare = null;
    await spare?.then((s) => s.kill(new InstanceClosedError('instance closed')), () => undefined);
    await this.#nn.close();
    this.#o.onClose(this);
  }

  #slot(): Slot {
    if (this.#closed || !this.#active) throw new InstanceClosedError('instance closed');
    return this.#active;
  }

  /** Run `work` once the calls before it have answered, holding back the calls after it. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const after = (): Promise<T> => this.#idle().then(work);
    const run = this.#queue.then(after, after);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves when no call is in flight and no worker is being replaced. */
  #idle(): Promise<void> {
    if (this.#inflight.length === 0 && !this.#replacing) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #drained(): void {
    if (this.#inflight.length > 0 || this.#replacing) return;
    for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  #enqueue(request: CallRequest): Promise<CallResult> {
    return new Promise<CallResult>((resolve, reject) => {
      if (this.#closed || !this.#active) return reject(new InstanceClosedError('instance closed'));
      const call: InFlight = { request, resolve, reject, slot: null };
      this.#inflight.push(call);
      // While a worker is being replaced, the replacement posts what is queued.
      if (!this.#replacing) this.#post(call);
      if (this.#inflight.length === 1 && !this.#replacing) this.#armHeadTimer();
    });
  }

  /** Post a call to the active worker; its answer settles it in order. */
  #post(call: InFlight): void {
    const slot = this.#active!;
    call.slot = slot;
    slot.request({ t: 'call', id: 0, request: call.request }).then(
      (reply) => this.#answered(call, slot, reply),
      (error: Error) => this.#slotFailed(slot, error),
    );
  }

  #answered(call: InFlight, slot: Slot, reply: WorkerToHost): void {
    // Answers from a replaced worker are stale: the calls were posted again.
    if (this.#retired.has(slot) || this.#inflight[0] !== call) return;
    this.#inflight.shift();
    this.#clearHeadTimer();
    if (this.#inflight.length > 0) this.#armHeadTimer();
    if (reply.t !== 'result') call.reject(new ModuleLoadError('unexpected reply to call'));
    else if (!reply.ok) call.reject(fromErrorInfo(reply.error));
    else {
      if (reply.state) this.#lastState = reply.state;
      call.resolve(reply.result);
    }
    this.#drained();
  }

  /** The running (oldest) call's time limit starts now. */
  #armHeadTimer(): void {
    const head = this.#inflight[0];
    if (!head) return;
    this.#headTimer = this.#o.clock.setTimeout(() => {
      this.#headTimer = undefined;
      if (this.#inflight[0] !== head) return;
      const slot = head.slot;
      this.#inflight.shift();
      head.reject(new CallTimeoutError(`${head.request.fn} ran longer than ${this.#o.limits.callTimeoutMs} ms and was stopped`));
      if (slot) this.#recover(slot, new CallTimeoutError('call time limit'));
    }, this.#o.limits.callTimeoutMs);
  }

  #clearHeadTimer(): void {
    if (this.#headTimer !== undefined) this.#o.clock.clearTimeout(this.#headTimer);
    this.#headTimer = undefined;
  }

  /** The worker died under the running call: that call fails, the rest run on the spare. */
  #slotFailed(slot: Slot, error: Error): void {
    if (this.#retired.has(slot) || this.#closed) return;
    const head = this.#inflight.shift();
    head?.reject(error);
    this.#recover(slot, error instanceof MeshError ? error : new ModuleLoadError(error.message));
  }

  /** Replace `failed` by the spare, then post the calls still queued (none had started). */
  #recover(failed: Slot, reason: MeshError): void {
    if (this.#retired.has(failed)) return;
    this.#retired.add(failed);
    this.#clearHeadTimer();
    this.#replacing = this.#replace(failed, reason)
      .catch((e: unknown) => this.#o.logger.warn(`could not replace a stopped worker: ${(e as Error).message}`))
      .finally(() => {
        this.#replacing = null;
        if (this.#closed || !this.#active || this.#retired.has(this.#active)) {
          for (const call of this.#inflight.splice(0)) call.reject(new InstanceClosedError('instance closed'));
        } else {
          for (const call of this.#inflight) this.#post(call);
          this.#armHeadTimer();
        }
        this.#drained();
      });
  }

  /** Put the spare in place of a stopped or dead worker, resumed from the last good state. */
  async #replace(failed: Slot, reason: MeshError): Promise<void> {
    failed.kill(reason);
    if (this.#closed) return;
    const next = await (this.#spare ?? this.#spawnSlot());
    this.#spare = this.#spawnSpare();
    if (this.#lastState) {
      const reply = await next.request({ t: 'resume', id: 0, state: this.#lastState, files: this.#files });
      if (reply.t === 'done' && reply.error) this.#o.logger.warn(`could not resume state after ${reason.code}: ${reply.error.message}`);
    }
    this.#active = next;
    this.#o.logger.debug(`instance of ${this.moduleId.slice(0, 12)} replaced after ${reason.code}`);
  }

  #spawnSpare(): Promise<Slot> {
    const spare = this.#spawnSlot();
    // A spare that fails to start is retried when it is needed.
    spare.catch((e: unknown) => this.#o.logger.warn(`spare worker failed to start: ${(e as Error).message}`));
    return spare;
  }

  async #spawnSlot(): Promise<Slot> {
    const slot = new Slot(this.#o.spawn(), this.#o.init.bridge, this.#o.services, this.#nn, this.#o.logger);
    await slot.start(this.#o.init);
    return slot;
  }
}
