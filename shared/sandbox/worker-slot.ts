/**
 * One sandbox worker seen from the host: the requests waiting on its answers (answered
 * in the order sent), the host operations it asks for while blocked on the bridge —
 * camera, sensors, rpc, pub/sub, wasi-nn — answered through the shared buffer, and its
 * control buffer: which call runs since when, and the state copy the host relies on.
 * Without shared memory (protocol.ts) there is no bridge, the control words are the
 * host's own, kept from the worker's `running` messages, and the state copy a successor
 * resumes from is the host's own too, kept from the deltas the worker's answers carry;
 * host operations are answered through the page's service worker when it has one
 * (async-bridge.ts).
 * @module
 */
import type { AnswerChannel } from './async-bridge.ts';
import { utf8 } from '../bytes.ts';
import { fromErrorInfo, MeshError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CallRequest, HostServices, WasmValue } from '../ports/sandbox.ts';
import { answersOf, callsMessage } from './call-packing.ts';
import { ModuleLoadError } from './errors.ts';
import {
  BRIDGE_ERROR,
  BRIDGE_NAMED_ERROR,
  BRIDGE_HEADER,
  BRIDGE_OK,
  BRIDGE_READY,
  type WorkerAnswer,
  CONTROL_BYTES,
  CONTROL_RELIED,
  CONTROL_RUNNING,
  CONTROL_STARTED_AT,
  CONTROL_STOP,
  type HostOp,
  type HostToWorker,
  type InitMessage,
  type StateCopy,
  type StateRef,
  type WorkerToHost,
} from './protocol.ts';
import type { NnHost } from './wasi-nn-host.ts';

/** Errors of a host operation that fail the module's call by name rather than as ERR_HOST_CALL. */
const NAMED_HOST_ERRORS = new Set(['ERR_TOPIC_DENIED', 'ERR_IMPORT_DENIED']);

/** A spawned worker, whatever the platform. */
export interface WorkerHandle {
  post(message: HostToWorker, transfer?: Transferable[]): void;
  onMessage(handler: (message: WorkerToHost) => void): void;
  /** The worker died on its own (uncaught error, out of memory). */
  onError(handler: (error: Error) => void): void;
  terminate(): void;
}

/**
 * Who hears the answers of one batch of calls: each answer as it comes (by the call's
 * index in the batch), or the worker's death. Told synchronously, from the worker's
 * message: a batch of answers settles without a promise or a microtask per call.
 */
export interface CallSink {
  answered(index: number, answer: WorkerAnswer): void;
  /** The worker died or was stopped before answering; told once per call not answered. */
  failed(error: Error): void;
}

/** A request waiting on the worker: a call (answered within an `answers` message) or any other message. */
type Waiter =
  | { kind: 'call'; sink: CallSink; index: number }
  | { kind: 'reply'; resolve: (message: WorkerToHost) => void; reject: (e: Error) => void };

/** The call a worker is running, read from its control buffer. */
export interface Running {
  /** Sequence number of the call. */
  seq: number;
  /** When it started, ms since the epoch. */
  startedAt: number;
}

/** One worker and the requests waiting on it. */
export class Slot {
  readonly #worker: WorkerHandle;
  readonly #bridge: SharedArrayBuffer | undefined;
  readonly #answers: AnswerChannel | undefined;
  readonly #services: HostServices;
  readonly #nn: NnHost;
  readonly #log: Logger;
  /** Requests awaiting answers; the worker answers each in turn. */
  readonly #pending: Waiter[] = [];
  #dead: Error | null = null;
  readonly #control: SharedArrayBuffer | ArrayBuffer;
  readonly #running: Int32Array;
  readonly #startedAt: Float64Array;
  /** Sequence number of the next call posted. */
  #nextSeq = 0;
  /** Global names per state unit ('' for the app, else a provider's name). */
  readonly #globalNames = new Map<string, string[]>();
  /** The worker's state buffers per unit, as its messages handed them over. */
  readonly #stateBuffers = new Map<string, (SharedArrayBuffer | ArrayBuffer)[]>();
  /** The state copy the worker named last: what a successor resumes from. */
  #state: StateRef | null = null;

