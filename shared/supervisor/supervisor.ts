/**
 * The supervisor: hosts deployed modules on this peer and serves their functions.
 * It picks the calling convention from a function's description and the export's
 * signature, supplies mounts (deployment-stage files at load, execution-stage files per
 * call, output files back), records every call in the persisted request history, and
 * swaps in new module versions without a restart — calls already running finish on the
 * old instance, new calls reach the new one. It also keeps who subscribed to which
 * pub/sub topic and delivers messages to their `on_message` handlers.
 *
 * Live migration uses four more steps here: `stage` + `install` (a deploy in two halves,
 * so a target can load before the source pauses), `pause` (new calls wait in arrival
 * order, running ones finish), `resume`, and `handoff` (the module moved: waiting calls,
 * and those that arrive with stale routing for a while, are forwarded to its new peer).
 * Over 400 lines because pausing and forwarding hook into the same per-module
 * bookkeeping (`#enter` / `#leave`) every call path goes through.
 * @module
 */
import { sha256Hex } from '../bytes.ts';
import { HashMismatchError, InvalidParamsError, MeshError, toErrorInfo } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import type { KeyValueStore } from '../ports/key-value-store.ts';
import type { CallConvention, CallRequest, CallResult, HostServices, LoadSpec, ProviderModule, Sandbox, SandboxInstance, SandboxLimits } from '../ports/sandbox.ts';
import { checkDescription, type ModuleDescription } from '../registry/description.ts';
import { checkValue, type ValueLimits } from '../protocol/json-limits.ts';
import type { FunctionDescription } from '../registry/schema.ts';
import { DEFAULT_MAX_MEMORY_PAGES, instanceFootprint } from '../sandbox/budget.ts';
import { DeploymentNotFoundError, FunctionNotFoundError, MemoryBudgetError } from '../sandbox/errors.ts';
import { parseModule } from '../wasm/binary.ts';
import { type FileRef, RequestHistory } from './history.ts';
import type { FuncType } from '../wasm/binary.ts';
import { toJsonValue, toWasmArgs } from './params.ts';
import { type Subscription, SubscriptionTable } from './subscriptions.ts';

/** The export a subscribed module receives messages through: `on_message(topic_ptr, topic_len, data_ptr, data_len)`. */
export const ON_MESSAGE = 'on_message';

/** A module to deploy on this peer. */
export interface DeployModule {
  deploymentId: string;
  /** The module's name within the deployment (as in `/{deployment}/modules/{name}/{fn}`). */
  name: string;
  wasm: Uint8Array;
  /** sha256 the binary must have, if known. */
  moduleId?: string;
  description: ModuleDescription;
  /** Deployment-stage mounts: mount name → bytes. */
  dataFiles?: Record<string, Uint8Array>;
  /** Host imports granted to this deployment (deny by default). */
  grants?: string[];
  limits?: Partial<SandboxLimits>;
  /** Topic patterns the module may publish and subscribe to (deny by default). */
  topics?: LoadSpec['topics'];
  /** Modules whose exports this one imports (runtime linking), as the package manager resolved them. */
  providers?: ProviderModule[];
}

/** Input of one call. */
export interface CallInput {
  /** Scalars by position, or by name (`param0`, …) as WasmIoT query strings give them. */
  args?: unknown[] | Record<string, unknown>;
  /** Execution-stage mounts: mount name → bytes. */
  files?: Record<string, Uint8Array>;
  /** The `bytes` input of pointer and in-place buffer functions. */
  input?: Uint8Array;
  /** HTTP method or `rpc`, for the history. */
  method?: string;
}

/** An output file. */
export interface OutputFile {
  name: string;
  mediaType: string;
  bytes: Uint8Array;
}

