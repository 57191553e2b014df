/**
 * The code that runs inside a sandbox worker: instantiates the module with WASI (through
 * @bjorn3/browser_wasi_shim, an in-memory directory holding the mounts) and the granted
 * host imports, runs calls in the three WasmIoT calling conventions (and pub/sub
 * delivery, and several byte inputs by pointer and length), answers the calls of one
 * message together, and copies the state after every call so that a successor can
 * resume if this worker is stopped (the control buffer says which copy, and which call
 * runs since when). An app's linked provider modules are instantiated first, in the
 * same worker, and their exports fill the app's imports from them.
 * Platform entry points (a browser Worker, a Node worker thread) only adapt their
 * message API and call {@link runSandboxWorker}.
 * Over 400 lines because the state a snapshot captures (memory pages, globals, changed
 * table slots, WASI files) is read and written with the same live-instance bookkeeping
 * the calls use; split, both halves would reach into the other's internals.
 * @module
 */
import { ConsoleStdout, File, type Inode, OpenFile, PreopenDirectory, WASI, WASIProcExit } from '@bjorn3/browser_wasi_shim';
import { fromUtf8, utf8 } from '../bytes.ts';
import { type ErrorInfo, MeshError, toErrorInfo } from '../errors.ts';
import type { CallRequest, CallResult, TableSnapshot, WasmValue } from '../ports/sandbox.ts';
import {
  FunctionNotFoundError,
  HostCallError,
  MemoryLimitExceededError,
  ModuleLoadError,
  SnapshotInvalidError,
  WasmExitError,
  WasmTrapError,
} from './errors.ts';
import {
  BRIDGE_ERROR,
  BRIDGE_NAMED_ERROR,
  BRIDGE_HEADER,
  BRIDGE_IDLE,
  type CallAnswer,
  CONTROL_RELIED,
  CONTROL_RUNNING,
  CONTROL_STARTED_AT,
  STATE_TURNS,
  type HostOp,
  type HostToWorker,
  type InitMessage,
  type MessagePort,
  type StateCopy,
  type SpanNames,
  type StateRef,
  type WorkerToHost,
} from './protocol.ts';
import { readSpan, resetSpan, type SpanGlobals } from '../wasm/instrument.ts';
import { createWasiNnImports } from './wasi-nn.ts';

const PAGE = 65536;
const SPIN_MS = 0.1;

interface Live {
  instance: WebAssembly.Instance;
  memory: WebAssembly.Memory | null;
  dir: PreopenDirectory;
  stdout: string[];
  stderr: string[];
  /** Export names of the instrumented mutable globals. */
  globals: string[];
  /** Instrumented funcref tables: export name → function index per slot right after instantiation. */
  tables: Map<string, (number | null)[]>;
  /** The module's own functions reachable from the host (exports, initial table entries), by function index. */
  functions: Map<number, unknown>;
  /** The app's linked providers by import module name (empty for a provider). */
  providers: Map<string, Live>;
  /** The span of memory written since the last state copy, when the module's writes are tracked. */
  span: SpanGlobals | null;
  /** Per state turn: the range in which that turn's buffer may differ from memory. */
  pending: Range[];
}

/** A byte range `[lo, hi)`; empty when lo ≥ hi. */
interface Range {
  lo: number;
  hi: number;
}

const EVERYTHING: Range = { lo: 0, hi: Number.POSITIVE_INFINITY };
const NOTHING: Range = { lo: Number.POSITIVE_INFINITY, hi: 0 };

function union(a: Range, b: Range): Range {
  if (a.lo >= a.hi) return b;
  if (b.lo >= b.hi) return a;
  return { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) };
}

/** Imports whose host code writes into the module's memory (the module's own writes are tracked). */
const WRITING_IMPORTS = new Set(['wasi_snapshot_preview1', 'camera', 'wasi_ephemeral_nn']);

/** `imports` with each function marking the whole memory written once it returns. */
function writesAll(imports: WebAssembly.ModuleImports, span: () => SpanGlobals | null): WebAssembly.ModuleImports {
  const out: WebAssembly.ModuleImports = {};
  for (const [name, value] of Object.entries(imports)) {
    if (typeof value !== 'function') {
      out[name] = value;
      continue;
    }
    const f = value as (...args: unknown[]) => unknown;
    out[name] = (...args: unknown[]) => {
      try {
        return f(...args);
      } finally {
        const s = span();
        if (s) {
          s.lo.value = 0;
          s.hi.value = -1;
        }
      }
    };
  }
  return out;
}

