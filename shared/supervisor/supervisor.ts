/**
 * The supervisor: hosts deployed modules on this peer and serves their functions. This
 * file is the root of the supervisor's parts and mostly wires them:
 * - versions.ts: the versions serving, hot update, and the gate every call passes
 *   (paused for a migration, waiting for a load, or a `CallRoute` to a moved module);
 * - forwarding.ts: where moved modules went, for `FORWARD_MS`;
 * - function-plan.ts: what calls of a function need, worked out once, and the
 *   conversions to and from the sandbox;
 * - call-record.ts and history.ts: the request history;
 * - delivery.ts: pub/sub subscriptions and delivery to `on_message`;
 * - here: deploy (`stage` + `install`, so a migration target can load before the source
 *   pauses), the memory budget, the migration verbs (`pause`, `resume`, `handoff`) and
 *   `call`.
 * @module
 */
import { sha256Hex } from '../bytes.ts';
import { HashMismatchError, InvalidParamsError, MeshError, toErrorInfo } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import type { KeyValueStore } from '../ports/key-value-store.ts';
import type { HostServices, LoadSpec, ProviderModule, Sandbox, SandboxInstance, SandboxLimits } from '../ports/sandbox.ts';
import { checkValue, type ValueLimits } from '../protocol/json-limits.ts';
import { checkDescription, type ModuleDescription } from '../registry/description.ts';
import { DEFAULT_MAX_MEMORY_PAGES, instanceFootprint } from '../sandbox/budget.ts';
import { DeploymentNotFoundError, MemoryBudgetError } from '../sandbox/errors.ts';
import { parseModule } from '../wasm/binary.ts';
import { fileRefs, historyValue } from './call-record.ts';
import type { CallInput, CallOutcome } from './call-shapes.ts';
import { PubSubDelivery } from './delivery.ts';
import { MovedModules } from './forwarding.ts';
import { callOutcome, planFunction, sandboxRequest } from './function-plan.ts';
import { RequestHistory } from './history.ts';
import { type ModuleKey, moduleKey, moduleOfKey } from './module-key.ts';
import type { Subscription } from './subscriptions.ts';
import { type CallRoute, type CommitOutcome, type Version, VersionTable } from './versions.ts';

/**
 * Errors of a call sent behind a refused commit that say the target did not run it (it
 * has no such module, or it is gone with its copy). Any other error — the module's own,
 * or a timeout — stands: the call may have run somewhere.
 */
const NOT_RUN_THERE = new Set(['ERR_DEPLOYMENT_NOT_FOUND', 'ERR_PEER_LEFT', 'ERR_NOT_CONNECTED', 'ERR_PEER_UNREACHABLE']);
import type { DeviceGrants } from './device-grants.ts';
import type { CapabilityPolicy, Requester } from '../trust/capability-policy.ts';

/** The call shapes, for the supervisor's callers. */
export type { CallInput, CallOutcome, OutputFile } from './call-shapes.ts';
/** The export a subscribed module receives messages through. */
export { ON_MESSAGE } from './delivery.ts';
/** How long calls to a module that moved away are still forwarded, ms. */
export { FORWARD_MS } from './forwarding.ts';

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
  /**
   * Host imports the deployment requests (deny by default). With a device policy
   * ({@link SupervisorOptions.grants}) the module gets only the part it offers to `requester`.
   */
  grants?: string[];
  /** Who asks: the deployment's operator and the module's verified publisher. */
  requester?: Requester;
  limits?: Partial<SandboxLimits>;
  /** Topic patterns the module may publish and subscribe to (deny by default). */
  topics?: LoadSpec['topics'];
  /** Modules whose exports this one imports (runtime linking), as the package manager resolved them. */
  providers?: ProviderModule[];
}

/** A deployed module as listed by {@link Supervisor.deployed}. */
export interface DeployedModule {
  deploymentId: string;
  name: string;
  moduleId: string;
  version: string;
  functions: string[];
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
  forward?: (peer: string, call: { deploymentId: string; module: string; fn: string; input: CallInput }) => Promise<CallOutcome>;
  /**
   * Bytes all instances here may hold together, as `instanceFootprint` counts them
   * (declared memory, table elements, data segments); a module that would go past it is
   * refused at load with ERR_MEMORY_BUDGET. 0 or absent: no budget.
   */
  memoryBudgetBytes?: number;
  /** The device owner's capability policy; absent: a module gets what its spec's `grants` list. */
  grants?: DeviceGrants;
}

