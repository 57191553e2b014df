/**
 * The shapes of the shared registry's entries and their validators. Whatever another
 * peer writes is checked against these on read; an entry that fails is logged and
 * skipped, never trusted (see `registry.ts`).
 * @module
 */
import { SHA256_HEX } from '../bytes.ts';
import { any, arr, bool, type Check, dict, literal, num, obj, opt, str } from '../protocol/check.ts';
import { type CapabilityPolicy, checkPolicy } from '../trust/capability-policy.ts';
import type { ModuleSignature } from '../trust/module-signature.ts';

/** Where a peer runs. */
export type Engine = 'browser' | 'chromium' | 'node';

/** A phone, a tablet or anything else (laptops, desktops, servers, Pis). */
export type FormFactor = 'phone' | 'tablet' | 'desktop';

/**
 * The browser a browser peer runs in, as far as the page can tell. `engine` of the device
 * keeps its older, coarser meaning (`chromium` = a headless Chromium peer); this says
 * which browser it really is. Absent on Node peers and on records of older peers.
 */
export interface BrowserInfo {
  /** e.g. `Chrome`, `Chromium`, `Firefox`, `Safari`, `Edge`, `Samsung Internet`. */
  name: string;
  /** Major version, or '' when the page cannot tell. */
  version: string;
  /** Rendering engine: `Blink`, `Gecko` or `WebKit` ('' when unknown). */
  engine: string;
  /** Runs without a window (headless Chromium, a test browser). */
  headless: boolean;
  formFactor: FormFactor;
  /** Operating system, e.g. `Android`, `iOS`, `Linux` ('' when unknown). */
  os?: string;
}

/** What a device tells the mesh about itself (WasmIoT's device description, extended). */
export interface DeviceDescription {
  /** Peer id; equals the registry key. */
  id: string;
  name: string;
  engine: Engine;
  /** Hex of the raw Ed25519 public key the id derives from. */
  publicKey: string;
  platform: {
    cpu: { humanReadableName: string; cores: number; clockSpeedHz?: number };
    /**
     * Total memory, and the budget of all module instances together (bytes, as
     * `instanceFootprint` counts them; absent on older peers: half of `bytes`).
     */
    memory: { bytes: number; budgetBytes?: number };
    storage?: { bytes: number };
  };
  /** Host imports this peer can serve, e.g. `camera.takeImageStaticSize`, `wasi_snapshot_preview1.*`. */
  capabilities: string[];
  /**
   * What its owner offers of them, and to whom (see `trust/capability-policy.ts`). Absent
   * on older peers: placement assumes the default (the harmless imports only).
   */
  policy?: CapabilityPolicy;
  /** Capabilities served by a simulation rather than hardware (e.g. a fake camera). */
  simulated?: string[];
  /** IPv4 addresses of the host it runs on, as it advertises them (what `network.ping` looks up). */
  addresses?: string[];
  /** Software version of the host. */
  version: string;
  /** Wall-clock time (ms since epoch) the peer last (re)started. */
  startedAt: number;
  /** Browser peers: which browser, headless or not, phone or not. */
  browser?: BrowserInfo;
}

/** One exported or imported item of a module, read from the binary. */
export interface WasmItem {
  module?: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
}

/** A mount: a file a function reads or writes, and at which stage it is provided. */
export interface MountDescription {
  name: string;
  stage: 'deployment' | 'execution' | 'output';
  mediaType?: string;
}

/** How to call one function of a module. */
export interface FunctionDescription {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  params: { name: string; type: 'integer' | 'number' | 'bytes' | 'string' | 'none' }[];
  result: { type: 'integer' | 'number' | 'bytes' | 'string' | 'none'; mediaType?: string };
  mounts: MountDescription[];
  /** False: every call runs on a fresh instance. */
  stateful?: boolean;
  /**
   * In-place buffer ABI: the export returning the address of the buffer the function
   * works on (e.g. `get_img_ptr`). The `bytes` input is written there, the function is
   * called without arguments, and the buffer is read back.
   */
  pointer?: string;
  /** Pointer ABI (`bytes` in and out): the allocator export, `alloc` unless named. */
  alloc?: string;
  /**
   * Pointer-pairs ABI (the reference's `infer_from_ptrs(model_ptr, model_len, img_ptr,
   * img_len)`): mounts whose bytes are placed in memory through `alloc` and passed as
   * (pointer, length) pairs, in this order — deployment-stage files and execution-stage
   * files alike. The function returns a number.
   */
  buffers?: string[];
}