/** What a call produced. */
export interface CallOutcome {
  requestId: string;
  deploymentId: string;
  moduleName: string;
  functionName: string;
  /** The scalar result as JSON (i64 beyond 2^53 as a decimal string), or null. */
  value: number | string | null;
  /** Output bytes of pointer / in-place functions. */
  bytes?: Uint8Array;
  files: OutputFile[];
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** A deployed module as listed by {@link Supervisor.deployed}. */
export interface DeployedModule {
  deploymentId: string;
  name: string;
  moduleId: string;
  version: string;
  functions: string[];
}

interface Version {
  instance: SandboxInstance;
  description: ModuleDescription;
  moduleId: string;
  running: number;
  retired: boolean;
  /** Set while the module is paused for a migration: new calls wait at its gate. */
  paused?: Pause;
  /** Deployment-stage files, for functions that take them by pointer (`buffers`). */
  dataFiles: Record<string, Uint8Array>;
  /** Call plans by function name (see {@link CallPlan}). */
  plans: Map<string, CallPlan>;
  /** Bytes it counts against the peer's memory budget (budget.ts). */
  footprint: number;
}

/** What every call of one function of one module version needs, worked out once. */
interface CallPlan {
  fn: FunctionDescription | undefined;
  /** Why it cannot be called (not described, or not exported): ERR_FUNCTION_NOT_FOUND's message. */
  missing?: string;
  type: FuncType;
  paramNames: string[];
  executionMounts: string[];
  outputs: string[];
  mediaTypes: Record<string, string>;
  /** It takes the call's `bytes` input (pointer or in-place buffer convention). */
  needsBytes: boolean;
}

/** A paused module: calls wait for `gate`; `drained` waiters wake once no call runs. */
interface Pause {
  gate: Promise<void>;
  release: () => void;
  drained: (() => void)[];
}

/** A module loaded into the sandbox but not serving yet (the target side of a migration). */
export interface StagedModule {
  deploymentId: string;
  name: string;
  moduleId: string;
  instance: SandboxInstance;
  description: ModuleDescription;
  topics?: LoadSpec['topics'];
  /** Its deployment-stage files. */
  dataFiles?: Record<string, Uint8Array>;
  /** Bytes it counts against the peer's memory budget, held from staging on. */
  footprint?: number;
}

/** A call this peer passes on to the peer a module moved to. */
export interface ForwardedCall {
  deploymentId: string;
  module: string;
  fn: string;
  input: CallInput;
}

/** Supervisor options. */
export interface SupervisorOptions {
  sandbox: Sandbox;
  /** History and counters live here. */
  kv: KeyValueStore;
  services?: HostServices;
  logger?: Logger;
  wallClock?: () => number;
  /**
   * Run a call on another peer: used for calls to a module that moved away (live
   * migration) while the caller still had the old routing. Without it such calls fail
   * with ERR_DEPLOYMENT_NOT_FOUND.
   */
  forward?: (peer: string, call: ForwardedCall) => Promise<CallOutcome>;
  /**
   * Bytes all instances here may hold together, as `instanceFootprint` counts them
   * (declared memory, table elements, data segments); a module that would go past it is
   * refused at load with ERR_MEMORY_BUDGET. 0 or absent: no budget.
   */
  memoryBudgetBytes?: number;
}

/** Nesting and size a call's arguments may have: scalars in the end, so little of either. */
export const ARG_LIMITS: Readonly<ValueLimits> = { maxDepth: 32, maxNodes: 100_000 };

/** How long calls to a module that moved away are still forwarded to its new peer, ms. */
export const FORWARD_MS = 60_000;

/** Runs deployed modules on one peer. */
export class Supervisor {
  /** Every call this peer served. */
  readonly history: RequestHistory;
  readonly #o: SupervisorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #modules = new Map<string, Version>();
  readonly #subscriptions = new SubscriptionTable();
  /** Modules that moved away: key → the peer now running them, until when calls are forwarded. */
  readonly #forwards = new Map<string, { to: string; until: number }>();
  /** Budget bytes of modules staged but not serving (or discarded) yet. */
  #staging = 0;
  /** Loads under way that calls for a module not here yet wait for: key → settles when done. */
  readonly #expected = new Map<string, Promise<void>>();

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#log = options.logger ?? createLogger('supervisor');
    this.#now = options.wallClock ?? (() => Date.now());
    this.history = new RequestHistory(options.kv, { onError: (error) => this.#log.warn(`could not write the request history: ${(error as Error).message}`) });
  }

  /** Host imports this peer can grant (WasmIoT's `supervisorInterfaces`). */
  interfaces(): string[] {
    return this.#o.sandbox.grantable(this.#o.services ?? {});
  }

  /** This peer's memory budget and how much of it the loaded instances hold, bytes (budget 0: none). */
  memoryUse(): { budgetBytes: number; usedBytes: number } {
    let used = this.#staging;
    for (const v of this.#modules.values()) used += v.footprint;
    return { budgetBytes: this.#o.memoryBudgetBytes ?? 0, usedBytes: used };
  }

  /** What runs here. */
  deployed(): DeployedModule[] {
    return [...this.#modules.entries()].map(([key, v]) => {
      const [deploymentId, name] = key.split('\u0000') as [string, string];
      return { deploymentId, name, moduleId: v.moduleId, version: v.description.version, functions: Object.keys(v.description.functions) };
    });
  }

  /**
   * Load a module for a deployment. Deploying a name that is already running is a hot
   * update: the new version takes new calls as soon as it is loaded.
   */
  async deploy(spec: DeployModule): Promise<DeployedModule> {
    return this.install(await this.stage(spec));
  }

  /**
   * Load a module into the sandbox without serving it yet: the first half of
   * {@link deploy}. {@link install} makes it serve; {@link discard} drops it.
   */
  async stage(spec: DeployModule): Promise<StagedModule> {
    const moduleId = await sha256Hex(spec.wasm);
    if (spec.moduleId && spec.moduleId !== moduleId) throw new HashMismatchError(`module bytes hash to ${moduleId}, expected ${spec.moduleId}`);
    const desc = checkDescription(spec.description);
    if (!desc.ok) throw new InvalidParamsError(desc.error);
    const files = spec.dataFiles ?? {};
    for (const f of Object.values(desc.value.functions)) {
      for (const m of f.mounts) {
        if (m.stage === 'deployment' && !files[m.name]) throw new InvalidParamsError(`deployment-stage mount ${m.name} has no file`, { mount: m.name });
      }
    }
    const footprint = this.#reserve(spec);
    let instance: SandboxInstance;
    try {
      instance = await this.#o.sandbox.load({
        wasm: spec.wasm,
        files,
        grants: spec.grants ?? [],
        services: this.#servicesFor(spec.deploymentId, spec.name),
        ...(spec.limits ? { limits: spec.limits } : {}),
        ...(spec.topics ? { topics: spec.topics } : {}),
        ...(spec.providers ? { providers: spec.providers } : {}),
      });
    } catch (error) {
      this.#staging -= footprint;
      throw error;
    }
    const exported = instance.info.exports.filter((e) => e.kind === 'function').map((e) => e.name);
    const checked = checkDescription(spec.description, exported);
    if (!checked.ok) {
      this.#staging -= footprint;
      await instance.close();
      throw new InvalidParamsError(checked.error);
    }
    const staged: StagedModule = { deploymentId: spec.deploymentId, name: spec.name, moduleId, instance, description: checked.value, dataFiles: files, footprint };
    if (spec.topics) staged.topics = spec.topics;
    return staged;
  }

