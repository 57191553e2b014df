/**
 * Messages between the host thread and a sandbox worker, the layout of the shared
 * buffer that lets a worker block on a host call (the "bridge"), and of the one through
 * which a worker tells its host which call runs and which state copy to resume from
 * (the "control" buffer).
 *
 * Bridge: the worker posts `{t: 'host', op, args}` and blocks in `Atomics.wait` on
 * word 0 of the bridge buffer; the host thread does the (asynchronous) work, writes the
 * answer after the 16-byte header — status in word 1, byte length in word 2 — sets word
 * 0 to READY and notifies. Wasm calls its imports synchronously; this is how an async
 * host function (a camera frame, a call to another peer) answers one.
 *
 * Without shared memory (a page that is not cross-origin isolated, an engine without
 * SharedArrayBuffer) there is no bridge and no control buffer: the worker announces each
 * call with a `running` message, stops a call past its limit itself (its stop checks),
 * and hands the host what its state copy changed as a `delta` with each answer. Imports
 * that need the host thread block on a synchronous request a service worker answers
 * (async-bridge.ts, ADR 0039) where the page has one, and are refused at load
 * (ERR_NO_SHARED_MEMORY) where it has none. ADR 0024.
 * @module
 */
import type { ErrorInfo } from '../errors.ts';
import type { CallRequest, InstanceSnapshot, WasmValue } from '../ports/sandbox.ts';
import type { FuncType } from '../wasm/binary.ts';

/** Bytes before the data region of the bridge buffer. */
export const BRIDGE_HEADER = 16;
/** Word 0: nothing pending. */
export const BRIDGE_IDLE = 0;
/** Word 0: the host has written an answer. */
export const BRIDGE_READY = 1;
/** Word 1 value: the answer is a result. */
export const BRIDGE_OK = 0;
/** Word 1 value: the answer is an error message (UTF-8). */
export const BRIDGE_ERROR = 1;
/** Word 1 value: the answer is a named error (JSON `ErrorInfo`) the module's call fails with as it is. */
export const BRIDGE_NAMED_ERROR = 2;

/** Bytes of a worker's control buffer. */
export const CONTROL_BYTES = 24;
/** Int32 index in the control buffer: sequence number of the call running, or -1 between calls. */
export const CONTROL_RUNNING = 0;
/** Int32 index: the state turn the host would resume a successor from (-1 before any). */
export const CONTROL_RELIED = 1;
/**
 * Int32 index: non-zero once the host has stopped this worker. A module's stop checks
 * (shared/wasm/stop-checks.ts) read it and unwind the call in the worker's own thread,
 * where an engine's `Worker.terminate()` does not stop running wasm.
 */
export const CONTROL_STOP = 4;
/** Float64 index: when the running call started, ms since the epoch (`performance.timeOrigin + performance.now()`). */
export const CONTROL_STARTED_AT = 1;
/**
 * State buffers per instance unit. Calls write their state copies into one that is
 * neither the copy last handed to the host nor the one the host relies on, so the copy
 * a successor resumes from is never being written.
 */
export const STATE_TURNS = 3;

/** A function export and its signature. */
export interface FunctionExport {
  name: string;
  type: FuncType;
}

/** Export names of the globals holding the span of memory a module wrote (see shared/wasm/instrument.ts). */
export interface SpanNames {
  lo: string;
  hi: string;
  page: string;
}

/** A provider module to instantiate before the app, its exports linked into the app's imports. */
export interface ProviderInit {
  /** The import module name it serves. */
  name: string;
  module: WebAssembly.Module;
  /** Export names of its instrumented mutable globals. */
  globals: string[];
  /** Its written span, when its writes are tracked. */
  dirty?: SpanNames;
  files: Record<string, Uint8Array>;
}

/** What a worker needs to start an instance. */
export interface InitMessage {
  t: 'init';
  module: WebAssembly.Module;
  functions: FunctionExport[];
  /** Export names of the instrumented mutable globals (state to snapshot). */
  globals: string[];
  /** Export names of the instrumented funcref tables (their changed slots are state too). */
  tables?: string[];
  /** The app's written span, when its writes are tracked: state copies then take only what changed. */
  dirty?: SpanNames;
  files: Record<string, Uint8Array>;
  env: Record<string, string>;
  args: string[];
  /** The bridge buffer; absent without shared memory (then no import reaches the host thread). */
  bridge?: SharedArrayBuffer;
  /**
   * Without shared memory: the URL host answers are read from (async-bridge.ts), when the
   * page's service worker serves them. Absent with the bridge buffer, or with neither.
   */
  answerUrl?: string;
  /** This worker's control buffer (see {@link CONTROL_BYTES}); each worker has its own. Absent without shared memory. */
  control?: SharedArrayBuffer;
  /** The call time limit: without a control buffer the worker's stop checks end a call past it. */
  callTimeoutMs: number;
  /** Keep a copy of the state after every call so a stopped worker's successor can resume. */
  trackState: boolean;
  /** Linked providers in instantiation order: each after the providers it imports from. */
  providers: ProviderInit[];
}

/** State copied after a successful call, shared with the host. */
export interface StateCopy {
  /** Buffer holding the first `memoryBytes` of linear memory: worker-owned and shared, or the host's own without shared memory. */
  memory: SharedArrayBuffer | ArrayBuffer;
  memoryBytes: number;
  globals: Record<string, WasmValue>;
  /** The same for each linked provider, by name, so a successor resumes them too. */
  providers?: Record<string, StateCopy>;
}

