/**
 * The code that runs inside a sandbox worker: a message loop over three parts —
 * instantiation with the host capabilities the module imports (instantiate.ts,
 * host-imports/), a handler per calling convention (conventions.ts) and the state
 * copies a successor resumes from (state-copies.ts). It answers the calls of one message
 * together, except that a call which reached the host is answered before the next one
 * starts. Platform entry points (a browser Worker, a Node worker thread) only adapt
 * their message API and call {@link runSandboxWorker}.
 * @module
 */
import type { CallRequest } from '../ports/sandbox.ts';
import { xhrBridgeCaller } from './async-bridge.ts';
import { bridgeCaller, type BridgeCall } from './bridge-call.ts';
import { answersMessage, requestsOf } from './call-packing.ts';
import { runCall } from './conventions.ts';
import { instantiate } from './instantiate.ts';
import {
  type WorkerAnswer,
  CONTROL_BYTES,
  CONTROL_RELIED,
  CONTROL_RUNNING,
  CONTROL_STOP,
  CONTROL_STARTED_AT,
  type HostToWorker,
  type InitMessage,
  type MessagePort,
  type WorkerToHost,
} from './protocol.ts';
import { faultedZeroes, StateCopies } from './state-copies.ts';
import { dirFiles, EVERYTHING, type Range, replaceFiles, type Unit, writeCopy } from './unit.ts';
import { restoreSnapshot, takeSnapshot } from './unit-snapshot.ts';
import { wasmError } from './wasm-error.ts';
import { CallTimeoutError, SharedMemoryRequiredError } from './errors.ts';
import { FUEL_PER_POLL } from '../wasm/stop-checks.ts';

/** One initialised worker: its instance, state copies and the answers not sent yet. */
class WorkerInstance {
  readonly #port: MessagePort<HostToWorker, WorkerToHost>;
  readonly #init: InitMessage;
  /** False without shared memory: calls are announced by message and stop themselves at their limit. */
  readonly #shared: boolean;
  /** Set by the host when it stops this worker (shared memory only). */
  #stop: Int32Array | undefined;
  /** When the running call started (performance.now()), for the stop checks without shared memory. */
  #callStart = 0;
  readonly #running: Int32Array;
  readonly #startedAt: Float64Array;
  readonly #bridge: BridgeCall;
  readonly #poll: () => number;
  readonly #copies: StateCopies;
  readonly #live: Unit;
  #answers: WorkerAnswer[] = [];
  /** Set when a call reached the host (camera, rpc, pub/sub, …). */
  #reachedHost = false;