  /**
   * Hold the budget bytes of the module `spec` loads (its providers' included) while it
   * is staged, or refuse it: a hot update may take the place of the version it replaces.
   * @throws MemoryBudgetError (ERR_MEMORY_BUDGET), InvalidWasmError for a bad binary.
   */
  #reserve(spec: DeployModule): number {
    const cap = spec.limits?.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES;
    let need = instanceFootprint(parseModule(spec.wasm), cap);
    for (const p of spec.providers ?? []) need += instanceFootprint(parseModule(p.wasm), cap);
    const budget = this.#o.memoryBudgetBytes ?? 0;
    if (budget > 0) {
      const replaced = this.#modules.get(keyOf(spec.deploymentId, spec.name))?.footprint ?? 0;
      const used = this.memoryUse().usedBytes - replaced;
      if (used + need > budget) {
        throw new MemoryBudgetError(
          `${spec.deploymentId}/${spec.name} needs ${need} bytes (declared memory, tables and data); ${used} of this peer's budget of ${budget} are in use`,
          { need, used, budget },
        );
      }
    }
    this.#staging += need;
    return need;
  }

  /**
   * Serve a staged module (a hot update if the name already runs). `subscriptions` are
   * topics it subscribed to elsewhere (a migrated instance keeps them).
   */
  async install(staged: StagedModule, subscriptions: string[] = []): Promise<DeployedModule> {
    const { deploymentId, name, moduleId, instance } = staged;
    const key = keyOf(deploymentId, name);
    const previous = this.#modules.get(key);
    this.#forwards.delete(key);
    const footprint = staged.footprint ?? 0;
    this.#staging = Math.max(0, this.#staging - footprint);
    this.#modules.set(key, { instance, description: staged.description, moduleId, running: 0, retired: false, dataFiles: staged.dataFiles ?? {}, plans: new Map(), footprint });
    for (const topic of subscriptions) this.#subscriptions.add(deploymentId, name, topic);
    if (previous) {
      // Subscriptions outlive a hot update as far as the new version's grants allow.
      this.#subscriptions.retainGranted(deploymentId, name, staged.topics?.subscribe ?? []);
      previous.retired = true;
      // Calls held by a pause go to the new version.
      previous.paused?.release();
      delete previous.paused;
      this.#log.debug(`hot update of ${deploymentId}/${name}: ${previous.moduleId.slice(0, 12)} → ${moduleId.slice(0, 12)}`);
      if (previous.running === 0) await previous.instance.close();
    }
    return this.deployed().find((d) => d.deploymentId === deploymentId && d.name === name)!;
  }

