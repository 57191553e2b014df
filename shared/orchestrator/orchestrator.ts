/**
 * The orchestrator role every peer carries: the package manager, deployments (create,
 * update, redeploy, delete), execution of chains, and in the background the step agent
 * (what runs on this peer) and the coordinator (the deployments this peer drives, and
 * orphans it adopts). All state lives in the shared registry, so whichever peer a user
 * talks to sees and drives the same deployments.
 * @module
 */
import { toHex, randomBytes } from '../bytes.ts';
import { hasCode } from '../errors.ts';
import type { Unsubscribe } from '../events.ts';
import { createLogger, type Logger } from '../log.ts';
import { every } from '../ports/clock.ts';
import type { Peer } from '../mesh/peer.ts';
import type { DeploymentView } from '../registry/registry.ts';
import type { DeployedStep, DeploymentRecord } from '../registry/schema.ts';
import type { MeshMethods, ParamsOf } from '../rpc/methods.ts';
import type { CallInput, CallOutcome, OutputFile, Supervisor } from '../supervisor/supervisor.ts';
import { StepAgent } from './agent.ts';
import { CHAIN_HOP_TIMEOUT_MS, ChainRunner, type StepTrace } from './chain.ts';
import { Coordinator, DEFAULT_DEPLOYMENT_TIMING, type DeploymentTiming } from './coordinator.ts';
import { DeploymentExistsError, DeploymentFailedError, DeploymentNotReadyError, MigrationInProgressError, UnknownDeploymentError, UnknownModuleError } from './errors.ts';
import { migrationActive, type MigrationOptions, type MigrationResult, MigrationService } from './migration.ts';
import { parseManifest } from './manifest.ts';
import { PackageManager } from './packages.ts';
import { placeSteps, placementHints, resolveSteps } from './plan.ts';
import type { Placement, PlacementOptions } from './placement.ts';
import { policyAdmission, policyCards, validateSteps } from './policy.ts';
import { deploymentOperator } from './requester.ts';
import { StandbyService } from './standby.ts';
import { callWithStandby, newCallId, runWithStandby } from './standby-caller.ts';

/** Options of {@link Orchestrator}. */
export interface OrchestratorOptions {
  peer: Peer;
  supervisor: Supervisor;
  timing?: Partial<DeploymentTiming>;
  /** Period of the coordinator's check of time limits and liveness (default 250 ms). */
  tickMs?: number;
  logger?: Logger;
  wallClock?: () => number;
  /**
   * Place steps only where the zones-and-risk-levels cards allow them (policy.ts), and move
   * steps a device may no longer host. Default false: cards only yield certificates.
   */
  enforcePolicies?: boolean;
}

/** What executing a deployment returns. */
export interface ExecuteResult {
  deploymentId: string;
  revision: number;
  /** The final step's result (the last final step's, when the graph fans out). */
  result: { value: number | string | null; bytes?: Uint8Array; files: OutputFile[] };
  /** Every step's result and timing, in run order. */
  steps: StepTrace[];
  /** Indices into `steps` of the final steps. */
  leaves: number[];
  /** Caller-side time of the whole execution, ms. */
  totalMs: number;
}

/** Options of {@link Orchestrator.execute}. */
export interface ExecuteOptions {
  /** How long to wait for a deployment that is (re)deploying to become ready (default 10 s). */
  readyTimeoutMs?: number;
  /**
   * The peer to run the (first) step on: the placed one or a clone's (`record.replicas`).
   * Default: this peer when it runs the step (placed or cloned), else the placed peer.
   */
  peer?: string;
}

const CALLABLE = new Set(['ready', 'rolled-back']);

/** The orchestrator of one peer. */
export class Orchestrator {
  /** Publish, list, resolve and remove modules. */
  readonly packages: PackageManager;
  readonly #peer: Peer;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #agent: StepAgent;
  readonly #coordinator: Coordinator;
  readonly #chain: ChainRunner;
  readonly #migration: MigrationService;
  readonly #standby: StandbyService;
  readonly #tickMs: number;
  readonly #lostAfterMs: number;
  #offs: Unsubscribe[] = [];
  #scheduled = false;
  readonly #enforce: boolean;