/**
 * How a message names the state copy the host may resume a successor from: which of
 * the unit's state buffers holds it, how long it is, and the globals' values in the
 * order of their names (`InitMessage.globals`, or the provider's). A buffer itself
 * travels once, with the first message that names it: the host keeps it.
 */
export interface StateRef {
  turn: number;
  memoryBytes: number;
  globals: WasmValue[];
  /** This turn's buffer, the first time it is named. */
  memory?: SharedArrayBuffer;
  /**
   * Without shared memory: the bytes of the copy that changed since the previous message
   * named one, from byte `lo`; the host applies them to its own copy.
   */
  delta?: { lo: number; bytes: Uint8Array };
  /** The same for each linked provider, by name. */
  providers?: Record<string, StateRef>;
}

/**
 * One call's answer from the worker thread: a `CallResult` or an error, flat, with empty
 * outputs left out, as every property is copied between threads.
 */
export type WorkerAnswer =
  | { ok: true; value?: WasmValue; bytes?: Uint8Array; files?: Record<string, Uint8Array>; stdout?: string; stderr?: string }
  | { ok: false; error: ErrorInfo };

/** Scalar calls in order: call `i` runs `fns[i]` with the next `arity[i]` values of `args` (call-packing.ts). */
export interface PackedCalls {
  fns: string[];
  arity: number[];
  args: WasmValue[];
}

/** Host → worker. */
export type HostToWorker =
  | InitMessage
  /**
   * Calls to run in order; `first` is the sequence number of the first, the others follow.
   * `stamped` (without shared memory): the host posted them to an idle worker and took the
   * first call's start as the time it posted, so the worker does not announce that one.
   */
  | { t: 'calls'; first: number; requests: CallRequest[]; stamped?: true }
  /** The same calls packed (call-packing.ts), when every one passes only scalars. */
  | { t: 'calls'; first: number; packed: PackedCalls; stamped?: true }
  /** `sinceLast`: a delta over the previous snapshot when the worker knows what was written since. */
  | { t: 'snapshot'; id: number; sinceLast?: boolean }
  /** How many bytes calls wrote since the previous snapshot (the next delta still counts from it). */
  | { t: 'written'; id: number }
  /**
   * Ready every state buffer the host does not hold for the memory as it is now (after a
   * whole restore); answered by `done`. `buffers`: zeroed shared buffers another worker
   * faulted in (`zeroes`), taken instead of new ones where a turn needs a new buffer of
   * their size.
   */
  | { t: 'prime'; id: number; buffers?: SharedArrayBuffer[] }
  /**
   * `turnsLater`: the host readies the other turns with the `prime` that follows (with
   * buffers another worker faulted in meanwhile); the restore readies none itself.
   */
  | { t: 'restore'; id: number; snapshot: InstanceSnapshot; turnsLater?: true }
  /**
   * New shared buffers of `bytes` each, zero, with every 4 KiB page of `[lo, hi)` written
   * once so the system has given it memory: a spare worker does this while the active one
   * restores, so that the turns readied after the restore are not first touches. Answered
   * by `zeroes` (no buffers without shared memory).
   */
  | { t: 'zeroes'; id: number; bytes: number; count: number; lo: number; hi: number }
  | { t: 'resume'; id: number; state: StateCopy; files: Record<string, Uint8Array> };

/** Worker → host. */
export type WorkerToHost =
  | { t: 'ready'; state?: StateRef }
  | { t: 'failed'; error: ErrorInfo }
  /**
   * Answers of the calls run since the last `answers`, in order, and the state after
   * the last of them.
   */
  | { t: 'answers'; answers: WorkerAnswer[]; state?: StateRef }
  /** The same answers packed (call-packing.ts), when each is a success with at most a value (null: none). */
  | { t: 'answers'; values: (WasmValue | null)[]; state?: StateRef }
  | { t: 'snapshot'; id: number; snapshot: Omit<InstanceSnapshot, 'moduleId'> }
  /** Bytes written since the previous snapshot; `Infinity` when the worker does not know. */
  | { t: 'written'; id: number; bytes: number }
  | { t: 'done'; id: number; error?: ErrorInfo; state?: StateRef }
  | { t: 'zeroes'; id: number; buffers: SharedArrayBuffer[] }
  /** `id`: without shared memory, the request the worker reads the answer of (async-bridge.ts). */
  | { t: 'host'; op: HostOp; args: unknown[]; id?: string }
  /** Without shared memory: call `seq` starts now (ms since the epoch); the answers that follow end it. */
  | { t: 'running'; seq: number; startedAt: number };

/** Host-thread operations a worker can ask for through the bridge. */
export type HostOp =
  | 'captureImage' | 'readTemperature' | 'readHumidity' | 'readAcceleration' | 'readOrientation' | 'readLocation'
  | 'rpcCall' | 'publish' | 'subscribe' | 'nnLoad' | 'nnCompute' | 'ping';

/** Either side of a worker connection, whatever the platform's Worker API looks like. */
export interface MessagePort<In, Out> {
  post(message: Out, transfer?: Transferable[]): void;
  onMessage(handler: (message: In) => void): void;
}