  /** @throws whatever instantiation throws (the caller reports it as `failed`). */
  constructor(port: MessagePort<HostToWorker, WorkerToHost>, init: InitMessage) {
    this.#port = port;
    this.#init = init;
    // Without shared memory the control words are this worker's alone: the host learns
    // which call runs from `running` messages, and nothing it relies on lives here.
    this.#shared = init.control !== undefined;
    const control = init.control ?? new ArrayBuffer(CONTROL_BYTES);
    this.#running = new Int32Array(control, 0, 2);
    this.#startedAt = new Float64Array(control, 0, 2);
    Atomics.store(this.#running, CONTROL_RUNNING, -1);
    if (!this.#shared) Atomics.store(this.#running, CONTROL_RELIED, -1);
    this.#copies = new StateCopies(this.#running, init.trackState, this.#shared);
    const sab = init.bridge;
    const answerUrl = init.answerUrl;
    const bridge = sab
      ? bridgeCaller(sab, (op, args, transfer) => port.post({ t: 'host', op, args }, transfer))
      : answerUrl
        ? xhrBridgeCaller(answerUrl, (op, args, id, transfer) => port.post({ t: 'host', op, args, id }, transfer))
        : (op: string): never => {
          // The load-time check refuses such imports first; this is the last line.
          throw new SharedMemoryRequiredError(`host ${op} needs SharedArrayBuffer, which this page lacks`);
        };
    this.#bridge = (op, args, transfer) => {
      this.#reachedHost = true;
      return bridge(op, args, transfer);
    };
    const stop = new Int32Array(control, CONTROL_STOP * 4, 1);
    this.#stop = stop;
    const limit = init.callTimeoutMs;
    this.#poll = this.#shared
      ? () => {
          if (Atomics.load(stop, 0) !== 0) throw new CallTimeoutError('the host stopped this call');
          return FUEL_PER_POLL;
        }
      : () => {
          // No flag the host could set: the call ends itself once past its limit.
          if (performance.now() - this.#callStart > limit) throw new CallTimeoutError(`call ran longer than ${limit} ms and was stopped`);
          return FUEL_PER_POLL;
        };
    this.#live = instantiate(init, init.files, this.#bridge, this.#poll);
    this.#copies.copy(this.#live);
  }

  /** The reference to the state after instantiation, for `ready`. */
  handOver(): ReturnType<StateCopies['handOver']> {
    return this.#copies.handOver();
  }

  /** Run calls in order, sequence numbers from `first`, and send their answers. */
  calls(first: number, requests: CallRequest[], stamped = false): void {
    for (const [i, request] of requests.entries()) {
      // Stopped by the host: it has given these calls to a successor, which must be the
      // only one to run them (this worker lives on until terminate() takes effect).
      if (this.#shared && Atomics.load(this.#stop!, 0) !== 0) return;
      this.#call(request, first + i, stamped && i === 0);
      // A call that reached the host had effects outside the instance: its answer goes
      // out before the next call starts, so that a successor never runs it again.
      if (this.#reachedHost) this.#sendAnswers();
    }
    this.#sendAnswers();
  }

  /**
   * Answer a snapshot request: with `sinceLast`, only the pages written since the previous
   * snapshot when the state copies know them (a delta), else everything. Either way the
   * next `sinceLast` counts from now.
   */
  snapshot(id: number, sinceLast: boolean): void {
    const written = this.#copies.takeSinceSnapshot();
    const bounded = sinceLast && Number.isFinite(written.hi);
    const { snapshot, transfer } = takeSnapshot(this.#live, bounded ? written : undefined);
    this.#port.post({ t: 'snapshot', id, snapshot }, transfer);
  }

  /** Answer how many bytes calls wrote since the previous snapshot, leaving that count as it is. */
  written(id: number): void {
    const since = this.#copies.sinceSnapshot();
    this.#port.post({ t: 'written', id, bytes: Number.isFinite(since.hi) ? Math.max(0, since.hi - Math.max(0, since.lo)) : Number.POSITIVE_INFINITY });
  }

  /** Ready the state buffers the host has let go of since the last hand-over, and answer `done`. */
  prime(id: number, buffers?: SharedArrayBuffer[]): void {
    this.#copies.prime(this.#live, true, buffers);
    this.#port.post({ t: 'done', id });
  }

  /** Replace the state (`restore` a snapshot, or `resume` a state copy) and answer `done`. */
  replace(msg: Extract<HostToWorker, { t: 'restore' | 'resume' }>): void {
    try {
      let written: Range = EVERYTHING;
      if (msg.t === 'restore') written = restoreSnapshot(this.#live, msg.snapshot);
      else {
        writeCopy(this.#live, msg.state);
        replaceFiles(this.#live, msg.files);
      }
      const partial = msg.t === 'restore' && (msg.snapshot.delta === true || msg.snapshot.part === true);
      this.#copies.replaced(this.#live, written, !partial || !this.#live.memory);
      this.#copies.copy(this.#live);
      const state = this.#copies.handOver();
      // A restore is a migration's: the next copy (the last delta's, while the source
      // holds calls, or the first call's after the switch) must not copy all memory. With
      // `turnsLater` the host's `prime` does it, with buffers the spare faulted in meanwhile.
      if (msg.t === 'restore' && msg.turnsLater !== true) this.#copies.prime(this.#live);
      this.#port.post(state ? { t: 'done', id: msg.id, state } : { t: 'done', id: msg.id });
    } catch (error) {
      this.#port.post({ t: 'done', id: msg.id, error: wasmError(error, msg.t) });
    }
  }

  /**
   * Run one call and keep its answer. The control buffer tells the host which call runs
   * since when, so it can stop one that runs too long. A failed call leaves no trace in
   * the state.
   */
  #call(request: CallRequest, seq: number, stamped: boolean): void {
    this.#reachedHost = false;
    this.#callStart = performance.now();
    this.#startedAt[CONTROL_STARTED_AT] = performance.timeOrigin + this.#callStart;
    Atomics.store(this.#running, CONTROL_RUNNING, seq);
    if (!this.#shared && !stamped) this.#port.post({ t: 'running', seq, startedAt: this.#startedAt[CONTROL_STARTED_AT]! });
    try {
      const fresh = request.fresh ? instantiate(this.#init, dirFiles(this.#live), this.#bridge, this.#poll) : null;
      const result = runCall(fresh ?? this.#live, request);
      const answer: WorkerAnswer = { ok: true };
      if (result.value !== undefined) answer.value = result.value;
      if (result.bytes) answer.bytes = result.bytes;
      if (Object.keys(result.files).length > 0) answer.files = result.files;
      if (result.stdout) answer.stdout = result.stdout;
      if (result.stderr) answer.stderr = result.stderr;
      if (!fresh) this.#copies.copy(this.#live);
      this.#answers.push(answer);
    } catch (error) {
      // A failed call leaves no trace: the instance goes back to its state before it.
      if (!request.fresh) this.#copies.rollback(this.#live);
      this.#answers.push({ ok: false, error: wasmError(error, request.fn) });
    } finally {
      Atomics.store(this.#running, CONTROL_RUNNING, -1);
    }
  }

  /** Send the answers collected so far, with the state after them. */
  #sendAnswers(): void {
    if (this.#answers.length === 0) return;
    const state = this.#copies.handOver();
    this.#port.post(answersMessage(this.#answers, state));
    this.#answers = [];
  }
}

/** Serve one sandboxed module instance over `port` until the worker is terminated. */
export function runSandboxWorker(port: MessagePort<HostToWorker, WorkerToHost>): void {
  let worker: WorkerInstance | null = null;
  port.onMessage((msg) => {
    if (msg.t === 'init') {
      try {
        worker = new WorkerInstance(port, msg);
        const state = worker.handOver();
        port.post(state ? { t: 'ready', state } : { t: 'ready' });
      } catch (error) {
        port.post({ t: 'failed', error: wasmError(error, 'instantiate') });
      }
      return;
    }
    if (msg.t === 'zeroes') {
      // Asked of a spare, which holds nothing of them afterwards: the buffers are shared.
      port.post({ t: 'zeroes', id: msg.id, buffers: faultedZeroes(msg.bytes, msg.count, msg.lo, msg.hi) });
      return;
    }
    if (!worker) return;
    if (msg.t === 'calls') worker.calls(msg.first, requestsOf(msg), msg.stamped === true);
    else if (msg.t === 'snapshot') worker.snapshot(msg.id, msg.sinceLast === true);
    else if (msg.t === 'written') worker.written(msg.id);
    else if (msg.t === 'prime') worker.prime(msg.id, msg.buffers);
    else worker.replace(msg);
  });
}
