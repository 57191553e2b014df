/**
 * The supervisor: hosts deployed modules on this peer and serves their functions.
 * It picks the calling convention from a function's description and the export's
 * signature, supplies mounts (deployment-stage files at load, execution-stage files per
 * call, output files back), records every call in the persisted request history, and
 * swaps in new module versions without a restart — calls already running finish on the
 * old instance, new calls reach the new one. It also keeps who subscribed to which
 * pub/sub topic and delivers messages to their `on_message` handlers.
 * @module
 */
import { sha256Hex } from '../bytes.ts';
import { HashMismatchError, InvalidParamsError, MeshError, toErrorInfo } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import type { KeyValueStore } from '../ports/key-value-store.ts';
import type { CallConvention, CallResult, HostServices, LoadSpec, ProviderModule, Sandbox, SandboxInstance, SandboxLimits } from '../ports/sandbox.ts';
import { checkDescription, type ModuleDescription } from '../protocol/description.ts';
import type { FunctionDescription } from '../registry/schema.ts';
import { DeploymentNotFoundError, FunctionNotFoundError } from '../sandbox/errors.ts';
import { type FileRef, RequestHistory } from './history.ts';
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
}

/** Supervisor options. */
export interface SupervisorOptions {
  sandbox: Sandbox;
  /** History and counters live here. */
  kv: KeyValueStore;
  services?: HostServices;
  logger?: Logger;
  wallClock?: () => number;
}