  /** Drop a staged module that will not serve. */
  async discard(staged: StagedModule): Promise<void> {
    this.#staging = Math.max(0, this.#staging - (staged.footprint ?? 0));
    delete staged.footprint;
    await staged.instance.close();
  }

  /**
   * Stop starting calls on a module (they wait, in order) and resolve once the calls
   * already running have returned: its state then holds still for a snapshot. Then
   * either {@link resume} or {@link handoff}. Rejects with ERR_DEPLOYMENT_NOT_FOUND, or
   * ERR_INVALID_PARAMS when it is paused already.
   */
  async pause(deploymentId: string, name: string): Promise<void> {
    const v = this.#version(deploymentId, name);
    if (v.paused) throw new InvalidParamsError(`${deploymentId}/${name} is paused already`);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const pause: Pause = { gate, release, drained: [] };
    v.paused = pause;
    if (v.running > 0) await new Promise<void>((resolve) => pause.drained.push(resolve));
  }

  /** Let a paused module serve again: the calls that waited run here, in arrival order. */
  resume(deploymentId: string, name: string): void {
    const v = this.#modules.get(keyOf(deploymentId, name));
    const pause = v?.paused;
    if (!v || !pause) return;
    delete v.paused;
    pause.release();
  }

  /**
   * A paused module moved to `peer`: close it here and forward the calls that waited,
   * and any that arrive within {@link FORWARD_MS}, to that peer (in arrival order).
   * Resolves with the topics it had subscribed to.
   */
  async handoff(deploymentId: string, name: string, peer: string): Promise<string[]> {
    const key = keyOf(deploymentId, name);
    const v = this.#version(deploymentId, name);
    const topics = this.subscriptionsOf(deploymentId, name);
    this.#modules.delete(key);
    this.#subscriptions.remove(deploymentId, name);
    this.#forwards.set(key, { to: peer, until: this.#now() + FORWARD_MS });
    v.retired = true;
    v.paused?.release();
    delete v.paused;
    if (v.running === 0) await v.instance.close();
    return topics;
  }

  /** Topics a deployed module subscribed to. */
  subscriptionsOf(deploymentId: string, name: string): string[] {
    return this.#subscriptions.list().filter((s) => s.deploymentId === deploymentId && s.module === name).map((s) => s.topic);
  }

