/**
 * The Sandbox port: runs WebAssembly module instances in isolation (a Worker per instance
 * in every adapter), so that a module that traps, loops or exhausts memory costs only
 * its own instance. Adapters: browser `Worker` (web/sandbox/), Node `worker_threads`
 * (node-host/sandbox/). Both pass `runSandboxTests` (test/acceptance/sandbox.ts).
 * @module
 */
import type { InferenceEngine } from './inference.ts';
import type { ModuleInfo } from './wasm-module.ts';

/** A wasm scalar: i32/f32/f64 as number, i64 as bigint. */
export type WasmValue = number | bigint;

/** Limits applied to one instance. */
export interface SandboxLimits {
  /** A call running longer is stopped (its worker terminated) with ERR_CALL_TIMEOUT. */
  callTimeoutMs: number;
  /** Linear memory may not grow beyond this many 64 KiB pages. */
  maxMemoryPages: number;
  /** Larger binaries are refused with ERR_MODULE_TOO_LARGE. */
  maxModuleBytes: number;
  /** Elements of the tables a module defines, added up (ERR_MODULE_BUDGET above it, at load). */
  maxTableElements: number;
  /** Globals, imported and defined (ERR_MODULE_BUDGET above it). */
  maxGlobals: number;
  /** Data segments (ERR_MODULE_BUDGET above it). */
  maxDataSegments: number;
  /** Bytes of all data segments together (ERR_MODULE_BUDGET above it). */
  maxDataBytes: number;
}

/** Work done on the host thread for a host import; the worker blocks until it is done. */
export interface HostServices {
  /** A JPEG frame (getUserMedia in browsers, a fake camera in headless peers). */
  captureImage?: () => Promise<Uint8Array>;
  /** Sensor readings; `simulated` devices say so in their description. */
  readTemperature?: () => Promise<number>;
  readHumidity?: () => Promise<number>;
  /** A phone's motion sensor: acceleration including gravity, m/s², [x, y, z]. */
  readAcceleration?: () => Promise<[number, number, number]>;
  /** A phone's orientation: [alpha, beta, gamma] in degrees. */
  readOrientation?: () => Promise<[number, number, number]>;
  /** Position: [latitude, longitude, accuracy in metres]. */
  readLocation?: () => Promise<[number, number, number]>;
  /**
   * `network.ping(a, b, c, d)`: round trip in ms to the host at IPv4 `address`, or −1 when
   * nothing answers (never rejects; the worker waits for it).
   */
  ping?: (address: string) => Promise<number>;
  /** `communication.rpcCall`: call the named function elsewhere with `data`. */
  rpcCall?: (name: string, data: Uint8Array) => Promise<void>;
  /**
   * `pubsub.publish`: send `data` to the subscribers of `topic` (the topic grant was
   * checked). Resolve once the message is handed on, without waiting for subscribers'
   * handlers: the publishing instance is blocked until then, and may itself subscribe.
   */
  publish?: (topic: string, data: Uint8Array) => Promise<void>;
  /** `pubsub.subscribe`: deliver messages on `topic` (a pattern, its grant checked) to this module from now on. */
  subscribe?: (topic: string) => Promise<void>;
  /**
   * `wasi_ephemeral_nn.*`: the inference engine behind wasi-nn (onnxruntime-web, injected
   * by the platform host). Graphs a module loads live until its instance closes.
   */
  nn?: InferenceEngine;
}

/**
 * A module linked into an instance at load (runtime linking): the app's imports from
 * module `name` are served by this module's exports, instantiated in the same worker.
 */
export interface ProviderModule {
  /** The import module name the app (or another provider) uses, e.g. `math`. */
  name: string;
  /** The provider's binary (already verified against its content address). */
  wasm: Uint8Array;
  /** Files in the provider's own WASI directory from the start. */
  files?: Record<string, Uint8Array>;
}

/** What to load. */
export interface LoadSpec {
  /** The module binary (already verified against its content address). */
  wasm: Uint8Array;
  /** Files present in the instance's WASI directory from the start (deployment-stage mounts). */
  files?: Record<string, Uint8Array>;
  /** Host imports this instance may use: `module.name` or `module.*`. Everything else is denied. */
  grants: string[];
  limits?: Partial<SandboxLimits>;
  /** Host-thread implementations of the asynchronous host imports. */
  services?: HostServices;
  /** Environment variables and arguments seen through WASI. */
  env?: Record<string, string>;
  args?: string[];
  /**
   * Topic patterns this instance may publish to and subscribe to (`/`-separated segments,
   * `*` one segment, a trailing `#` the rest). Deny by default: without it every topic is
   * refused. A `pubsub.*` call outside them fails the module's call with ERR_TOPIC_DENIED.
   */
  topics?: { publish: string[]; subscribe: string[] };
  /**
   * Modules whose exports the app imports, in any order: each is instantiated before the
   * modules importing from it, with its own memory (capped like the app's), the same
   * grants, WASI environment and host services. ERR_LINK_FAILED names what cannot link.
   */
  providers?: ProviderModule[];
}