  constructor(options: OrchestratorOptions) {
    const peer = options.peer;
    this.#peer = peer;
    this.#log = options.logger ?? createLogger('orchestrator');
    this.#now = options.wallClock ?? (() => Date.now());
    this.#tickMs = options.tickMs ?? 250;
    const timing = { ...DEFAULT_DEPLOYMENT_TIMING, ...options.timing };
    this.#lostAfterMs = timing.lostAfterMs;
    this.packages = new PackageManager({ registry: peer.registry, blobs: peer.store.blobs, self: peer.id, now: this.#now, saved: () => peer.registrySaved() });
    this.#agent = new StepAgent({ peer, supervisor: options.supervisor, logger: this.#log.child('agent'), now: this.#now });
    this.#coordinator = new Coordinator({
      self: peer.id,
      registry: peer.registry,
      alive: () => this.#alive(),
      now: () => peer.clock.now(),
      wallNow: this.#now,
      place: (steps, opts) => this.#place(steps, opts),
      timing,
      logger: this.#log.child('coordinator'),
      migrating: (id) => this.#migration.migrating(id),
      suspect: () => this.#standby.suspect(),
      ...(options.enforcePolicies ? { refused: (r: DeploymentRecord) => this.#refused(r) } : {}),
    });
    this.#enforce = options.enforcePolicies ?? false;
    this.#chain = new ChainRunner(peer, options.supervisor);
    this.#standby = new StandbyService({ peer, supervisor: options.supervisor, agent: this.#agent, logger: this.#log.child('standby'), now: this.#now });
    // A move of a module with standbys carries the count its state holds (ADR 0038).
    this.#migration = new MigrationService({ peer, supervisor: options.supervisor, agent: this.#agent, logger: this.#log.child('migration'), now: this.#now, lineage: this.#standby });
  }

  /** Start serving chain steps and acting on the registry. The peer must be running. */
  start(): void {
    const schedule = (): void => this.#schedule();
    this.#offs = [
      this.#chain.serve(),
      this.#migration.serve(),
      this.#standby.serve(),
      this.#peer.registry.on('change', (c) => {
        if (c.map !== 'devices') schedule();
      }),
      this.#peer.on('device-left', () => {
        schedule();
        // The departure counts once it has lasted lostAfterMs: look again right then, not
        // at the next periodic tick (failover is this much quicker).
        this.#peer.clock.setTimeout(schedule, this.#lostAfterMs + 1);
      }),
      this.#peer.on('device-joined', schedule),
      every(this.#peer.clock, this.#tickMs, () => this.#coordinator.tick()),
    ];
    schedule();
  }

  /**
   * Resolves once every module the registry places on this peer is loaded (or has
   * failed): after a restart, what this peer ran before runs again. Call after `start`.
   */
  async resumed(): Promise<void> {
    this.#agent.reconcile();
    await this.#agent.idle();
  }

  /** Stop acting; deployments stay in the registry for other peers to drive. */
  stop(): void {
    for (const off of this.#offs) off();
    this.#offs = [];
    this.#agent.stop();
  }

  /**
   * Create a deployment from a manifest (any accepted form) and start deploying it; this
   * peer coordinates it. Resolves with the record as written (status `deploying`);
   * rejects with ERR_INVALID_MANIFEST, ERR_UNKNOWN_MODULE, ERR_UNKNOWN_FUNCTION,
   * ERR_UNKNOWN_DEVICE, ERR_NO_PLACEMENT or a provider error, writing nothing.
   * An id that exists is ERR_DEPLOYMENT_EXISTS unless `replace` says the new manifest
   * takes its place (a new revision of it, as {@link update} makes).
   */
  deploy(manifestInput: unknown, options: { id?: string; replace?: boolean } = {}): DeploymentRecord {
    const manifest = parseManifest(manifestInput);
    const wanted = options.id ?? manifest.deploymentId;
    const taken = wanted === undefined ? undefined : this.#peer.registry.deployments.get(wanted)?.record;
    if (taken && !options.replace) {
      throw new DeploymentExistsError(`deployment ${wanted} exists (${taken.name}, ${taken.status}); replace it explicitly or update it`, { deployment: wanted });
    }
    const steps = resolveSteps(manifest, this.packages);
    const placement = this.#place(steps, taken ? { ...placementHints(manifest), replacing: taken.id, operator: deploymentOperator(taken, this.#peer.registry.deployments) } : { ...placementHints(manifest), operator: this.#peer.id });
    const now = this.#now();
    const record: DeploymentRecord = {
      id: wanted ?? toHex(randomBytes(12)),
      name: manifest.name,
      manifest: manifestInput,
      steps,
      solution: placement.solution,
      explanation: placement.explanation as unknown as Record<string, unknown>,
      revision: 1,
      coordinator: this.#peer.id,
      status: 'deploying',
      createdAt: now,
      updatedAt: now,
    };
    const existing = this.#peer.registry.deployments.get(record.id)?.record;
    if (existing) return this.#write(this.#coordinator.nextRevision(existing, steps, placement), manifestInput);
    this.#peer.registry.deployments.put(record);
    this.#schedule();
    return record;
  }

  /**
   * A new revision of a deployment: with a manifest, that manifest; without, the same one
   * re-resolved (so module names pick up newly published versions — a hot swap on the
   * peers that keep their steps). A revision that fails rolls back to this one.
   */
  update(ref: string, manifestInput?: unknown): DeploymentRecord {
    const current = this.#notMigrating(this.get(ref).record);
    const submitted = manifestInput ?? current.manifest;
    const manifest = parseManifest(submitted);
    const steps = resolveSteps(manifest, this.packages);
    const placement = this.#place(steps, { ...placementHints(manifest), current: current.solution, replacing: current.id, operator: deploymentOperator(current, this.#peer.registry.deployments) });
    return this.#write(this.#coordinator.nextRevision(current, steps, placement), submitted);
  }

  /** Deploy the same manifest again, placed afresh. */
  redeploy(ref: string): DeploymentRecord {
    const current = this.#notMigrating(this.get(ref).record);
    const manifest = parseManifest(current.manifest);
    const steps = resolveSteps(manifest, this.packages);
    const placement = this.#place(steps, { ...placementHints(manifest), replacing: current.id, operator: deploymentOperator(current, this.#peer.registry.deployments) });
    return this.#write(this.#coordinator.nextRevision(current, steps, placement), current.manifest);
  }

  /**
   * Live-migrate one module of a deployment, with its state, to another device (see
   * `migration.ts` for the protocol). `moduleRef`: step index, module name or module id;
   * `deviceRef`: device id or name. `mode: 'move'` (default) switches the routing to the
   * target; `'clone'` starts a copy there from the same state and records it in
   * `record.replicas`, both serving. Rejects with ERR_UNKNOWN_DEPLOYMENT,
   * ERR_UNKNOWN_DEVICE, ERR_UNKNOWN_MODULE, ERR_DEPLOYMENT_NOT_READY,
   * ERR_MIGRATION_IN_PROGRESS, ERR_INVALID_PARAMS or ERR_MIGRATION_FAILED (`data.reason`);
   * after a failure the module serves on where it was, its state intact.
   */
  migrate(deploymentRef: string, moduleRef: string, deviceRef: string, options: MigrationOptions = {}): Promise<MigrationResult> {
    return Promise.resolve().then(() => this.#migration.migrate(this.get(deploymentRef), moduleRef, deviceRef, options));
  }

  /** Move every module of a deployment to one device (follow-me), one after another. */
  followMe(deploymentRef: string, deviceRef: string, options: Omit<MigrationOptions, 'mode'> = {}): Promise<MigrationResult[]> {
    return Promise.resolve().then(() => this.#migration.followMe(this.get(deploymentRef), deviceRef, options));
  }

  /** Delete a deployment; every peer unloads its modules. Resolves with what was deleted. */
  remove(ref: string): DeploymentRecord {
    const view = this.get(ref);
    this.#peer.registry.deployments.delete(view.record.id);
    this.#schedule();
    return view.record;
  }

  /** A deployment by id, or by name (the newest of that name). Throws ERR_UNKNOWN_DEPLOYMENT. */
  get(ref: string): DeploymentView {
    const deployments = this.#peer.registry.deployments;
    const byId = deployments.get(ref);
    if (byId) return byId;
    const named = deployments.values().filter((d) => d.record.name === ref).sort((a, b) => b.record.createdAt - a.record.createdAt)[0];
    if (!named) throw new UnknownDeploymentError(`no deployment ${ref}`, { deployment: ref });
    return named;
  }

  /** Every deployment, newest first. */
  list(): DeploymentView[] {
    return this.#peer.registry.deployments.values().sort((a, b) => b.record.createdAt - a.record.createdAt);
  }

  /**
   * Resolve once the deployment satisfies `until` (default: it is settled — ready,
   * rolled back or failed). Rejects with ERR_DEPLOYMENT_NOT_READY
   * after `timeoutMs`, or ERR_UNKNOWN_DEPLOYMENT if it is deleted meanwhile.
   */
  waitFor(ref: string, until: (view: DeploymentView) => boolean = settled, timeoutMs = 30_000): Promise<DeploymentView> {
    const id = this.get(ref).record.id;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const view = this.#peer.registry.deployments.get(id);
        if (!view) {
          done();
          reject(new UnknownDeploymentError(`deployment ${ref} was deleted`, { deployment: ref }));
          return true;
        }
        if (!until(view)) return false;
        done();
        resolve(view);
        return true;
      };
      const off = this.#peer.registry.on('change', (c) => {
        if (c.map === 'deployments') check();
      });
      const timer = this.#peer.clock.setTimeout(() => {
        off();
        const view = this.#peer.registry.deployments.get(id);
        reject(new DeploymentNotReadyError(`deployment ${ref} is still ${view?.record.status ?? 'missing'} after ${timeoutMs} ms`, { deployment: ref }));
      }, timeoutMs);
      const done = (): void => {
        off();
        this.#peer.clock.clearTimeout(timer);
      };
      check();
    });
  }

  /**
   * Execute a deployment: run its first step with `input` and the rest of the chain
   * after it. A deployment that is (re)deploying is waited for; a failed one rejects with
   * ERR_DEPLOYMENT_FAILED.
   */
  async execute(ref: string, input: CallInput = {}, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    const t0 = performance.now();
    let view = this.get(ref);
    if (!CALLABLE.has(view.record.status)) view = await this.#whenCallable(ref, options.readyTimeoutMs ?? 10_000);
    const run = async (v: DeploymentView): Promise<ExecuteResult> => {
      const r = v.record;
      const peer = this.#route(r, 0, options.peer);
      if (!peer) throw new DeploymentNotReadyError(`deployment ${r.name} has no placed first step`);
      // A step with a hot standby fails over to it at once (ADR 0038).
      const out = options.peer === undefined ? await runWithStandby(this.#peer, this.#chain, r, peer, input) : await this.#chain.runOn(peer, { deploymentId: r.id, step: 0, input });
      const last = out.steps[out.leaves[out.leaves.length - 1] ?? out.steps.length - 1]!;
      const result: ExecuteResult['result'] = { value: last.value, files: last.files };
      if (last.bytes) result.bytes = last.bytes;
      return { deploymentId: r.id, revision: r.revision, result, steps: out.steps, leaves: out.leaves, totalMs: performance.now() - t0 };
    };
    try {
      return await run(view);
    } catch (error) {
      // The first hop never reached its peer (it just left): wait for the re-placement once.
      if (!hasCode(error, 'ERR_NOT_CONNECTED') && !hasCode(error, 'ERR_PEER_UNREACHABLE')) throw error;
      const revision = view.record.revision;
      view = await this.waitFor(ref, (v) => v.record.revision > revision && CALLABLE.has(v.record.status), options.readyTimeoutMs ?? 10_000);
      return run(view);
    }
  }

  /**
   * Call one function of one module of a deployment, wherever the module runs (WasmIoT's
   * `/{deployment}/modules/{module}/{function}`), without running the chain after it.
   */
  async call(ref: string, moduleName: string, func: string, input: CallInput = {}, options: ExecuteOptions = {}): Promise<CallOutcome> {
    let view = this.get(ref);
    if (!CALLABLE.has(view.record.status)) view = await this.#whenCallable(ref, options.readyTimeoutMs ?? 10_000);
    const r = view.record;
    const index = (r.steps ?? []).findIndex((s) => s.name === moduleName || s.module === moduleName);
    const peer = index < 0 ? undefined : this.#route(r, index, options.peer);
    if (!peer) throw new UnknownModuleError(`deployment ${r.name} has no module ${moduleName}`, { deployment: r.id, module: moduleName });
    const name = r.steps![index]!.name;
    const params: ParamsOf<MeshMethods, 'supervisor.call'> = { deploymentId: r.id, module: name, fn: func };
    if (input.args !== undefined) params.args = input.args;
    if (input.files !== undefined) params.files = input.files;
    if (input.input !== undefined) params.input = input.input;
    if (options.peer !== undefined) return this.#peer.call(peer, 'supervisor.call', params, { timeoutMs: CHAIN_HOP_TIMEOUT_MS });
    // A step with a hot standby fails over to it at once, under one call id (ADR 0038).
    params.callId = input.callId ?? newCallId();
    return callWithStandby(this.#peer, r, index, peer, (target, signal) => this.#peer.call(target, 'supervisor.call', params, { timeoutMs: CHAIN_HOP_TIMEOUT_MS, ...(signal ? { signal } : {}) }));
  }

  /** The peer to run step `i` on: `wanted` if it runs the step, else this peer if it does, else the placed one. */
  #route(r: DeploymentRecord, i: number, wanted?: string): string | undefined {
    const placed = r.solution[String(i)];
    const runs = new Set([...(placed ? [placed] : []), ...(r.replicas?.[String(i)] ?? [])]);
    if (wanted !== undefined) {
      if (!runs.has(wanted)) throw new DeploymentNotReadyError(`step ${i} of ${r.name} does not run on ${wanted}`, { deployment: r.id, peer: wanted });
      return wanted;
    }
    return runs.has(this.#peer.id) ? this.#peer.id : placed;
  }

  #notMigrating(r: DeploymentRecord): DeploymentRecord {
    if (migrationActive(r.migration)) throw new MigrationInProgressError(`deployment ${r.name} is migrating ${r.migration!.module}; try again when it is done`, { deployment: r.id });
    return r;
  }

  async #whenCallable(ref: string, timeoutMs: number): Promise<DeploymentView> {
    const view = await this.waitFor(ref, settled, timeoutMs);
    if (view.record.status === 'failed') throw new DeploymentFailedError(`deployment ${view.record.name} failed: ${view.record.reason ?? 'no reason recorded'}`, { deployment: view.record.id });
    return view;
  }

  #write(record: DeploymentRecord, manifest: unknown): DeploymentRecord {
    const next = { ...record, manifest, updatedAt: this.#now() };
    this.#peer.registry.deployments.put(next);
    this.#schedule();
    return next;
  }

  /**
   * Peers that may host steps: the alive ones, this one included, less the blacklisted —
   * so a blacklisted device gets no placements and the coordinators move its steps as
   * they would a departed device's.
   */
  #alive(): Set<string> {
    const out = new Set([...this.#peer.alive(), this.#peer.id]);
    for (const b of this.#peer.registry.blacklist.keys()) out.delete(b);
    return out;
  }

  #place(steps: readonly DeployedStep[], options: PlacementOptions): Placement {
    if (options.operator === undefined) {
      // Re-placements (departed devices, failures) act for the deployment's own operator.
      const existing = options.replacing === undefined ? undefined : this.#peer.registry.deployments.get(options.replacing)?.record;
      options = { ...options, operator: existing ? deploymentOperator(existing, this.#peer.registry.deployments) : this.#peer.id };
    }
    const admit = this.#enforce ? policyAdmission(steps, policyCards(this.#peer.registry.cards.values())) : undefined;
    // Nearer peers first in a partial mesh (a full mesh has every peer one hop away).
    const hinted: PlacementOptions = { hops: (p) => this.#peer.hops(p), ...options };
    return placeSteps(steps, this.#peer.registry, this.#alive(), (p) => this.#peer.presenceOf(p), admit ? { ...hinted, admit } : hinted);
  }

  /** Devices of `r`'s placement whose steps the cards no longer allow there. */
  #refused(r: DeploymentRecord): Record<string, string> {
    if (!r.steps) return {};
    const out: Record<string, string> = {};
    for (const log of validateSteps(r.steps, r.solution, policyCards(this.#peer.registry.cards.values()))) {
      if (!log.valid && log.device) out[log.device] ??= `policy: ${log.reasons.join('; ')}`;
    }
    return out;
  }

  /** Reconcile and tick once at the end of the current task, however many changes came. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      if (this.#offs.length === 0) return;
      this.#agent.reconcile();
      this.#migration.reconcile();
      this.#standby.reconcile();
      this.#coordinator.tick();
    });
  }
}

/** True once a deployment needs nothing more: ready, rolled back, or failed. */
export function settled(view: DeploymentView): boolean {
  return view.record.status === 'ready' || view.record.status === 'rolled-back' || view.record.status === 'failed';
}