/**
 * Runs around every call of a deployed module (the hot standby's replication, ADR 0038):
 * `run` performs the call; the wrapper may serialise, answer from elsewhere, or act after.
 */
export type CallWrapper = (call: { deploymentId: string; module: string; fn: string; input: CallInput }, run: () => Promise<CallOutcome>) => Promise<CallOutcome>;

/** Nesting and size a call's arguments may have: scalars in the end, so little of either. */
export const ARG_LIMITS: Readonly<ValueLimits> = { maxDepth: 32, maxNodes: 100_000 };

/** Runs deployed modules on one peer. */
export class Supervisor {
  /** Every call this peer served. */
  readonly history: RequestHistory;
  readonly #o: SupervisorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #moved: MovedModules;
  readonly #versions: VersionTable;
  /** Calls sent ahead of a migration's commit whose answers have not come back yet, by module. */
  readonly #ahead = new Map<ModuleKey, Set<Promise<unknown>>>();
  readonly #pubsub: PubSubDelivery;
  /** Budget bytes of modules staged but not serving (or discarded) yet. */
  #staging = 0;
  #wrapper: CallWrapper | undefined;

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#log = options.logger ?? createLogger('supervisor');
    this.#now = options.wallClock ?? (() => Date.now());
    this.history = new RequestHistory(options.kv, { onError: (error) => this.#log.warn(`could not write the request history: ${(error as Error).message}`) });
    this.#moved = new MovedModules(this.#now);
    this.#versions = new VersionTable(this.#moved);
    this.#pubsub = new PubSubDelivery({ versions: this.#versions, history: this.history, log: this.#log, now: this.#now });
  }

  /** The device owner's capability policy, when this supervisor applies one. */
  policy(): CapabilityPolicy | undefined {
    return this.#o.grants?.policy;
  }

  /** Host imports this peer can grant (WasmIoT's `supervisorInterfaces`). */
  interfaces(): string[] {
    return this.#o.sandbox.grantable(this.#o.services ?? {});
  }

  /** This peer's memory budget and how much of it the loaded instances hold, bytes (budget 0: none). */
  memoryUse(): { budgetBytes: number; usedBytes: number } {
    let used = this.#staging;
    for (const v of this.#versions.values()) used += v.footprint;
    return { budgetBytes: this.#o.memoryBudgetBytes ?? 0, usedBytes: used };
  }

  /** What runs here. */
  deployed(): DeployedModule[] {
    return this.#versions.entries().map(([key, v]) => {
      const { deploymentId, name } = moduleOfKey(key);
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
        grants: this.#o.grants ? this.#o.grants.grant(moduleKey(spec.deploymentId, spec.name), spec.grants ?? [], spec.requester ?? {}) : (spec.grants ?? []),
        services: this.#pubsub.servicesFor(this.#o.grants ? this.#o.grants.guard(moduleKey(spec.deploymentId, spec.name), this.#o.services ?? {}) : (this.#o.services ?? {}), spec.deploymentId, spec.name),
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
      const replaced = this.#versions.get(moduleKey(spec.deploymentId, spec.name))?.footprint ?? 0;
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
    const footprint = staged.footprint ?? 0;
    this.#staging = Math.max(0, this.#staging - footprint);
    const version: Version = { instance, description: staged.description, moduleId, running: 0, retired: false, dataFiles: staged.dataFiles ?? {}, plans: new Map(), footprint };
    const previous = this.#versions.install(moduleKey(deploymentId, name), version);
    for (const topic of subscriptions) this.#pubsub.table.add(deploymentId, name, topic);
    if (previous) {
      // Subscriptions outlive a hot update as far as the new version's grants allow.
      this.#pubsub.table.retainGranted(deploymentId, name, staged.topics?.subscribe ?? []);
      this.#log.debug(`hot update of ${deploymentId}/${name}: ${previous.moduleId.slice(0, 12)} → ${moduleId.slice(0, 12)}`);
      // Calls held by a pause go to the new version.
      await this.#versions.retire(previous);
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
    const v = this.#versions.require(moduleKey(deploymentId, name));
    if (this.#versions.isPaused(v)) throw new InvalidParamsError(`${deploymentId}/${name} is paused already`);
    await this.#versions.pause(v);
  }

  /** Let a paused module serve again: the calls that waited run here, in arrival order. */
  resume(deploymentId: string, name: string): void {
    this.#versions.resume(moduleKey(deploymentId, name));
  }

  /**
   * A paused module is being committed on `peer`: the calls it held, and new ones, go
   * there at once, right behind the commit, instead of after its answer. Then
   * {@link handoff} (committed) or {@link resume} (not). A call sent ahead that the
   * target did not run because the commit failed (`outcome` says `refused`) runs here;
   * when the outcome is `unknown` its error stands, so that no call runs twice.
   */
  sendHeldAhead(deploymentId: string, name: string, peer: string, outcome: Promise<CommitOutcome>): void {
    this.#versions.sendAhead(moduleKey(deploymentId, name), { peer, outcome });
  }

  /**
   * Resolves once every call sent ahead of a commit so far ({@link sendHeldAhead}) has its
   * answer back (or its error): a migration lets those answers reach their callers before
   * it closes its copy and writes the new routing, work that would otherwise hold them up
   * on this thread.
   */
  async heldAnswered(deploymentId: string, name: string): Promise<void> {
    const inFlight = this.#ahead.get(moduleKey(deploymentId, name));
    if (inFlight && inFlight.size > 0) await Promise.all([...inFlight]);
  }

  /**
   * A paused module moved to `peer`: close it here and forward the calls that waited,
   * and any that arrive within {@link FORWARD_MS}, to that peer (in arrival order).
   * Resolves with the topics it had subscribed to.
   */
  async handoff(deploymentId: string, name: string, peer: string): Promise<string[]> {
    const key = moduleKey(deploymentId, name);
    this.#versions.require(key);
    const topics = this.subscriptionsOf(deploymentId, name);
    this.#pubsub.table.remove(deploymentId, name);
    // Before the waiting calls wake, so that they find where it went.
    this.#moved.moved(key, peer);
    await this.#versions.remove(key);
    return topics;
  }

  /** Topics a deployed module subscribed to. */
  subscriptionsOf(deploymentId: string, name: string): string[] {
    return this.#pubsub.subscriptionsOf(deploymentId, name);
  }

  /** Remove a deployment's modules (all, or one by name). Resolves false when nothing was there. */
  async undeploy(deploymentId: string, name?: string): Promise<boolean> {
    let removed = false;
    for (const [key] of this.#versions.entries()) {
      const here = moduleOfKey(key);
      if (here.deploymentId !== deploymentId || (name !== undefined && here.name !== name)) continue;
      this.#pubsub.table.remove(deploymentId, here.name);
      // Calls waiting on a paused module wake up and find it gone.
      await this.#versions.remove(key);
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
    this.#versions.expect(moduleKey(deploymentId, name), loading);
  }

  /** The live instance of a deployed module (snapshot, restore and migration use it). */
  instance(deploymentId: string, name: string): SandboxInstance {
    return this.#versions.require(moduleKey(deploymentId, name)).instance;
  }

  /** Run every call through `wrapper` (one at most; undefined removes it). */
  wrapCalls(wrapper: CallWrapper | undefined): void {
    this.#wrapper = wrapper;
  }

  /** Call a function of a deployed module. */
  call(deploymentId: string, moduleName: string, functionName: string, input: CallInput = {}): Promise<CallOutcome> {
    // Arguments come parsed (over RPC, from a gateway): walked without recursion before
    // anything else — the sandbox, the history, an error message — touches them.
    // Not an async function (one promise less per call): whatever throws here still comes as a rejection.
    try {
      if (input.args !== undefined) checkValue(input.args, ARG_LIMITS, 'the call arguments');
      const wrapper = this.#wrapper;
      if (wrapper) return wrapper({ deploymentId, module: moduleName, fn: functionName, input }, () => this.#call(deploymentId, moduleName, functionName, input));
      return this.#call(deploymentId, moduleName, functionName, input);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  async #call(deploymentId: string, moduleName: string, functionName: string, input: CallInput): Promise<CallOutcome> {
    const key = moduleKey(deploymentId, moduleName);
    // Not paused (nearly always): no wait at the gate.
    const now = this.#versions.enterNow(key);
    if (now) {
      try {
        return await this.#callOn(now, deploymentId, moduleName, functionName, input);
      } finally {
        this.#versions.leave(now);
      }
    }
    const route: CallRoute = await this.#versions.enter(key);
    if ('movedTo' in route) {
      if (!this.#o.forward) throw new DeploymentNotFoundError(`module ${moduleName} of deployment ${deploymentId} moved to ${route.movedTo}`, { deploymentId, module: moduleName });
      const forwarded = this.#o.forward(route.movedTo, { deploymentId, module: moduleName, fn: functionName, input });
      if (!route.ahead) return forwarded;
      const inFlight = this.#ahead.get(key) ?? new Set<Promise<unknown>>();
      this.#ahead.set(key, inFlight);
      const settled = forwarded.then(() => undefined, () => undefined);
      inFlight.add(settled);
      void settled.then(() => {
        inFlight.delete(settled);
        if (inFlight.size === 0 && this.#ahead.get(key) === inFlight) this.#ahead.delete(key);
      });
      try {
        return await forwarded;
      } catch (error) {
        // The target refused the commit (or is gone with its copy): it ran none of the calls
        // sent behind it, and this peer serves on — the call runs here, once.
        if ((await route.ahead) === 'refused' && error instanceof MeshError && NOT_RUN_THERE.has(error.code)) return this.#call(deploymentId, moduleName, functionName, input);
        throw error;
      }
    }
    try {
      return await this.#callOn(route.here, deploymentId, moduleName, functionName, input);
    } finally {
      this.#versions.leave(route.here);
    }
  }

  async #callOn(version: Version, deploymentId: string, moduleName: string, functionName: string, input: CallInput): Promise<CallOutcome> {
    const plan = planFunction(version, moduleName, functionName);
    const requestId = this.history.takeId() ?? (await this.history.nextId());
    const startedAt = this.#now();
    const t0 = performance.now();
    // A copy in JSON's terms (an i64 as decimal text): the history keeps it and writes it behind.
    const args = (Array.isArray(input.args) ? input.args : input.args ? Object.values(input.args) : []).map(historyValue);
    // Most calls send no file: no await then (each is a turn of the microtask queue per call).
    const inputFiles = input.files && hasEntries(input.files) ? await fileRefs(input.files, {}) : [];
    const method = input.method ?? plan.fn?.method ?? 'GET';
    try {
      const result = await version.instance.call(sandboxRequest(plan, functionName, input, version.dataFiles));
      const outcome = callOutcome({ requestId, deploymentId, moduleName, functionName }, plan, result, sinceMs(t0));
      const outputFiles = outcome.files.length > 0 ? await fileRefs(Object.fromEntries(outcome.files.map((f) => [f.name, f.bytes])), plan.mediaTypes) : [];
      this.history.add({
        requestId, deploymentId, moduleName, functionName, method, args, inputFiles,
        success: true, result: outcome.value, outputFiles, startedAt, durationMs: outcome.durationMs,
      });
      return outcome;
    } catch (error) {
      this.history.add({
        requestId, deploymentId, moduleName, functionName, method, args, inputFiles,
        success: false, error: toErrorInfo(error), startedAt, durationMs: sinceMs(t0),
      });
      throw error instanceof MeshError ? error : new MeshError('ERR_REMOTE_INTERNAL', String((error as Error)?.message ?? error));
    }
  }

  /** Close every instance. */
  async stop(): Promise<void> {
    this.#pubsub.table.clear();
    this.#moved.clear();
    // Calls held by a pause wake up and find nothing (ERR_DEPLOYMENT_NOT_FOUND).
    await this.#versions.clear();
    await this.history.flush();
  }

  /** What the deployed modules subscribed to (for routing messages to this peer). */
  subscriptions(): Subscription[] {
    return this.#pubsub.subscriptions();
  }

  /**
   * Deliver a pub/sub message to every module here whose subscription matches `topic`:
   * its `on_message` export receives topic and data placed through its `alloc`, one call
   * at a time per instance, each recorded in the history with method `pubsub`. A handler
   * that fails is logged and recorded; the others still run. Resolves with how many
   * modules handled the message without error.
   */
  deliver(topic: string, data: Uint8Array): Promise<number> {
    return this.#pubsub.deliver(topic, data);
  }
}

/**
 * Milliseconds since `t0` (a `performance.now()`), to the microsecond: the clock says no
 * more, the history stores no more, and a double's seventeen digits cost every answer
 * more to write than the rest of it.
 */
function sinceMs(t0: number): number {
  return Math.round((performance.now() - t0) * 1000) / 1000;
}

/** Whether `record` has an own enumerable key, without listing them. */
function hasEntries(record: Record<string, unknown>): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return true;
  return false;
}