/** Serve one sandboxed module instance over `port` until the worker is terminated. */
export function runSandboxWorker(port: MessagePort<HostToWorker, WorkerToHost>): void {
  let init: InitMessage | null = null;
  let live: Live | null = null;
  let control: { running: Int32Array; startedAt: Float64Array } | null = null;
  // STATE_TURNS buffers per linked instance ('' for the app, else the provider's name).
  // Calls write into the working turn, which is neither the turn last handed to the host
  // nor the one it relies on: the copy a successor would resume from is never written.
  const stateBuffers = new Map<string, (SharedArrayBuffer | null)[]>();
  /** Buffers a message has named already (the host keeps them). */
  const handedOver = new WeakSet<SharedArrayBuffer>();
  let working = 0;
  let handed = -1;
  /** The state after the last successful call (or at start): a failed call rolls back to it. */
  let lastGood: StateCopy | null = null;
  /** The newest state copy not handed to the host yet. */
  let unsent: { copy: StateCopy; ref: StateRef } | null = null;
  /** Answers of calls run since the last `answers` message. */
  let answers: CallAnswer[] = [];
  /** Set when a call reached the host (camera, rpc, pub/sub, …): its answer is sent before the next call starts. */
  let reachedHost = false;
  const decoder = new TextDecoder();

  const bridgeCall = (op: HostOp, args: unknown[]): Uint8Array => {
    reachedHost = true;
    const sab = init!.bridge;
    const header = new Int32Array(sab, 0, 4);
    Atomics.store(header, 0, BRIDGE_IDLE);
    port.post({ t: 'host', op, args });
    // Spin briefly first: most host answers arrive within microseconds, and waking from
    // Atomics.wait costs more than that.
    const until = performance.now() + SPIN_MS;
    while (Atomics.load(header, 0) === BRIDGE_IDLE && performance.now() < until) {
      /* spin */
    }
    while (Atomics.load(header, 0) === BRIDGE_IDLE) Atomics.wait(header, 0, BRIDGE_IDLE, 1000);
    const status = header[1]!;
    const data = new Uint8Array(sab, BRIDGE_HEADER, header[2]!).slice();
    Atomics.store(header, 0, BRIDGE_IDLE);
    if (status === BRIDGE_ERROR) throw new HostCallError(`host ${op} failed: ${decoder.decode(data)}`);
    if (status === BRIDGE_NAMED_ERROR) {
      const info = JSON.parse(decoder.decode(data)) as ErrorInfo;
      throw new MeshError(info.code, info.message, info.data);
    }
    return data;
  };

  /** One module instance: `links` are the providers instantiated so far, `out` the console they share. */
  const instantiateUnit = (
    msg: InitMessage,
    module: WebAssembly.Module,
    globals: string[],
    files: Record<string, Uint8Array>,
    links: Map<string, Live>,
    out: Pick<Live, 'stdout' | 'stderr'>,
    dirty: SpanNames | undefined,
  ): Live => {
    const { stdout, stderr } = out;
    const contents = new Map<string, Inode>();
    for (const [name, bytes] of Object.entries(files)) contents.set(name, new File(bytes));
    const dir = new PreopenDirectory('.', contents);
    const wasi = new WASI(
      msg.args,
      Object.entries(msg.env).map(([k, v]) => `${k}=${v}`),
      [
        new OpenFile(new File([])),
        new ConsoleStdout((b) => stdout.push(decoder.decode(b))),
        new ConsoleStdout((b) => stderr.push(decoder.decode(b))),
        dir,
      ],
      { debug: false },
    );
    let memory: WebAssembly.Memory | null = null;
    const view = (): DataView => new DataView(memory!.buffer);
    const bytesAt = (ptr: number, len: number): Uint8Array => new Uint8Array(memory!.buffer, ptr >>> 0, len >>> 0).slice();
    let instance: WebAssembly.Instance;
    const delayCell = new Int32Array(new SharedArrayBuffer(4));
    const host: Record<string, Record<string, (...a: number[]) => unknown>> = {
      sys: {
        millis: () => Math.floor(performance.now()) | 0,
        delay: (ms) => void Atomics.wait(delayCell, 0, 0, Math.max(0, ms)),
        print: (ptr, len) => void stdout.push(fromUtf8(bytesAt(ptr, len))),
        println: (ptr, len) => void stdout.push(`${fromUtf8(bytesAt(ptr, len))}\n`),
        printInt: (n) => void stdout.push(String(n)),
      },
      camera: {
        takeImageStaticSize: (outPtr, sizePtr) => {
          const capacity = view().getUint32(sizePtr, true);
          const jpeg = bridgeCall('captureImage', []);
          const n = Math.min(capacity, jpeg.byteLength);
          new Uint8Array(memory!.buffer, outPtr, n).set(jpeg.subarray(0, n));
          view().setUint32(sizePtr, n, true);
        },
        takeImageDynamicSize: (outPtrPtr, outLenPtr) => {
          const jpeg = bridgeCall('captureImage', []);
          const alloc = instance.exports.alloc;
          if (typeof alloc !== 'function') throw new FunctionNotFoundError('camera.takeImageDynamicSize needs the module to export alloc');
          const ptr = Number(alloc(jpeg.byteLength));
          new Uint8Array(memory!.buffer, ptr, jpeg.byteLength).set(jpeg);
          view().setUint32(outPtrPtr, ptr, true);
          view().setUint32(outLenPtr, jpeg.byteLength, true);
        },
      },
      dht: {
        getTemperature: () => new DataView(bridgeCall('readTemperature', []).buffer).getFloat64(0, true),
        getHumidity: () => new DataView(bridgeCall('readHumidity', []).buffer).getFloat64(0, true),
      },
      // sensors.X(axis) → f64: one of three values of a reading; an axis outside 0..2 traps.
      sensors: Object.fromEntries((['acceleration', 'orientation', 'location'] as const).map((kind) => {
        const op = `read${kind[0]!.toUpperCase()}${kind.slice(1)}` as 'readAcceleration' | 'readOrientation' | 'readLocation';
        return [kind, (axis: number) => {
          if (axis < 0 || axis > 2) throw new RangeError(`sensors.${kind}: axis ${axis} is not 0, 1 or 2`);
          return new DataView(bridgeCall(op, []).buffer).getFloat64(axis * 8, true);
        }];
      })),
      // network.ping(a, b, c, d) -> f32: round trip in ms, −1 on failure (the host's answer).
      network: {
        ping: (a, b, c, d) => new DataView(bridgeCall('ping', [[a, b, c, d].map((x) => x & 255).join('.')]).buffer).getFloat64(0, true),
      },
      communication: {
        rpcCall: (namePtr, nameLen, dataPtr, dataLen) => void bridgeCall('rpcCall', [fromUtf8(bytesAt(namePtr, nameLen)), bytesAt(dataPtr, dataLen)]),
      },
      // 0 on success; a denied topic or a failed service fails the module's call instead.
      pubsub: {
        publish: (topicPtr, topicLen, dataPtr, dataLen) => (bridgeCall('publish', [fromUtf8(bytesAt(topicPtr, topicLen)), bytesAt(dataPtr, dataLen)]), 0),
        subscribe: (topicPtr, topicLen) => (bridgeCall('subscribe', [fromUtf8(bytesAt(topicPtr, topicLen))]), 0),
      },
      wasi_ephemeral_nn: createWasiNnImports({
        memory: () => memory!,
        bridge: bridgeCall,
        file: (name) => {
          const inode = dir.dir.contents.get(name);
          return inode instanceof File ? inode.data : undefined;
        },
        warn: (message) => void stderr.push(message),
      }),
    };
    // Only the modules the binary imports are offered; the host checked the grants at load.
    const imports: WebAssembly.Imports = {};
    let span: SpanGlobals | null = null;
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imports[imp.module]) continue;
      const linked = links.get(imp.module);
      let offered: WebAssembly.ModuleImports | undefined;
      if (linked) offered = linked.instance.exports;
      else if (imp.module === 'wasi_snapshot_preview1') offered = wasi.wasiImport as unknown as WebAssembly.ModuleImports;
      else if (host[imp.module]) offered = host[imp.module] as WebAssembly.ModuleImports;
      // What the host writes into memory is not in the tracked span: after such an import
      // the whole memory counts as written.
      if (offered && dirty && WRITING_IMPORTS.has(imp.module)) offered = writesAll(offered, () => span);
      if (offered) imports[imp.module] = offered;
    }
    instance = new WebAssembly.Instance(module, imports);
    if (dirty) {
      const [lo, hi, page] = [dirty.lo, dirty.hi, dirty.page].map((name) => instance.exports[name]);
      if (lo instanceof WebAssembly.Global && hi instanceof WebAssembly.Global && page instanceof WebAssembly.Global) span = { lo, hi, page };
    }
    const exported = instance.exports.memory;
    memory = exported instanceof WebAssembly.Memory ? exported : null;
    // WASI is bound to every instance: reactors (`_initialize`, called here once), and
    // commands whose exports are `.command_export` wrappers with no `_start` or
    // `_initialize` at all — WasmIoT's Rust modules — which make WASI calls from the first
    // export called. `_start` is never run: a module's functions are the service.
    const wasiTarget = instance as unknown as { exports: { memory: WebAssembly.Memory; _initialize?: () => unknown } };
    if (typeof instance.exports._initialize === 'function') wasi.initialize(wasiTarget);
    else wasi.inst = wasiTarget;
    const tables = new Map<string, (number | null)[]>();
    const functions = new Map<number, unknown>();
    for (const value of Object.values(instance.exports)) if (typeof value === 'function') remember(functions, value);
    for (const name of msg.tables ?? []) {
      const table = instance.exports[name];
      if (!(table instanceof WebAssembly.Table)) continue;
      const slots: (number | null)[] = [];
      for (let i = 0; i < table.length; i++) slots.push(remember(functions, table.get(i)));
      tables.set(name, slots);
    }
    if (span) resetSpan(span);
    return { instance, memory, dir, stdout, stderr, globals, tables, functions, providers: new Map(), span, pending: new Array<Range>(STATE_TURNS).fill(EVERYTHING) };
  };

  /**
   * The app and its providers, each provider after those it imports from (the host sent
   * them in that order). Each has its own memory and WASI directory; their output is one.
   */
  const instantiate = (msg: InitMessage, files: Record<string, Uint8Array>): Live => {
    const out = { stdout: [] as string[], stderr: [] as string[] };
    const providers = new Map<string, Live>();
    for (const p of msg.providers) providers.set(p.name, instantiateUnit({ ...msg, tables: [] }, p.module, p.globals, p.files, providers, out, p.dirty));
    return { ...instantiateUnit(msg, msg.module, msg.globals, files, providers, out, msg.dirty), providers };
  };

  const fn = (l: Live, name: string): ((...a: WasmValue[]) => unknown) => {
    const f = l.instance.exports[name];
    if (typeof f !== 'function') throw new FunctionNotFoundError(`module exports no function ${name}`);
    return f as (...a: WasmValue[]) => unknown;
  };

  /** Pick the turn the next state copies go to (see `stateBuffers`). */
  const chooseWorking = (): void => {
    const relied = Atomics.load(control!.running, CONTROL_RELIED);
    for (let t = 0; t < STATE_TURNS; t++) {
      if (t !== handed && t !== relied) {
        working = t;
        return;
      }
    }
  };

  /** Copy the state of the app (and its providers) into the working turn; it becomes `lastGood`. */
  const copyState = (l: Live): void => {
    if (!init!.trackState) return;
    const state = copyUnit(l, '');
    // Providers' state travels with the app's: after a timeout the successor, and after a
    // failed call the rollback, put every linked instance back to the same moment.
    if (l.providers.size > 0) {
      state.copy.providers = {};
      state.ref.providers = {};
      for (const [name, p] of l.providers) {
        const unit = copyUnit(p, name);
        state.copy.providers[name] = unit.copy;
        state.ref.providers[name] = unit.ref;
      }
    }
    lastGood = state.copy;
    unsent = state;
  };

  /**
   * Copy one unit's state into the working turn's buffer: the memory that buffer may
   * differ in (everything for an untracked module, or a new buffer), and its globals.
   */
  const copyUnit = (l: Live, key: string): { copy: StateCopy; ref: StateRef } => {
    const bytes = l.memory ? l.memory.buffer.byteLength : 0;
    const turns = stateBuffers.get(key) ?? new Array<SharedArrayBuffer | null>(STATE_TURNS).fill(null);
    stateBuffers.set(key, turns);
    let buffer = turns[working];
    if (!buffer || buffer.byteLength < bytes) {
      turns[working] = buffer = new SharedArrayBuffer(bytes);
      l.pending[working] = EVERYTHING;
    }
    const written = takeSpan(l);
    if (written.lo < written.hi) for (let t = 0; t < STATE_TURNS; t++) l.pending[t] = union(l.pending[t]!, written);
    const range = l.pending[working]!;
    const lo = Math.max(0, range.lo);
    const hi = Math.min(bytes, range.hi);
    if (l.memory && lo < hi) new Uint8Array(buffer, lo, hi - lo).set(new Uint8Array(l.memory.buffer, lo, hi - lo));
    l.pending[working] = NOTHING;
    const values: WasmValue[] = [];
    const globals: Record<string, WasmValue> = {};
    for (const name of l.globals) {
      const g = l.instance.exports[name];
      const value = g instanceof WebAssembly.Global ? (g.value as WasmValue) : 0;
      values.push(value);
      globals[name] = value;
    }
    return { copy: { memory: buffer, memoryBytes: bytes, globals }, ref: { turn: working, memoryBytes: bytes, globals: values } };
  };

  /** What a unit wrote since the last copy (everything, when untracked); the span starts over. */
  const takeSpan = (l: Live): Range => {
    if (!l.span) return EVERYTHING;
    const span = readSpan(l.span);
    resetSpan(l.span);
    return span;
  };

  /** The host wrote `[at, at + length)` of a unit's memory. */
  const wrote = (l: Live, at: number, length: number): void => {
    if (!l.span || length <= 0) return;
    const span = readSpan(l.span);
    if (at < span.lo || span.lo >= span.hi) l.span.lo.value = at | 0;
    if (at + length > span.hi) l.span.hi.value = (at + length) | 0;
  };

  /**
   * Undo a failed call: a tracked unit gets back only the span it wrote, the others their
   * whole memory; pages it grew are zeroed (memory cannot shrink).
   */
  const rollback = (l: Live, s: StateCopy): void => {
    const units: [Live, StateCopy][] = [[l, s]];
    for (const [name, p] of Object.entries(s.providers ?? {})) {
      const unit = l.providers.get(name);
      if (unit) units.push([unit, p]);
    }
    for (const [unit, copy] of units) {
      if (!unit.span) {
        writeState(unit, new Uint8Array(copy.memory, 0, copy.memoryBytes), copy.memoryBytes / PAGE, copy.globals);
        continue;
      }
      const span = takeSpan(unit);
      if (unit.memory) {
        const memory = new Uint8Array(unit.memory.buffer);
        if (memory.byteLength > copy.memoryBytes) memory.fill(0, copy.memoryBytes);
        const lo = Math.max(0, span.lo);
        const hi = Math.min(copy.memoryBytes, span.hi);
        if (lo < hi) memory.set(new Uint8Array(copy.memory, lo, hi - lo), lo);
      }
      writeGlobals(unit, copy.globals);
    }
  };

  /** After the host replaced a unit's whole state (restore, resume), every buffer is stale. */
  const replaced = (l: Live): void => {
    for (const unit of [l, ...l.providers.values()]) {
      unit.pending.fill(EVERYTHING);
      if (unit.span) resetSpan(unit.span);
    }
  };

  /**
   * The reference to the newest state copy for a message to the host (each buffer
   * travels the first time only); the next copies go to another turn.
   */
  const handOver = (): StateRef | undefined => {
    if (!unsent) return undefined;
    const attach = (copy: StateCopy, ref: StateRef): void => {
      if (!handedOver.has(copy.memory)) {
        handedOver.add(copy.memory);
        ref.memory = copy.memory;
      }
      for (const [name, p] of Object.entries(copy.providers ?? {})) attach(p, ref.providers![name]!);
    };
    attach(unsent.copy, unsent.ref);
    const ref = unsent.ref;
    unsent = null;
    handed = ref.turn;
    chooseWorking();
    return ref;
  };

  /** Send the answers collected so far, with the state after them. */
  const sendAnswers = (): void => {
    if (answers.length === 0) return;
    const state = handOver();
    port.post(state ? { t: 'answers', answers, state } : { t: 'answers', answers });
    answers = [];
  };

  const readGlobals = (l: Live): Record<string, WasmValue> => {
    const out: Record<string, WasmValue> = {};
    for (const name of l.globals) {
      const g = l.instance.exports[name];
      if (g instanceof WebAssembly.Global) out[name] = g.value as WasmValue;
    }
    return out;
  };

  const writeState = (l: Live, memoryBytes: Uint8Array | null, pages: number, globals: Record<string, WasmValue>): void => {
    if (l.memory) {
      const current = l.memory.buffer.byteLength / PAGE;
      if (pages > current) l.memory.grow(pages - current);
      const target = new Uint8Array(l.memory.buffer);
      target.fill(0);
      if (memoryBytes) target.set(memoryBytes.subarray(0, Math.min(memoryBytes.byteLength, target.byteLength)));
    }
    writeGlobals(l, globals);
  };

  const writeGlobals = (l: Live, globals: Record<string, WasmValue>): void => {
    for (const [name, value] of Object.entries(globals)) {
      const g = l.instance.exports[name];
      if (g instanceof WebAssembly.Global) g.value = value;
    }
  };

  /** Put the app and its providers back to a state copy. */
  const writeCopy = (l: Live, s: StateCopy): void => {
    writeState(l, new Uint8Array(s.memory, 0, s.memoryBytes), s.memoryBytes / PAGE, s.globals);
    for (const [name, p] of Object.entries(s.providers ?? {})) {
      const unit = l.providers.get(name);
      if (unit) writeState(unit, new Uint8Array(p.memory, 0, p.memoryBytes), p.memoryBytes / PAGE, p.globals);
    }
  };

  const dirFiles = (l: Live): Record<string, Uint8Array> => {
    const out: Record<string, Uint8Array> = {};
    for (const [name, inode] of l.dir.dir.contents) if (inode instanceof File) out[name] = inode.data.slice();
    return out;
  };

  const call = (l: Live, request: CallRequest): CallResult => {
    for (const [name, bytes] of Object.entries(request.files ?? {})) l.dir.dir.contents.set(name, new File(bytes));
    for (const name of request.outputs ?? []) l.dir.dir.contents.delete(name);
    l.stdout.length = 0;
    l.stderr.length = 0;
    const result: CallResult = { files: {}, stdout: '', stderr: '' };
    const c = request.convention;
    if (c.kind === 'scalar') {
      const value = fn(l, request.fn)(...c.args);
      if (typeof value === 'number' || typeof value === 'bigint') result.value = value;
    } else if (c.kind === 'bytes') {
      const alloc = fn(l, c.alloc);
      const target = fn(l, request.fn);
      const inPtr = Number(alloc(c.input.byteLength));
      const lenPtr = Number(alloc(4));
      if (inPtr === 0 || lenPtr === 0) throw new MemoryLimitExceededError('alloc returned a null pointer');
      new Uint8Array(l.memory!.buffer, inPtr, c.input.byteLength).set(c.input);
      wrote(l, inPtr, c.input.byteLength);
      const outPtr = Number(target(inPtr, c.input.byteLength, lenPtr));
      const outLen = new DataView(l.memory!.buffer).getUint32(lenPtr, true);
      result.bytes = new Uint8Array(l.memory!.buffer, outPtr, outLen).slice();
    } else if (c.kind === 'message') {
      const alloc = fn(l, c.alloc);
      const target = fn(l, request.fn);
      const topic = utf8(c.topic);
      const topicPtr = Number(alloc(topic.byteLength));
      const dataPtr = Number(alloc(c.data.byteLength));
      if (topicPtr === 0 || (dataPtr === 0 && c.data.byteLength > 0)) throw new MemoryLimitExceededError('alloc returned a null pointer');
      // Written after both allocations: either may have grown (and so replaced) the buffer.
      new Uint8Array(l.memory!.buffer, topicPtr, topic.byteLength).set(topic);
      new Uint8Array(l.memory!.buffer, dataPtr, c.data.byteLength).set(c.data);
      wrote(l, topicPtr, topic.byteLength);
      wrote(l, dataPtr, c.data.byteLength);
      const value = target(topicPtr, topic.byteLength, dataPtr, c.data.byteLength);
      if (typeof value === 'number' || typeof value === 'bigint') result.value = value;
    } else if (c.kind === 'buffers') {
      const alloc = fn(l, c.alloc);
      const target = fn(l, request.fn);
      const ptrs = c.inputs.map((input) => Number(alloc(input.byteLength)));
      if (ptrs.some((p, i) => p === 0 && c.inputs[i]!.byteLength > 0)) throw new MemoryLimitExceededError('alloc returned a null pointer');
      // Written after every allocation: any of them may have grown (and so replaced) the buffer.
      c.inputs.forEach((input, i) => {
        new Uint8Array(l.memory!.buffer, ptrs[i], input.byteLength).set(input);
        wrote(l, ptrs[i]!, input.byteLength);
      });
      const value = target(...c.inputs.flatMap((input, i) => [ptrs[i], input.byteLength]));
      if (typeof value === 'number' || typeof value === 'bigint') result.value = value;
    } else {
      const ptr = Number(fn(l, c.pointer)());
      new Uint8Array(l.memory!.buffer, ptr, c.input.byteLength).set(c.input);
      wrote(l, ptr, c.input.byteLength);
      const value = fn(l, request.fn)();
      if (typeof value === 'number' || typeof value === 'bigint') result.value = value;
      result.bytes = new Uint8Array(l.memory!.buffer, ptr, c.input.byteLength).slice();
    }
    for (const name of request.outputs ?? []) {
      const inode = l.dir.dir.contents.get(name);
      if (inode instanceof File) result.files[name] = inode.data.slice();
    }
    result.stdout = l.stdout.join('');
    result.stderr = l.stderr.join('');
    return result;
  };

  /**
   * Run one call and keep its answer. The control buffer tells the host which call runs
   * since when, so it can stop one that runs too long. A failed call leaves no trace in
   * the state.
   */
  const runCall = (request: CallRequest, seq: number): void => {
    if (!live || !init || !control) return;
    reachedHost = false;
    control.startedAt[CONTROL_STARTED_AT] = performance.timeOrigin + performance.now();
    Atomics.store(control.running, CONTROL_RUNNING, seq);
    const fresh = request.fresh ? instantiate(init, dirFiles(live)) : null;
    const target = fresh ?? live;
    try {
      const result = call(target, request);
      const answer: CallAnswer = { ok: true };
      if (result.value !== undefined) answer.value = result.value;
      if (result.bytes) answer.bytes = result.bytes;
      if (Object.keys(result.files).length > 0) answer.files = result.files;
      if (result.stdout) answer.stdout = result.stdout;
      if (result.stderr) answer.stderr = result.stderr;
      if (!fresh) copyState(target);
      answers.push(answer);
    } catch (error) {
      // A failed call leaves no trace: the instance goes back to its state before it.
      if (!fresh && lastGood) rollback(target, lastGood);
      answers.push({ ok: false, error: wasmError(error, request.fn) });
    } finally {
      Atomics.store(control.running, CONTROL_RUNNING, -1);
    }
  };

  port.onMessage((msg) => {
    switch (msg.t) {
      case 'init': {
        init = msg;
        control = { running: new Int32Array(msg.control, 0, 2), startedAt: new Float64Array(msg.control, 0, 2) };
        Atomics.store(control.running, CONTROL_RUNNING, -1);
        chooseWorking();
        try {
          live = instantiate(msg, msg.files);
          copyState(live);
          const state = handOver();
          port.post(state ? { t: 'ready', state } : { t: 'ready' });
        } catch (error) {
          port.post({ t: 'failed', error: wasmError(error, 'instantiate') });
        }
        return;
      }
      case 'calls': {
        msg.requests.forEach((request, i) => {
          runCall(request, msg.first + i);
          // A call that reached the host had effects outside the instance: its answer goes
          // out before the next call starts, so that a successor never runs it again.
          if (reachedHost) sendAnswers();
        });
        sendAnswers();
        return;
      }
      case 'snapshot': {
        if (!live) return;
        // The app's state only: linked providers are shared library code whose state (if
        // any) stays where it runs; a restore leaves the target's providers as they are.
        const pages: Record<number, Uint8Array> = {};
        const memoryPages = live.memory ? live.memory.buffer.byteLength / PAGE : 0;
        let copy: ArrayBuffer | null = null;
        if (live.memory) {
          const all = new Uint8Array(live.memory.buffer);
          // Only non-zero pages travel: most of a typical linear memory is zeros. They are
          // copied into one buffer, which is handed to the host (transferred, not cloned).
          const used: number[] = [];
          for (let p = 0; p < memoryPages; p++) if (!isZero(all.subarray(p * PAGE, (p + 1) * PAGE))) used.push(p);
          copy = new ArrayBuffer(used.length * PAGE);
          const out = new Uint8Array(copy);
          used.forEach((p, i) => {
            out.set(all.subarray(p * PAGE, (p + 1) * PAGE), i * PAGE);
            pages[p] = out.subarray(i * PAGE, (i + 1) * PAGE);
          });
        }
        const tables = changedTables(live);
        const snapshot = { pages, memoryPages, globals: readGlobals(live), files: dirFiles(live) };
        port.post({ t: 'snapshot', id: msg.id, snapshot: tables ? { ...snapshot, tables } : snapshot }, copy ? [copy] : []);
        return;
      }
      case 'restore': {
        if (!live) return;
        try {
          const s = msg.snapshot;
          writeTables(live, s.tables ?? {});
          if (s.delta && live.memory) {
            // Only the pages that changed since the snapshot restored before: the rest stay.
            const current = live.memory.buffer.byteLength / PAGE;
            if (s.memoryPages > current) live.memory.grow(s.memoryPages - current);
            const target = new Uint8Array(live.memory.buffer);
            for (const [p, page] of Object.entries(s.pages)) target.set(page, Number(p) * PAGE);
            writeGlobals(live, s.globals);
          } else {
            // Straight into linear memory: every page the snapshot holds, zeros elsewhere.
            writeState(live, null, s.memoryPages, s.globals);
            if (live.memory) {
              const target = new Uint8Array(live.memory.buffer);
              for (const [p, page] of Object.entries(s.pages)) target.set(page.subarray(0, PAGE), Number(p) * PAGE);
            }
          }
          live.dir.dir.contents.clear();
          for (const [name, data] of Object.entries(s.files)) live.dir.dir.contents.set(name, new File(data));
          replaced(live);
          copyState(live);
          const state = handOver();
          port.post(state ? { t: 'done', id: msg.id, state } : { t: 'done', id: msg.id });
        } catch (error) {
          port.post({ t: 'done', id: msg.id, error: wasmError(error, 'restore') });
        }
        return;
      }
      case 'resume': {
        if (!live) return;
        try {
          writeCopy(live, msg.state);
          live.dir.dir.contents.clear();
          for (const [name, data] of Object.entries(msg.files)) live.dir.dir.contents.set(name, new File(data));
          replaced(live);
          copyState(live);
          const state = handOver();
          port.post(state ? { t: 'done', id: msg.id, state } : { t: 'done', id: msg.id });
        } catch (error) {
          port.post({ t: 'done', id: msg.id, error: wasmError(error, 'resume') });
        }
        return;
      }
    }
  });
}