/** How a function is called. */
export type CallConvention =
  /** Scalars by position, as the export's signature wants them. */
  | { kind: 'scalar'; args: WasmValue[] }
  /** `alloc(len) -> ptr`, then `fn(in_ptr, in_len, out_len_ptr) -> out_ptr`. */
  | { kind: 'bytes'; alloc: string; input: Uint8Array }
  /** In place: write `input` at `pointer()`, call `fn()`, read the same span back. */
  | { kind: 'buffer'; pointer: string; input: Uint8Array }
  /** Pub/sub delivery: `alloc` for `topic` (UTF-8) and `data`, then `fn(topic_ptr, topic_len, data_ptr, data_len)`. */
  | { kind: 'message'; alloc: string; topic: string; data: Uint8Array }
  /**
   * Several byte inputs (WasmIoT's `infer_from_ptrs(model_ptr, model_len, img_ptr,
   * img_len)`): `alloc` for each, then `fn(ptr_0, len_0, ptr_1, len_1, …)`; the result is
   * the function's scalar.
   */
  | { kind: 'buffers'; alloc: string; inputs: Uint8Array[] };

/** One call. */
export interface CallRequest {
  fn: string;
  convention: CallConvention;
  /** Written into the WASI directory before the call (execution-stage mounts). */
  files?: Record<string, Uint8Array>;
  /** Read back from the WASI directory after the call (output-stage mounts). */
  outputs?: string[];
  /** Run on a fresh instance (for functions declared stateless). */
  fresh?: boolean;
}

/** What a call produced. */
export interface CallResult {
  /** The scalar result, if the function returns one. */
  value?: WasmValue;
  /** The output bytes of the `bytes` and `buffer` conventions. */
  bytes?: Uint8Array;
  /** Output files that exist after the call. */
  files: Record<string, Uint8Array>;
  stdout: string;
  stderr: string;
}

/**
 * The state of an instance between calls: the app module's only. Linked providers
 * ({@link LoadSpec.providers}) keep their own state in the instance they run in; a
 * restore leaves it as it is.
 */
export interface InstanceSnapshot {
  /** sha256 of the module the snapshot belongs to. */
  moduleId: string;
  /** Linear memory, as non-zero 64 KiB pages: page index → bytes. */
  pages: Record<number, Uint8Array>;
  /**
   * A delta over the snapshot restored just before it (see `diffSnapshot` in
   * shared/sandbox/snapshot.ts): `pages` lists only the pages that differ — zero pages
   * included — and every other page keeps its content. Globals, files and tables are whole.
   */
  delta?: boolean;
  /**
   * A later part of a whole snapshot shipped in parts (live migration streams a large
   * base so): `pages` holds some of its pages and `memoryPages` its size; restoring it
   * writes those pages and nothing else — globals, files and tables stay as the first
   * part (a whole snapshot of its own pages) put them. `globals` and `files` are empty.
   */
  part?: boolean;
  /** Memory size in pages. */
  memoryPages: number;
  /** Values of every mutable global, by export name. */
  globals: Record<string, WasmValue>;
  /** The WASI directory's files. */
  files: Record<string, Uint8Array>;
  /**
   * Funcref tables whose contents differ from what instantiation put there (a module
   * that used `table.set` or `table.grow`), by export name; absent when none changed.
   */
  tables?: Record<string, TableSnapshot>;
}

/** A changed table: its length and the slots that differ from the initial contents. */
export interface TableSnapshot {
  length: number;
  /** Slot → index of the module's function there (in the function index space), or null for an empty slot. */
  slots: Record<number, number | null>;
}

/** A loaded module instance. */
export interface SandboxInstance {
  /** sha256 of the module. */
  readonly moduleId: string;
  /** Imports, exports and signatures read from the binary. */
  readonly info: ModuleInfo;
  /** Call a function. Rejects with named errors (ERR_WASM_TRAP, ERR_CALL_TIMEOUT, …); the instance stays usable. */
  call(request: CallRequest): Promise<CallResult>;
  /**
   * Capture the state between calls. With `sinceLast`, a sandbox that tracks what calls
   * write may answer with a delta over this instance's previous snapshot (`delta: true`:
   * every page written since, zero or not) instead of the whole state — what restoring
   * that previous snapshot and then this delta gives is the state now.
   */
  snapshot(options?: { sinceLast?: boolean }): Promise<InstanceSnapshot>;
  /**
   * How many bytes of memory calls wrote since the previous snapshot, as far as the
   * sandbox tracks it (`Infinity` when it does not); the next `sinceLast` still counts
   * from that snapshot. A migration asks before shipping a pre-copy round it may not need.
   */
  writtenSinceSnapshot?(): Promise<number>;
  /**
   * Replace the state with a snapshot of the same module (ERR_SNAPSHOT_MISMATCH otherwise).
   * `handOver`: the caller gives the buffers under the snapshot's pages away (nothing else
   * reads them from now on), so a sandbox in another thread may move them there instead
   * of copying them; they may be detached once this is called.
   */
  restore(snapshot: InstanceSnapshot, options?: { handOver?: boolean }): Promise<void>;
  /**
   * Bring the sandbox's state copies up to date with memory now, where a sandbox keeps
   * them: after a base restored in parts, so that the restore of the delta that follows
   * (while the source holds calls) copies only the delta.
   */
  prime?(): Promise<void>;
  /** Stop the instance's workers. Idempotent. */
  close(): Promise<void>;
}

/** Loads module instances. */
export interface Sandbox {
  /** Compile, check imports against grants, and instantiate. */
  load(spec: LoadSpec): Promise<SandboxInstance>;
  /** Host imports this sandbox can serve with the given services (WasmIoT's `supervisorInterfaces`). */
  grantable(services: HostServices): string[];
  /** Stop every instance. */
  close(): Promise<void>;
}