/** A published module version. The id is the sha256 of its wasm. */
export interface ModuleRecord {
  id: string;
  name: string;
  version: string;
  size: number;
  exports: WasmItem[];
  imports: WasmItem[];
  functions: Record<string, FunctionDescription>;
  /** Mount name → sha256 of the data file shipped with the module. */
  dataFiles: Record<string, string>;
  /** Minimum (and maximum, if declared) linear memory, in 64 KiB pages. */
  memory?: { min: number; max?: number };
  /**
   * Bytes an instance holds as a peer's memory budget counts them (declared memory,
   * table elements, data segments: `instanceFootprint`); absent on older records.
   */
  footprint?: number;
  /** The file name the binary was uploaded as (WasmIoT's `wasm.originalFilename`). */
  originalFilename?: string;
  publishedBy: string;
  publishedAt: number;
  /** The publisher's Ed25519 signature over id, name and version (`trust/module-signature.ts`). */
  signature?: ModuleSignature;
}

/** Deployment life cycle as a whole. */
export type DeploymentStatus = 'pending' | 'deploying' | 'ready' | 'failed' | 'rolled-back' | 'deleted';

/** One resolved step of a deployment: what runs, what it may use, where its output goes. */
export interface DeployedStep {
  /** sha256 of the module's wasm. */
  module: string;
  /** The module's name; the supervisor hosts it as `/{deployment}/modules/{name}`. */
  name: string;
  func: string;
  /** Steps that receive this step's output. */
  next: number[];
  /** Provider modules linked into this one at runtime, in dependency order (sha256s). */
  providers: string[];
  /**
   * Host imports the deployment requests for the module (the manifest's, or the module's
   * own imports when it is silent). A request, not a grant: the hosting device grants the
   * part its owner's policy offers (`trust/capability-policy.ts`).
   */
  grants: string[];
  /** Pub/sub topics granted to the module. */
  topics?: { publish: string[]; subscribe: string[] };
  /** The device the manifest pinned, if any. */
  pin: string | null;
}

/** A revision a failed deployment can roll back to. */
export interface PreviousRevision {
  revision: number;
  steps: DeployedStep[];
  solution: Record<string, string>;
}

/** A deployment's spec and placement; its per-step phases live beside it. */
export interface DeploymentRecord {
  id: string;
  name: string;
  /** The manifest as submitted, in any accepted form (see `orchestrator/manifest.ts`). */
  manifest: unknown;
  /** Step index (as string) → peer id. */
  solution: Record<string, string>;
  revision: number;
  coordinator: string;
  status: DeploymentStatus;
  reason?: string;
  /** The resolved steps of the current revision. */
  steps?: DeployedStep[];
  /** Why each step went where it went (and why other devices were refused), by step. */
  explanation?: Record<string, unknown>;
  /** The last revision that was ready, kept for rollback. */
  previous?: PreviousRevision;
  /** True while the current revision restores `previous` after a failure. */
  rollback?: boolean;
  /**
   * Clones (live migration, mode `clone`): step index (as string) → peers running a copy
   * of that step's instance besides `solution`'s. Calls go to `solution` unless the
   * caller's own peer holds a copy. A new revision drops them.
   */
  replicas?: Record<string, string[]>;
  /**
   * Hot standbys (`replicas` in the manifest, ADR 0038): step index (as string) → peers
   * holding a warm copy of that step's instance, kept in sync by its primary after every
   * call, serving nothing until one promotes itself. A new revision drops them.
   */
  standby?: Record<string, string[]>;
  /**
   * Bumped by every standby promotion: a standby refuses state from a primary of an
   * older epoch, which fences off a primary that was only cut off.
   */
  epoch?: number;
  /** The last (or the running) live migration of one of its modules, written by the source peer. */
  migration?: MigrationRecord;
  /**
   * A deployment that failed because devices left and no other could take over: those
   * devices. When one of them is back it is placed again (a restarted device resumes it).
   */
  waitingFor?: string[];
  createdAt: number;
  updatedAt: number;
}

/** Where a live migration is (see `orchestrator/migration.ts`). */
export type MigrationPhase = 'preparing' | 'transferring' | 'done' | 'failed';