  /** Remove a deployment's modules (all, or one by name). Resolves false when nothing was there. */
  async undeploy(deploymentId: string, name?: string): Promise<boolean> {
    let removed = false;
    for (const [key, v] of [...this.#modules]) {
      const [dep, mod] = key.split('\u0000');
      if (dep !== deploymentId || (name !== undefined && mod !== name)) continue;
      this.#modules.delete(key);
      this.#subscriptions.remove(dep!, mod);
      v.retired = true;
      // Calls waiting on a paused module wake up and find it gone.
      v.paused?.release();
      delete v.paused;
      if (v.running === 0) await v.instance.close();
      removed = true;
    }
    return removed;
  }

  /**
   * A load of this module is under way (the step agent's, after a restart or a new
   * revision): a call that arrives before it is deployed waits for `loading` to settle
   * instead of failing at once with ERR_DEPLOYMENT_NOT_FOUND.
   */
  expect(deploymentId: string, name: string, loading: Promise<unknown>): void {
    const key = keyOf(deploymentId, name);
    const done = loading.then(() => undefined, () => undefined);
    this.#expected.set(key, done);
    void done.then(() => {
      if (this.#expected.get(key) === done) this.#expected.delete(key);
    });
  }

  /** The live instance of a deployed module (snapshot, restore and migration use it). */
  instance(deploymentId: string, name: string): SandboxInstance {
    return this.#version(deploymentId, name).instance;
  }

  /** Call a function of a deployed module. */
  async call(deploymentId: string, moduleName: string, functionName: string, input: CallInput = {}): Promise<CallOutcome> {
    // Arguments come parsed (over RPC, from a gateway): walked without recursion before
    // anything else — the sandbox, the history, an error message — touches them.
    if (input.args !== undefined) checkValue(input.args, ARG_LIMITS, 'the call arguments');
    // Not paused (nearly always): no wait at the gate.
    const entered = this.#enterNow(deploymentId, moduleName) ?? (await this.#enter(deploymentId, moduleName));
    if (typeof entered === 'string') {
      if (!this.#o.forward) throw new DeploymentNotFoundError(`module ${moduleName} of deployment ${deploymentId} moved to ${entered}`, { deploymentId, module: moduleName });
      return this.#o.forward(entered, { deploymentId, module: moduleName, fn: functionName, input });
    }
    const version = entered;
    try {
      return await this.#callOn(version, deploymentId, moduleName, functionName, input);
    } finally {
      this.#leave(version);
    }
  }

  async #callOn(version: Version, deploymentId: string, moduleName: string, functionName: string, input: CallInput): Promise<CallOutcome> {
    const plan = this.#plan(version, moduleName, functionName);
    const requestId = this.history.takeId() ?? (await this.history.nextId());
    const startedAt = this.#now();
    const t0 = performance.now();
    // A copy in JSON's terms (an i64 as decimal text): the history keeps it and writes it behind.
    const args = (Array.isArray(input.args) ? input.args : input.args ? Object.values(input.args) : []).map(historyValue);
    const inputFiles = input.files ? await fileRefs(input.files, {}) : [];
    const method = input.method ?? plan.fn?.method ?? 'GET';
    try {
      if (plan.missing) throw new FunctionNotFoundError(plan.missing);
      const fn = plan.fn!;
      for (const name of plan.executionMounts) {
        if (!input.files?.[name]) throw new InvalidParamsError(`missing execution-stage file ${name}`, { mount: name });
      }
      // Only what the call needs: the request is copied to the worker on every call.
      const request: CallRequest = { fn: functionName, convention: this.#convention(plan, input, version.dataFiles) };
      if (plan.executionMounts.length > 0) {
        const files = pick(input.files ?? {}, plan.executionMounts);
        if (Object.keys(files).length > 0) request.files = files;
      }
      if (plan.outputs.length > 0) request.outputs = plan.outputs;
      if (fn.stateful === false) request.fresh = true;
      const result = await version.instance.call(request);
      const outcome = this.#outcome(requestId, deploymentId, moduleName, functionName, plan, result, performance.now() - t0);
      const outputFiles = outcome.files.length > 0 ? await fileRefs(Object.fromEntries(outcome.files.map((f) => [f.name, f.bytes])), plan.mediaTypes) : [];
      this.history.add({
        requestId, deploymentId, moduleName, functionName, method, args, inputFiles,
        success: true, result: outcome.value, outputFiles, startedAt, durationMs: outcome.durationMs,
      });
      return outcome;
    } catch (error) {
      this.history.add({
        requestId, deploymentId, moduleName, functionName, method, args, inputFiles,
        success: false, error: toErrorInfo(error), startedAt, durationMs: performance.now() - t0,
      });
      throw error instanceof MeshError ? error : new MeshError('ERR_REMOTE_INTERNAL', String((error as Error)?.message ?? error));
    }
  }

  /** What calls to `functionName` of a module version need, worked out once per version. */
  #plan(version: Version, moduleName: string, functionName: string): CallPlan {
    const known = version.plans.get(functionName);
    if (known) return known;
    const fn: FunctionDescription | undefined = Object.hasOwn(version.description.functions, functionName) ? version.description.functions[functionName] : undefined;
    const type = version.instance.info.exports.find((e) => e.name === functionName && e.kind === 'function')?.type;
    const plan: CallPlan = {
      fn,
      type: type ?? { params: [], results: [] },
      paramNames: fn ? fn.params.map((p) => p.name) : [],
      executionMounts: fn ? fn.mounts.filter((m) => m.stage === 'execution').map((m) => m.name) : [],
      outputs: fn ? fn.mounts.filter((m) => m.stage === 'output').map((m) => m.name) : [],
      mediaTypes: fn ? mediaTypes(fn) : {},
      needsBytes: fn ? fn.pointer !== undefined || fn.params.some((p) => p.type === 'bytes') : false,
    };
    if (!fn) plan.missing = `${moduleName} describes no function ${functionName}`;
    else if (!type) plan.missing = `${moduleName} exports no function ${functionName}`;
    // Only described functions are kept: a client naming endless others cannot grow it.
    if (fn) version.plans.set(functionName, plan);
    return plan;
  }

  /** {@link #enter} without waiting: the module if it serves now (it counts the call), else null. */
  #enterNow(deploymentId: string, name: string): Version | null {
    const v = this.#modules.get(keyOf(deploymentId, name));
    if (!v || v.paused) return null;
    v.running++;
    return v;
  }

  /**
   * Start a call on a module: waits while it is paused, then counts it as running.
   * Resolves with the peer to forward to when the module moved away.
   */
  async #enter(deploymentId: string, name: string): Promise<Version | string> {
    const key = keyOf(deploymentId, name);
    let waited = false;
    for (;;) {
      const v = this.#modules.get(key);
      if (!v) {
        const moved = this.#forwards.get(key);
        if (moved && moved.until > this.#now()) return moved.to;
        if (moved) this.#forwards.delete(key);
        const loading = this.#expected.get(key);
        if (loading && !waited) {
          waited = true;
          await loading;
          continue;
        }
        return this.#version(deploymentId, name);
      }
      if (!v.paused) {
        v.running++;
        return v;
      }
      await v.paused.gate;
    }
  }

  /** A call on `v` returned: close a retired instance, wake a pause waiting for the drain. */
  #leave(v: Version): void {
    v.running--;
    if (v.running > 0) return;
    if (v.retired) void v.instance.close();
    if (v.paused) for (const wake of v.paused.drained.splice(0)) wake();
  }