/** Runs deployed modules on one peer. */
export class Supervisor {
  /** Every call this peer served. */
  readonly history: RequestHistory;
  readonly #o: SupervisorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #modules = new Map<string, Version>();
  readonly #subscriptions = new SubscriptionTable();

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#log = options.logger ?? createLogger('supervisor');
    this.#now = options.wallClock ?? (() => Date.now());
    this.history = new RequestHistory(options.kv);
  }

  /** Host imports this peer can grant (WasmIoT's `supervisorInterfaces`). */
  interfaces(): string[] {
    return this.#o.sandbox.grantable(this.#o.services ?? {});
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
    const instance = await this.#o.sandbox.load({
      wasm: spec.wasm,
      files,
      grants: spec.grants ?? [],
      services: this.#servicesFor(spec.deploymentId, spec.name),
      ...(spec.limits ? { limits: spec.limits } : {}),
      ...(spec.topics ? { topics: spec.topics } : {}),
      ...(spec.providers ? { providers: spec.providers } : {}),
    });
    const exported = instance.info.exports.filter((e) => e.kind === 'function').map((e) => e.name);
    const checked = checkDescription(spec.description, exported);
    if (!checked.ok) {
      await instance.close();
      throw new InvalidParamsError(checked.error);
    }
    const key = keyOf(spec.deploymentId, spec.name);
    const previous = this.#modules.get(key);
    this.#modules.set(key, { instance, description: checked.value, moduleId, running: 0, retired: false });
    if (previous) {
      // Subscriptions outlive a hot update as far as the new version's grants allow.
      this.#subscriptions.retainGranted(spec.deploymentId, spec.name, spec.topics?.subscribe ?? []);
      previous.retired = true;
      this.#log.debug(`hot update of ${spec.deploymentId}/${spec.name}: ${previous.moduleId.slice(0, 12)} → ${moduleId.slice(0, 12)}`);
      if (previous.running === 0) await previous.instance.close();
    }
    return this.deployed().find((d) => d.deploymentId === spec.deploymentId && d.name === spec.name)!;
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
      if (v.running === 0) await v.instance.close();
      removed = true;
    }
    return removed;
  }

  /** The live instance of a deployed module (snapshot, restore and migration use it). */
  instance(deploymentId: string, name: string): SandboxInstance {
    return this.#version(deploymentId, name).instance;
  }

  /** Call a function of a deployed module. */
  async call(deploymentId: string, moduleName: string, functionName: string, input: CallInput = {}): Promise<CallOutcome> {
    const version = this.#version(deploymentId, moduleName);
    const fn: FunctionDescription | undefined = version.description.functions[functionName];
    const requestId = await this.history.nextId();
    const startedAt = this.#now();
    const t0 = performance.now();
    const args = Array.isArray(input.args) ? input.args : input.args ? Object.values(input.args) : [];
    const inputFiles = await fileRefs(input.files ?? {}, {});
    version.running++;
    try {
      if (!fn) throw new FunctionNotFoundError(`${moduleName} describes no function ${functionName}`);
      const type = version.instance.info.exports.find((e) => e.name === functionName && e.kind === 'function')?.type;
      if (!type) throw new FunctionNotFoundError(`${moduleName} exports no function ${functionName}`);
      for (const m of fn.mounts) {
        if (m.stage === 'execution' && !input.files?.[m.name]) throw new InvalidParamsError(`missing execution-stage file ${m.name}`, { mount: m.name });
      }
      const result = await version.instance.call({
        fn: functionName,
        convention: this.#convention(fn, type, input),
        files: pick(input.files ?? {}, fn.mounts.filter((m) => m.stage === 'execution').map((m) => m.name)),
        outputs: fn.mounts.filter((m) => m.stage === 'output').map((m) => m.name),
        fresh: fn.stateful === false,
      });
      const outcome = this.#outcome(requestId, deploymentId, moduleName, functionName, fn, result, performance.now() - t0);
      await this.history.record({
        requestId, deploymentId, moduleName, functionName, method: input.method ?? fn.method, args, inputFiles,
        success: true, result: outcome.value, outputFiles: await fileRefs(Object.fromEntries(outcome.files.map((f) => [f.name, f.bytes])), mediaTypes(fn)),
        startedAt, durationMs: outcome.durationMs,
      });
      return outcome;
    } catch (error) {
      await this.history.record({
        requestId, deploymentId, moduleName, functionName, method: input.method ?? fn?.method ?? 'GET', args, inputFiles,
        success: false, error: toErrorInfo(error), startedAt, durationMs: performance.now() - t0,
      });
      throw error instanceof MeshError ? error : new MeshError('ERR_REMOTE_INTERNAL', String((error as Error)?.message ?? error));
    } finally {
      version.running--;
      if (version.retired && version.running === 0) await version.instance.close();
    }
  }

  /** Close every instance. */
  async stop(): Promise<void> {
    const all = [...this.#modules.values()];
    this.#modules.clear();
    this.#subscriptions.clear();
    await Promise.all(all.map((v) => v.instance.close()));
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
    const version = this.#version(deploymentId, moduleName);
    const requestId = await this.history.nextId();
    const startedAt = this.#now();
    const t0 = performance.now();
    const inputFiles = await fileRefs({ message: data }, {});
    const entry = { requestId, deploymentId, moduleName, functionName: ON_MESSAGE, method: 'pubsub', args: [topic], inputFiles, startedAt };
    version.running++;
    try {
      await version.instance.call({ fn: ON_MESSAGE, convention: { kind: 'message', alloc: 'alloc', topic, data } });
      await this.history.record({ ...entry, success: true, result: null, durationMs: performance.now() - t0 });
    } catch (error) {
      await this.history.record({ ...entry, success: false, error: toErrorInfo(error), durationMs: performance.now() - t0 });
      throw error;
    } finally {
      version.running--;
      if (version.retired && version.running === 0) await version.instance.close();
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

  #convention(fn: FunctionDescription, type: { params: string[] }, input: CallInput): CallConvention {
    const needsBytes = fn.pointer !== undefined || fn.params.some((p) => p.type === 'bytes');
    if (needsBytes && !input.input) throw new InvalidParamsError('this function takes bytes: send them as the request body or a file');
    if (fn.pointer) return { kind: 'buffer', pointer: fn.pointer, input: input.input! };
    if (needsBytes) return { kind: 'bytes', alloc: fn.alloc ?? 'alloc', input: input.input! };
    return { kind: 'scalar', args: toWasmArgs(type as never, input.args ?? [], fn.params.map((p) => p.name)) };
  }

  #outcome(requestId: string, deploymentId: string, moduleName: string, functionName: string, fn: FunctionDescription, r: CallResult, durationMs: number): CallOutcome {
    const types = mediaTypes(fn);
    const outcome: CallOutcome = {
      requestId, deploymentId, moduleName, functionName,
      value: toJsonValue(r.value),
      files: Object.entries(r.files).map(([name, bytes]) => ({ name, mediaType: types[name] ?? 'application/octet-stream', bytes })),
      stdout: r.stdout, stderr: r.stderr, durationMs,
    };
    if (r.bytes) outcome.bytes = r.bytes;
    return outcome;
  }
}

function keyOf(deploymentId: string, name: string): string {
  return `${deploymentId}\u0000${name}`;
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