/** Progress and outcome of a live migration, kept in the deployment record. */
export interface MigrationRecord {
  id: string;
  /** The module's name within the deployment. */
  module: string;
  /** Step indices that run that instance on `from`. */
  steps: number[];
  from: string;
  to: string;
  mode: 'move' | 'clone';
  /**
   * `preparing`: the target fetches the blobs and loads the module, the source still
   * serves; `transferring`: the source holds new calls while the snapshot ships and is
   * restored; `done`: routing switched (or the clone recorded); `failed`: the source
   * serves on, `reason` says why.
   */
  phase: MigrationPhase;
  reason?: string;
  /** Wall-clock ms since epoch (the source's clock). */
  startedAt: number;
  updatedAt: number;
  snapshotBytes?: number;
  /** How long the source held calls, ms. */
  pausedMs?: number;
}

/** Phase of one step on one peer. */
export interface PhaseRecord {
  phase: 'resolving' | 'fetching' | 'loading' | 'ready' | 'failed';
  reason?: string;
  /** Wall-clock ms since epoch. */
  at: number;
  revision: number;
}

const peerId = str({ pattern: /^[0-9a-f]{32}$/ });
const hash = str({ pattern: SHA256_HEX });
const name = str({ min: 1, max: 200 });

/** Validator of {@link DeviceDescription}. */
export const checkDevice: Check<DeviceDescription> = obj({
  id: peerId,
  name,
  engine: literal('browser', 'chromium', 'node'),
  publicKey: str({ pattern: /^[0-9a-f]{64}$/ }),
  platform: obj({
    cpu: obj({ humanReadableName: str({ max: 200 }), cores: num({ int: true, min: 0 }), clockSpeedHz: opt(num({ min: 0 })) }),
    memory: obj({ bytes: num({ min: 0 }), budgetBytes: opt(num({ min: 0 })) }),
    storage: opt(obj({ bytes: num({ min: 0 }) })),
  }),
  capabilities: arr(str({ min: 1, max: 200 }), 1000),
  policy: opt(checkPolicy),
  simulated: opt(arr(str({ min: 1, max: 200 }), 1000)),
  addresses: opt(arr(str({ min: 1, max: 64 }), 64)),
  version: str({ max: 50 }),
  startedAt: num({ min: 0 }),
  browser: opt(
    obj({
      name: str({ max: 50 }),
      version: str({ max: 20 }),
      engine: str({ max: 20 }),
      headless: bool,
      formFactor: literal('phone', 'tablet', 'desktop'),
      os: opt(str({ max: 50 })),
    }),
  ),
}) as Check<DeviceDescription>;

const item = obj({ module: opt(str({ max: 200 })), name: str({ max: 200 }), kind: literal('function', 'table', 'memory', 'global', 'tag') });
const valueType = literal('integer', 'number', 'bytes', 'string', 'none');
/** Validator of {@link MountDescription}. */
export const checkMount: Check<MountDescription> = obj({
  // A file name in the instance's WASI directory: no separators, NUL, `.` or `..`.
  name: str({ min: 1, max: 255, pattern: /^(?!\.\.?$)[^/\\\0]+$/ }),
  stage: literal('deployment', 'execution', 'output'),
  mediaType: opt(str({ max: 200 })),
}) as Check<MountDescription>;
/** Validator of {@link FunctionDescription}. */
export const checkFunction: Check<FunctionDescription> = obj({
  method: literal('GET', 'POST', 'PUT', 'DELETE'),
  params: arr(obj({ name: str({ min: 1, max: 100 }), type: valueType }), 64),
  result: obj({ type: valueType, mediaType: opt(str({ max: 200 })) }),
  mounts: arr(checkMount, 64),
  stateful: opt(bool),
  pointer: opt(str({ min: 1, max: 200 })),
  alloc: opt(str({ min: 1, max: 200 })),
  buffers: opt(arr(str({ min: 1, max: 255 }), 16)),
}) as Check<FunctionDescription>;

/** Validator of {@link ModuleRecord}. */
export const checkModule: Check<ModuleRecord> = obj({
  id: hash,
  name,
  version: str({ min: 1, max: 50 }),
  size: num({ int: true, min: 0 }),
  exports: arr(item),
  imports: arr(item),
  functions: dict(checkFunction, 1000),
  dataFiles: dict(hash, 100),
  memory: opt(obj({ min: num({ int: true, min: 0 }), max: opt(num({ int: true, min: 0 })) })),
  footprint: opt(num({ int: true, min: 0 })),
  originalFilename: opt(str({ min: 1, max: 255 })),
  publishedBy: peerId,
  publishedAt: num({ min: 0 }),
  signature: opt(obj({ publisher: str({ pattern: /^[0-9a-f]{64}$/ }), signature: str({ pattern: /^[0-9a-f]{128}$/ }) })),
}) as Check<ModuleRecord>;