  /** Close every instance. */
  async stop(): Promise<void> {
    const all = [...this.#modules.values()];
    this.#modules.clear();
    this.#subscriptions.clear();
    this.#forwards.clear();
    // Calls held by a pause wake up and find nothing (ERR_DEPLOYMENT_NOT_FOUND).
    for (const v of all) v.paused?.release();
    await Promise.all(all.map((v) => v.instance.close()));
    await this.history.flush();
  }

  /** What the deployed modules subscribed to (for routing messages to this peer). */
  subscriptions(): Subscription[] {
    return this.#subscriptions.list();
  }

  /**
   * Deliver a pub/sub message to every module here whose subscription matches `topic`:
   * its `on_message` export receives topic and data placed through its `alloc`, one call
   * at a time per instance, each recorded in the history with method `pubsub`. A handler
   * that fails is logged and recorded; the others still run. Resolves with how many
   * modules handled the message without error.
   */
  async deliver(topic: string, data: Uint8Array): Promise<number> {
    const handled = await Promise.all(
      this.#subscriptions.subscribers(topic).map(async ({ deploymentId, module }) => {
        try {
          await this.#deliverTo(deploymentId, module, topic, data);
          return 1;
        } catch (error) {
          this.#log.warn(`${deploymentId}/${module} failed to handle a message on ${topic}: ${(error as Error).message}`);
          return 0;
        }
      }),
    );
    return handled.reduce((a: number, b) => a + b, 0);
  }

  async #deliverTo(deploymentId: string, moduleName: string, topic: string, data: Uint8Array): Promise<void> {
    const version = await this.#enter(deploymentId, moduleName);
    if (typeof version === 'string') throw new DeploymentNotFoundError(`${deploymentId}/${moduleName} moved to ${version}; the message is delivered there if it subscribed`);
    const requestId = await this.history.nextId();
    const startedAt = this.#now();
    const t0 = performance.now();
    const inputFiles = await fileRefs({ message: data }, {});
    const entry = { requestId, deploymentId, moduleName, functionName: ON_MESSAGE, method: 'pubsub', args: [topic], inputFiles, startedAt };
    try {
      await version.instance.call({ fn: ON_MESSAGE, convention: { kind: 'message', alloc: 'alloc', topic, data } });
      await this.history.record({ ...entry, success: true, result: null, durationMs: performance.now() - t0 });
    } catch (error) {
      await this.history.record({ ...entry, success: false, error: toErrorInfo(error), durationMs: performance.now() - t0 });
      throw error;
    } finally {
      this.#leave(version);
    }
  }

  /** The host services of one deployed module: `subscribe` also records who subscribed. */
  #servicesFor(deploymentId: string, name: string): HostServices {
    const services = this.#o.services ?? {};
    const { subscribe } = services;
    if (!subscribe) return services;
    return {
      ...services,
      subscribe: async (topic) => {
        await subscribe(topic);
        // A call still finishing on an undeployed module subscribes it to nothing.
        if (this.#modules.has(keyOf(deploymentId, name))) this.#subscriptions.add(deploymentId, name, topic);
      },
    };
  }

  #version(deploymentId: string, name: string): Version {
    const v = this.#modules.get(keyOf(deploymentId, name));
    if (!v) throw new DeploymentNotFoundError(`no module ${name} of deployment ${deploymentId} runs here`, { deploymentId, module: name });
    return v;
  }

  #convention(plan: CallPlan, input: CallInput, dataFiles: Record<string, Uint8Array>): CallConvention {
    const fn = plan.fn!;
    if (fn.buffers) {
      const inputs = fn.buffers.map((name) => {
        const bytes = input.files?.[name] ?? dataFiles[name];
        if (!bytes) throw new InvalidParamsError(`missing file ${name} (this function takes it by pointer)`, { mount: name });
        return bytes;
      });
      return { kind: 'buffers', alloc: fn.alloc ?? 'alloc', inputs };
    }
    if (plan.needsBytes && !input.input) throw new InvalidParamsError('this function takes bytes: send them as the request body or a file');
    if (fn.pointer) return { kind: 'buffer', pointer: fn.pointer, input: input.input! };
    if (plan.needsBytes) return { kind: 'bytes', alloc: fn.alloc ?? 'alloc', input: input.input! };
    return { kind: 'scalar', args: toWasmArgs(plan.type, input.args ?? [], plan.paramNames) };
  }

  #outcome(requestId: string, deploymentId: string, moduleName: string, functionName: string, plan: CallPlan, r: CallResult, durationMs: number): CallOutcome {
    const files: OutputFile[] = [];
    for (const name in r.files) files.push({ name, mediaType: plan.mediaTypes[name] ?? 'application/octet-stream', bytes: r.files[name]! });
    const outcome: CallOutcome = {
      requestId, deploymentId, moduleName, functionName,
      value: toJsonValue(r.value),
      files,
      stdout: r.stdout, stderr: r.stderr, durationMs,
    };
    if (r.bytes) outcome.bytes = r.bytes;
    return outcome;
  }
}

function keyOf(deploymentId: string, name: string): string {
  return `${deploymentId}\u0000${name}`;
}

/** An argument as the history records it: JSON has no bigint. */
function historyValue(value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function pick(files: Record<string, Uint8Array>, names: string[]): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const n of names) if (files[n]) out[n] = files[n];
  return out;
}

function mediaTypes(fn: FunctionDescription): Record<string, string> {
  return Object.fromEntries(fn.mounts.filter((m) => m.mediaType).map((m) => [m.name, m.mediaType!]));
}

async function fileRefs(files: Record<string, Uint8Array>, types: Record<string, string>): Promise<FileRef[]> {
  const out: FileRef[] = [];
  for (const [name, bytes] of Object.entries(files)) {
    const ref: FileRef = { name, size: bytes.byteLength, sha256: await sha256Hex(bytes) };
    if (types[name]) ref.mediaType = types[name];
    out.push(ref);
  }
  return out;
}
