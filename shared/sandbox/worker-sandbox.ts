/**
 * The host side of the sandbox: one worker per module instance plus a warm spare.
 * Loading checks size and imports (linked provider modules: linking.ts), rewrites the
 * binary (memory cap, exported mutable globals) and compiles it once; the compiled
 * module goes to each worker. Calls to one
 * instance run one at a time. A call past its time limit terminates the worker; the
 * spare takes over, resumes from the state after the last successful call, and a new
 * spare starts. Platform specifics — how a worker is spawned — come in as a function,
 * so this file serves browser Workers and Node worker threads alike.
 * @module
 */
import { sha256Hex, utf8 } from '../bytes.ts';
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
import {
  BRIDGE_ERROR,
  BRIDGE_NAMED_ERROR,
  BRIDGE_HEADER,
  BRIDGE_OK,
  BRIDGE_READY,
  type HostOp,
  type HostToWorker,
  type InitMessage,
  type StateCopy,
  type WorkerToHost,
} from './protocol.ts';
import { guardTopics } from './topics.ts';
import { NnHost } from './wasi-nn-host.ts';

/** Errors of a host operation that fail the module's call by name rather than as ERR_HOST_CALL. */
const NAMED_HOST_ERRORS = new Set(['ERR_TOPIC_DENIED']);

/** A spawned worker, whatever the platform. */
export interface WorkerHandle {
  post(message: HostToWorker, transfer?: Transferable[]): void;
  onMessage(handler: (message: WorkerToHost) => void): void;
  /** The worker died on its own (uncaught error, out of memory). */
  onError(handler: (error: Error) => void): void;
  terminate(): void;
}

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
  #queue: Promise<unknown> = Promise.resolve();
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
    return this.#serial(() => this.#call(request));
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

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #call(request: CallRequest): Promise<CallResult> {
    const slot = this.#slot();
    let timer: TimerHandle | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#o.clock.setTimeout(() => {
        reject(new CallTimeoutError(`${request.fn} ran longer than ${this.#o.limits.callTimeoutMs} ms and was stopped`));
      }, this.#o.limits.callTimeoutMs);
    });
    try {
      const reply = await Promise.race([slot.request({ t: 'call', id: 0, request }), timeout]);
      if (reply.t !== 'result') throw new ModuleLoadError('unexpected reply to call');
      if (!reply.ok) throw fromErrorInfo(reply.error);
      if (reply.state) this.#lastState = reply.state;
      return reply.result;
    } catch (error) {
      if (error instanceof CallTimeoutError || slot.dead) await this.#replace(slot, error as MeshError);
      throw error;
    } finally {
      if (timer !== undefined) this.#o.clock.clearTimeout(timer);
    }
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

/** One worker and the requests waiting on it. */
class Slot {
  readonly #worker: WorkerHandle;
  readonly #bridge: SharedArrayBuffer;
  readonly #services: HostServices;
  readonly #nn: NnHost;
  readonly #log: Logger;
  #pending: { resolve: (m: WorkerToHost) => void; reject: (e: Error) => void } | null = null;
  #dead: Error | null = null;

  constructor(worker: WorkerHandle, bridge: SharedArrayBuffer, services: HostServices, nn: NnHost, logger: Logger) {
    this.#worker = worker;
    this.#bridge = bridge;
    this.#services = services;
    this.#nn = nn;
    this.#log = logger;
    worker.onMessage((m) => this.#onMessage(m));
    worker.onError((e) => this.kill(new ModuleLoadError(`sandbox worker died: ${e.message}`)));
  }

  get dead(): boolean {
    return this.#dead !== null;
  }

  async start(init: InitMessage): Promise<void> {
    const reply = await this.request(init);
    if (reply.t === 'failed') {
      this.kill(fromErrorInfo(reply.error));
      throw fromErrorInfo(reply.error);
    }
  }

  /** Send a message and wait for the worker's answer (one at a time). */
  request(message: HostToWorker): Promise<WorkerToHost> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.post(message);
    });
  }

  kill(reason: Error): void {
    if (this.#dead) return;
    this.#dead = reason;
    this.#worker.terminate();
    this.#pending?.reject(reason);
    this.#pending = null;
  }

  #onMessage(message: WorkerToHost): void {
    if (message.t === 'host') {
      void this.#serveHost(message.op, message.args);
      return;
    }
    const pending = this.#pending;
    this.#pending = null;
    pending?.resolve(message);
  }

  /** Do a host operation for the blocked worker and wake it with the answer. */
  async #serveHost(op: HostOp, args: unknown[]): Promise<void> {
    let status = BRIDGE_OK;
    let data: Uint8Array;
    try {
      data = await this.#hostOp(op, args);
    } catch (error) {
      const named = error instanceof MeshError && NAMED_HOST_ERRORS.has(error.code);
      status = named ? BRIDGE_NAMED_ERROR : BRIDGE_ERROR;
      data = utf8(named ? JSON.stringify(error.toInfo()) : (error as Error).message);
    }
    const capacity = this.#bridge.byteLength - BRIDGE_HEADER;
    if (data.byteLength > capacity) {
      status = BRIDGE_ERROR;
      data = utf8(`answer of ${data.byteLength} bytes exceeds the bridge's ${capacity}`);
    }
    const header = new Int32Array(this.#bridge, 0, 4);
    new Uint8Array(this.#bridge, BRIDGE_HEADER, data.byteLength).set(data);
    header[1] = status;
    header[2] = data.byteLength;
    Atomics.store(header, 0, BRIDGE_READY);
    Atomics.notify(header, 0);
  }

  async #hostOp(op: HostOp, args: unknown[]): Promise<Uint8Array> {
    const s = this.#services;
    const float = (n: number): Uint8Array => {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setFloat64(0, n, true);
      return out;
    };
    switch (op) {
      case 'captureImage':
        if (!s.captureImage) throw new Error('no camera');
        return s.captureImage();
      case 'readTemperature':
        if (!s.readTemperature) throw new Error('no temperature sensor');
        return float(await s.readTemperature());
      case 'readHumidity':
        if (!s.readHumidity) throw new Error('no humidity sensor');
        return float(await s.readHumidity());
      case 'readAcceleration':
      case 'readOrientation':
      case 'readLocation': {
        const read = s[op];
        if (!read) throw new Error(`no ${op.slice(4).toLowerCase()} sensor`);
        const out = new Uint8Array(24);
        const values = await read();
        for (let i = 0; i < 3; i++) new DataView(out.buffer).setFloat64(i * 8, values[i] ?? Number.NaN, true);
        return out;
      }
      case 'rpcCall':
        if (!s.rpcCall) throw new Error('no rpc');
        await s.rpcCall(String(args[0]), args[1] as Uint8Array);
        return new Uint8Array(0);
      case 'publish':
        if (!s.publish) throw new Error('no pub/sub');
        await s.publish(String(args[0]), args[1] as Uint8Array);
        return new Uint8Array(0);
      case 'subscribe':
        if (!s.subscribe) throw new Error('no pub/sub');
        await s.subscribe(String(args[0]));
        return new Uint8Array(0);
      case 'nnLoad':
        return this.#nn.load(args[0] as Uint8Array[], String(args[1]));
      case 'nnCompute':
        return this.#nn.compute(Number(args[0]), args[1] as { type: number; dims: number[]; data: Uint8Array }[]);
      default:
        this.#log.warn(`worker asked for unknown host operation ${String(op)}`);
        throw new Error(`unknown host operation ${String(op)}`);
    }
  }
}