/** Record a function of the module under its index (the JS API names wasm functions by index); null for anything else. */
function remember(functions: Map<number, unknown>, value: unknown): number | null {
  if (typeof value !== 'function') return null;
  const index = Number((value as { name: string }).name);
  if (!Number.isInteger(index)) return null;
  if (!functions.has(index)) functions.set(index, value);
  return index;
}

/** Tables whose slots differ from their contents right after instantiation, with only the differing slots. */
function changedTables(l: Live): Record<string, TableSnapshot> | undefined {
  let out: Record<string, TableSnapshot> | undefined;
  for (const [name, initial] of l.tables) {
    const table = l.instance.exports[name] as WebAssembly.Table;
    const slots: Record<number, number | null> = {};
    let changed = table.length !== initial.length;
    for (let i = 0; i < table.length; i++) {
      const index = remember(l.functions, table.get(i));
      if (index !== (initial[i] ?? null)) {
        slots[i] = index;
        changed = true;
      }
    }
    if (changed) (out ??= {})[name] = { length: table.length, slots };
  }
  return out;
}

/**
 * Put changed table slots back. Every function named must be one the target instance can
 * reach (an export or an initial table entry of the same module): the snapshot of a
 * module that stored some other function reference is refused by name.
 */
function writeTables(l: Live, tables: Record<string, TableSnapshot>): void {
  for (const name of Object.keys(tables)) {
    if (!l.tables.has(name)) throw new SnapshotInvalidError(`snapshot names table ${name}, which the module does not have`);
  }
  // Every table back to what instantiation put there (a slot the snapshot does not list
  // holds its initial function), then the snapshot's changed slots on top.
  for (const [name, initial] of l.tables) {
    const table = l.instance.exports[name] as WebAssembly.Table;
    for (let i = 0; i < table.length; i++) table.set(i, (initial[i] === undefined || initial[i] === null ? null : l.functions.get(initial[i]!)) as never);
  }
  for (const [name, t] of Object.entries(tables)) {
    const table = l.instance.exports[name];
    if (!(table instanceof WebAssembly.Table)) throw new SnapshotInvalidError(`snapshot names table ${name}, which the module does not have`);
    if (t.length > table.length) table.grow(t.length - table.length);
    for (const [slot, index] of Object.entries(t.slots)) {
      const fn = index === null ? null : l.functions.get(index);
      if (fn === undefined) throw new SnapshotInvalidError(`table ${name} slot ${slot} holds function ${String(index)}, which cannot be reached to restore it`);
      table.set(Number(slot), fn as never);
    }
  }
}