const topicList = arr(str({ min: 1, max: 200 }), 100);
/** Validator of {@link DeployedStep}. */
export const checkStep: Check<DeployedStep> = obj({
  module: hash,
  name,
  func: str({ min: 1, max: 200 }),
  next: arr(num({ int: true, min: 0 }), 256),
  providers: arr(hash, 100),
  grants: arr(str({ min: 1, max: 200 }), 1000),
  topics: opt(obj({ publish: topicList, subscribe: topicList })),
  pin: (v, p) => (v === null ? { ok: true, value: null } : str({ min: 1, max: 200 })(v, p)),
}) as Check<DeployedStep>;

/** Validator of {@link MigrationRecord}. */
export const checkMigration: Check<MigrationRecord> = obj({
  id: str({ min: 1, max: 100 }),
  module: name,
  steps: arr(num({ int: true, min: 0 }), 256),
  from: peerId,
  to: peerId,
  mode: literal('move', 'clone'),
  phase: literal('preparing', 'transferring', 'done', 'failed'),
  reason: opt(str({ max: 10_000 })),
  startedAt: num({ min: 0 }),
  updatedAt: num({ min: 0 }),
  snapshotBytes: opt(num({ int: true, min: 0 })),
  pausedMs: opt(num({ min: 0 })),
}) as Check<MigrationRecord>;

/** Validator of {@link DeploymentRecord}. */
export const checkDeployment: Check<DeploymentRecord> = obj({
  id: str({ min: 1, max: 100 }),
  name,
  manifest: any,
  solution: dict(peerId, 1000),
  revision: num({ int: true, min: 0 }),
  coordinator: peerId,
  status: literal('pending', 'deploying', 'ready', 'failed', 'rolled-back', 'deleted'),
  reason: opt(str({ max: 10_000 })),
  steps: opt(arr(checkStep, 256)),
  explanation: opt(dict(any, 256)),
  previous: opt(obj({ revision: num({ int: true, min: 0 }), steps: arr(checkStep, 256), solution: dict(peerId, 1000) })),
  rollback: opt(bool),
  replicas: opt(dict(arr(peerId, 100), 256)),
  standby: opt(dict(arr(peerId, 3), 256)),
  epoch: opt(num({ int: true, min: 0 })),
  migration: opt(checkMigration),
  waitingFor: opt(arr(peerId, 1000)),
  createdAt: num({ min: 0 }),
  updatedAt: num({ min: 0 }),
}) as Check<DeploymentRecord>;

/** Validator of {@link PhaseRecord}. */
export const checkPhase: Check<PhaseRecord> = obj({
  phase: literal('resolving', 'fetching', 'loading', 'ready', 'failed'),
  reason: opt(str({ max: 10_000 })),
  at: num({ min: 0 }),
  revision: num({ int: true, min: 0 }),
}) as Check<PhaseRecord>;

/** A device the mesh places nothing on (WasmIoT's blacklist); keyed by the device's peer id. */
export interface BlacklistEntry {
  /** The device's peer id. */
  id: string;
  /** Wall-clock time (ms since epoch) it was blacklisted. */
  since: number;
  /** The peer that blacklisted it. */
  by: string;
}

/** Validator of {@link BlacklistEntry}. */
export const checkBlacklistEntry: Check<BlacklistEntry> = obj({ id: peerId, since: num({ min: 0 }), by: peerId }) as Check<BlacklistEntry>;

/** An ODRL card (zones and risk levels, shared/orchestrator/policy.ts), as uploaded. */
export interface CardRecord {
  /** `node:<device id>`, `datasource:<device id>:<type>`, `module:<module id>` or `zones`. */
  id: string;
  kind: 'node' | 'datasource' | 'module' | 'zones';
  /** The card's JSON text. */
  json: string;
  /** Wall-clock time (ms since epoch) it was stored. */
  updatedAt: number;
}

/** Validator of {@link CardRecord}. */
export const checkCard: Check<CardRecord> = obj({
  id: str({ min: 1, max: 400 }),
  kind: literal('node', 'datasource', 'module', 'zones'),
  json: str({ max: 256 * 1024 }),
  updatedAt: num({ min: 0 }),
}) as Check<CardRecord>;