  /** `bridge` undefined: no shared memory (see the module comment). */
  constructor(worker: WorkerHandle, bridge: SharedArrayBuffer | undefined, services: HostServices, nn: NnHost, logger: Logger, answers?: AnswerChannel) {
    this.#worker = worker;
    this.#bridge = bridge;
    this.#answers = answers;
    this.#control = bridge ? new SharedArrayBuffer(CONTROL_BYTES) : new ArrayBuffer(CONTROL_BYTES);
    this.#running = new Int32Array(this.#control, 0, 2);
    this.#startedAt = new Float64Array(this.#control, 0, 2);
    this.#services = services;
    this.#nn = nn;
    this.#log = logger;
    worker.onMessage((m) => this.#onMessage(m));
    worker.onError((e) => this.kill(new ModuleLoadError(`sandbox worker died: ${e.message}`)));
  }

  get dead(): boolean {
    return this.#dead !== null;
  }

  async start(init: Omit<InitMessage, 'control'>): Promise<void> {
    this.#globalNames.set('', init.globals);
    for (const p of init.providers) this.#globalNames.set(p.name, p.globals);
    Atomics.store(this.#running, CONTROL_RELIED, -1);
    Atomics.store(this.#running, CONTROL_RUNNING, -1);
    const reply = await this.request(this.#bridge ? { ...init, control: this.#control as SharedArrayBuffer } : init);
    if (reply.t === 'failed') {
      this.kill(fromErrorInfo(reply.error));
      throw fromErrorInfo(reply.error);
    }
  }

  /**
   * Send a message and wait for the worker's answer (answers come in the order sent);
   * `transfer`: buffers moved to the worker, not copied (detached here).
   */
  request(message: HostToWorker, transfer?: Transferable[]): Promise<WorkerToHost> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#pending.push({ kind: 'reply', resolve, reject });
      this.#worker.post(message, transfer);
    });
  }

  /**
   * Post calls in one message; each is answered on its own, in order, to `sink`. Returns
   * the sequence number of the first (the others follow). A dead worker's failure reaches
   * `sink` in a later microtask, as a live one's answers reach it in a later message.
   */
  requestCalls(requests: CallRequest[], sink: CallSink): number {
    const first = this.#nextSeq;
    this.#nextSeq += requests.length;
    const dead = this.#dead;
    if (dead) {
      queueMicrotask(() => sink.failed(dead));
      return first;
    }
    // Without shared memory, a worker with nothing to answer starts the first call as the
    // message arrives: the host counts its time from now, and the worker spares the
    // `running` message that would say so — one hop of every lone call.
    const stamped = !this.#bridge && this.#pending.length === 0;
    for (let index = 0; index < requests.length; index++) this.#pending.push({ kind: 'call', sink, index });
    if (stamped) {
      this.#startedAt[CONTROL_STARTED_AT] = performance.timeOrigin + performance.now();
      Atomics.store(this.#running, CONTROL_RUNNING, first);
    }
    this.#worker.post(callsMessage(first, requests, stamped));
    return first;
  }

  /** The call the worker runs now, or null between calls. */
  running(): Running | null {
    for (;;) {
      const seq = Atomics.load(this.#running, CONTROL_RUNNING);
      if (seq < 0) return null;
      const startedAt = this.#startedAt[CONTROL_STARTED_AT]!;
      // The worker may have moved on while the time was read: read both again.
      if (Atomics.load(this.#running, CONTROL_RUNNING) === seq) return { seq, startedAt };
    }
  }

  /** The state copy the worker named last (what a successor resumes from), or null. */
  lastState(): StateCopy | null {
    return this.#state ? this.#materialize(this.#state, '') : null;
  }

  /** Take the state a message names: keep the buffers it hands over, and rely on it. */
  #keepState(ref: StateRef): void {
    const keep = (r: StateRef, unit: string): void => {
      if (r.delta) {
        // Without shared memory: one copy per unit, the host's, brought up to date.
        const turns = this.#stateBuffers.get(unit) ?? [];
        this.#stateBuffers.set(unit, turns);
        let own = turns[0];
        if (!own || own.byteLength < r.memoryBytes) {
          const grown = new ArrayBuffer(r.memoryBytes);
          if (own) new Uint8Array(grown).set(new Uint8Array(own));
          turns[0] = own = grown;
        }
        new Uint8Array(own).set(r.delta.bytes, r.delta.lo);
        r.turn = 0;
      } else if (r.memory) {
        const turns = this.#stateBuffers.get(unit) ?? [];
        this.#stateBuffers.set(unit, turns);
        turns[r.turn] = r.memory;
      }
      for (const [name, p] of Object.entries(r.providers ?? {})) keep(p, name);
    };
    keep(ref, '');
    this.#state = ref;
    // From now on the worker leaves this turn alone.
    Atomics.store(this.#running, CONTROL_RELIED, ref.turn);
  }

  #materialize(ref: StateRef, unit: string): StateCopy {
    const memory = this.#stateBuffers.get(unit)?.[ref.turn];
    if (!memory) throw new ModuleLoadError(`the worker named state buffer ${ref.turn} of ${unit || 'the app'} without handing it over`);
    const names = this.#globalNames.get(unit) ?? [];
    const globals: Record<string, WasmValue> = {};
    names.forEach((name, i) => {
      if (i < ref.globals.length) globals[name] = ref.globals[i]!;
    });
    const copy: StateCopy = { memory, memoryBytes: ref.memoryBytes, globals };
    if (ref.providers) {
      copy.providers = {};
      for (const [name, p] of Object.entries(ref.providers)) copy.providers[name] = this.#materialize(p, name);
    }
    return copy;
  }

  kill(reason: Error): void {
    if (this.#dead) return;
    this.#dead = reason;
    // Engines whose terminate() leaves running wasm alone (WebKit) stop it through the module's stop checks.
    Atomics.store(new Int32Array(this.#control, CONTROL_STOP * 4, 1), 0, 1);
    this.#worker.terminate();
    for (const p of this.#pending.splice(0)) {
      if (p.kind === 'call') p.sink.failed(reason);
      else p.reject(reason);
    }
  }

  #onMessage(message: WorkerToHost): void {
    if (message.t === 'running') {
      this.#startedAt[CONTROL_STARTED_AT] = message.startedAt;
      Atomics.store(this.#running, CONTROL_RUNNING, message.seq);
      return;
    }
    // Without shared memory, answers end the calls announced before them.
    if (!this.#bridge && message.t === 'answers') Atomics.store(this.#running, CONTROL_RUNNING, -1);
    if (message.t === 'host') {
      void this.#serveHost(message.op, message.args, message.id);
      return;
    }
    if ((message.t === 'answers' || message.t === 'ready' || message.t === 'done') && message.state) this.#keepState(message.state);
    if (message.t === 'answers') {
      for (const answer of answersOf(message)) {
        const waiter = this.#pending.shift();
        if (waiter?.kind === 'call') waiter.sink.answered(waiter.index, answer);
        else waiter?.reject(new ModuleLoadError('the worker answered a call nobody made'));
      }
      return;
    }
    const waiter = this.#pending.shift();
    if (waiter?.kind === 'reply') waiter.resolve(message);
    else waiter?.sink.failed(new ModuleLoadError(`unexpected ${message.t} from the worker while a call waited`));
  }

  /** Do a host operation for the blocked worker and wake it with the answer. */
  async #serveHost(op: HostOp, args: unknown[], id: string | undefined): Promise<void> {
    let status = BRIDGE_OK;
    let data: Uint8Array;
    try {
      data = await this.#hostOp(op, args);
    } catch (error) {
      const named = error instanceof MeshError && NAMED_HOST_ERRORS.has(error.code);
      status = named ? BRIDGE_NAMED_ERROR : BRIDGE_ERROR;
      data = utf8(named ? JSON.stringify(error.toInfo()) : (error as Error).message);
    }
    if (!this.#bridge) {
      // A worker stopped meanwhile reads nothing; the service worker drops the answer in time.
      if (id !== undefined && !this.#dead) this.#answers?.answer(id, status, data);
      return;
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
      case 'ping':
        if (!s.ping) throw new Error('no network.ping');
        return float(await s.ping(String(args[0])));
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