function isZero(bytes: Uint8Array): boolean {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}

/** Map whatever a module threw to a named error. */
function wasmError(error: unknown, where: string): ErrorInfo {
  if (error instanceof MeshError) return error.toInfo();
  if (error instanceof WASIProcExit) return new WasmExitError(`module exited with code ${error.code} in ${where}`, { exitCode: error.code }).toInfo();
  if (error instanceof WebAssembly.RuntimeError) return new WasmTrapError(`module trapped in ${where}: ${error.message}`).toInfo();
  // Engines report a wasm stack overflow as a RangeError (V8, JavaScriptCore) or an
  // InternalError "too much recursion" (SpiderMonkey), not a RuntimeError: a trap all the same.
  if ((error instanceof RangeError && /call stack/i.test(error.message)) || (error instanceof Error && error.name === 'InternalError' && /recursion/i.test(error.message))) return new WasmTrapError(`module trapped in ${where}: stack overflow (${error.message})`, { reason: 'stack overflow' }).toInfo();
  if (error instanceof RangeError) return new MemoryLimitExceededError(`${where}: ${error.message}`).toInfo();
  if (error instanceof WebAssembly.LinkError || error instanceof WebAssembly.CompileError) return new ModuleLoadError(`${where}: ${error.message}`).toInfo();
  return toErrorInfo(error);
}
