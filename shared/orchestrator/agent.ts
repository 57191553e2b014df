/**
 * The step agent: every peer runs one. It watches the registry for steps placed on this
 * peer and makes its supervisor match: for each module a deployment's current revision
 * places here it records the phases `resolving` → `fetching` (blobs from the mesh,
 * verified) → `loading` (into the sandbox) → `ready`, or `failed` with the reason; and
 * it unloads what it loaded once no current revision places it here any more. Phases carry the revision
 * they belong to, so a coordinator never mistakes an old `ready` for a new one.
 *
 * A module already running at the same version is not reloaded when a new revision only
 * moves other steps: its phase goes straight to `ready`, and its state stays.
 *
 * Steps are placed here by the record's `solution` or, for clones, its `replicas`. A
 * live migration hands the agent an instance it did not load ({@link StepAgent.adopt}):
 * the agent treats it as the realized step (phase `ready`, never reloaded over it) and
 * unloads it like its own once the registry no longer places it here.
 * @module
 */
import { hasCode, toErrorInfo } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Peer } from '../mesh/peer.ts';
import type { DeploymentView } from '../registry/registry.ts';
import type { DeployedStep, DeploymentRecord, PhaseRecord } from '../registry/schema.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import { type ModuleKey, moduleKey, moduleOfKey, showModuleKey } from '../supervisor/module-key.ts';
import { deploymentOperator, stepRequester } from './requester.ts';

/** Tries to find a holder of a blob before the step fails. */
const FETCH_ATTEMPTS = 5;

/** Statuses in which a deployment's modules should be running. */
const LIVE = new Set(['deploying', 'ready', 'rolled-back']);

interface Wanted {
  deploymentId: string;
  revision: number;
  step: DeployedStep;
  /** Step indices of this module placed here. */
  indices: number[];
}

/** Makes this peer's supervisor match what the registry places on it. */
export class StepAgent {
  readonly #peer: Peer;
  readonly #supervisor: Supervisor;
  readonly #log: Logger;
  readonly #now: () => number;
  /** What is loaded: key → module id and providers. */
  readonly #loaded = new Map<ModuleKey, { module: string; providers: string }>();
  /** What was last acted on per key (revision and module, loaded or failed), so a failure is not retried in a loop. */
  readonly #handled = new Map<ModuleKey, string>();
  /** Work in progress per key (one at a time per module). */
  readonly #busy = new Map<ModuleKey, Promise<void>>();
  #stopped = false;
  /** Says a module the registry no longer places here is kept all the same (see {@link keepWhile}). */
  #keep: ((deploymentId: string, name: string) => boolean) | undefined;

  constructor(options: { peer: Peer; supervisor: Supervisor; logger: Logger; now: () => number }) {
    this.#peer = options.peer;
    this.#supervisor = options.supervisor;
    this.#log = options.logger;
    this.#now = options.now;
  }

  /**
   * Keep a module the registry stops placing here while `keep` says so: a standby that
   * took a module over keeps it through a stale record that won a merge, until it has
   * written its takeover again (ADR 0038).
   */
  keepWhile(keep: (deploymentId: string, name: string) => boolean): void {
    this.#keep = keep;
  }

  /** Resolves when no load or unload is in progress. */
  async idle(): Promise<void> {
    while (this.#busy.size > 0) await Promise.allSettled([...this.#busy.values()]);
  }

  /** Stop acting on registry changes (loaded modules stay until the supervisor stops). */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Treat a module a migration installed on the supervisor as loaded by this agent, so
   * that the step the registry is about to place here is realized by it, not reloaded.
   */
  adopt(deploymentId: string, name: string, loaded: { module: string; providers: string[] }): void {
    this.#loaded.set(moduleKey(deploymentId, name), { module: loaded.module, providers: loaded.providers.join(',') });
  }

  /** Forget an adopted module that will not serve here after all (its migration failed). */
  forget(deploymentId: string, name: string): void {
    const key = moduleKey(deploymentId, name);
    if (!this.#handled.has(key)) this.#loaded.delete(key);
  }

  /** Bring the supervisor in line with the registry. Cheap when nothing changed. */
  reconcile(): void {
    if (this.#stopped) return;
    const wanted = this.#wanted();
    for (const [key, w] of wanted) {
      if (this.#busy.has(key)) continue; // Looked at again when that work ends.
      const fingerprint = `${w.revision}:${w.step.module}:${w.step.providers.join(',')}`;
      if (this.#handled.get(key) === fingerprint) continue;
      this.#handled.set(key, fingerprint);
      const loading = this.#run(key, () => this.#realize(key, w, this.#loaded.get(key)));
      // Calls that reach this peer before the module is loaded (it just restarted) wait for it.
      if (!this.#isDeployed(w)) this.#supervisor.expect(w.deploymentId, w.step.name, loading);
    }
    // Only what this agent loaded is unloaded: modules deployed on the supervisor directly
    // (a local script, the WasmIoT supervisor API) are not the registry's to remove.
    for (const key of [...this.#handled.keys()]) {
      if (wanted.has(key)) continue;
      if (this.#busy.has(key)) continue; // Looked at again when that work ends.
      const named = moduleOfKey(key);
      if (this.#keep?.(named.deploymentId, named.name)) continue;
      this.#loaded.delete(key);
      this.#handled.delete(key);
      const { deploymentId, name } = moduleOfKey(key);
      this.#run(key, async () => {
        if (await this.#supervisor.undeploy(deploymentId, name)) this.#log.debug(`unloaded ${deploymentId}/${name}`);
      });
    }
  }

  #run(key: ModuleKey, work: () => Promise<void>): Promise<void> {
    const p = work()
      .catch((e: unknown) => this.#log.warn(`${showModuleKey(key)}: ${(e as Error).message}`))
      .finally(() => {
        this.#busy.delete(key);
        // The registry may have moved on while this ran: look again (a no-op if it did not).
        this.reconcile();
      });
    this.#busy.set(key, p);
    return p;
  }

  /** Modules the registry's live revisions place here, by deployment and module name. */
  #wanted(): Map<ModuleKey, Wanted> {
    const out = new Map<ModuleKey, Wanted>();
    const self = this.#peer.id;
    for (const view of this.#peer.registry.deployments.values()) {
      const r = view.record;
      if (!LIVE.has(r.status)) continue;
      for (const [i, step] of (r.steps ?? []).entries()) {
        if (!placedOn(r, i, self)) continue;
        const key = moduleKey(r.id, step.name);
        const w = out.get(key);
        if (w) w.indices.push(i);
        else out.set(key, { deploymentId: r.id, revision: r.revision, step, indices: [i] });
      }
    }
    return out;
  }

  /** True while `w` is still what the registry wants of this peer. */
  #current(w: Wanted): DeploymentView | undefined {
    const view = this.#peer.registry.deployments.get(w.deploymentId);
    if (!view || view.record.revision !== w.revision || !LIVE.has(view.record.status)) return undefined;
    return w.indices.every((i) => placedOn(view.record, i, this.#peer.id)) ? view : undefined;
  }

  #phase(w: Wanted, phase: PhaseRecord['phase'], reason?: string): boolean {
    if (!this.#current(w)) return false;
    const record: PhaseRecord = { phase, at: this.#now(), revision: w.revision };
    if (reason !== undefined) record.reason = reason.slice(0, 10_000);
    this.#peer.registry.transact(() => {
      for (const i of w.indices) this.#peer.registry.deployments.setPhase(w.deploymentId, String(i), this.#peer.id, record);
    });
    return true;
  }

  async #realize(key: ModuleKey, w: Wanted, loaded: { module: string; providers: string } | undefined): Promise<void> {
    const providers = w.step.providers.join(',');
    if (loaded && loaded.module === w.step.module && loaded.providers === providers && this.#isDeployed(w)) {
      this.#phase(w, 'ready');
      return;
    }
    try {
      if (!this.#phase(w, 'resolving')) return;
      const registry = this.#peer.registry;
      const records = [w.step.module, ...w.step.providers].map((id) => {
        const m = registry.modules.get(id);
        if (!m) throw new Error(`module ${id.slice(0, 12)} is not in the registry`);
        return m;
      });
      const deployment = registry.deployments.get(w.deploymentId)?.record;
      // Refuses unsigned modules where the owner requires signatures, before fetching them.
      const requester = await stepRequester(records, deployment ? deploymentOperator(deployment, registry.deployments) : undefined, this.#supervisor.policy());
      if (!this.#phase(w, 'fetching')) return;
      const blobs = new Map<string, Uint8Array>();
      for (const m of records) {
        for (const hash of [m.id, ...Object.values(m.dataFiles)]) {
          if (!blobs.has(hash)) blobs.set(hash, await this.#fetch(hash, w));
        }
      }
      if (!this.#phase(w, 'loading')) return;
      const [main, ...deps] = records;
      const files = (m: typeof main): Record<string, Uint8Array> => Object.fromEntries(Object.entries(m!.dataFiles).map(([mount, h]) => [mount, blobs.get(h)!]));
      await this.#supervisor.deploy({
        deploymentId: w.deploymentId,
        name: w.step.name,
        wasm: blobs.get(main!.id)!,
        moduleId: main!.id,
        description: { name: main!.name, version: main!.version, functions: main!.functions },
        dataFiles: files(main),
        grants: w.step.grants,
        requester,
        ...(deps.length > 0 ? { providers: deps.map((d) => ({ name: d.name, wasm: blobs.get(d.id)!, files: files(d) })) } : {}),
        ...(w.step.topics ? { topics: w.step.topics } : {}),
      });
      this.#loaded.set(key, { module: w.step.module, providers });
      if (!this.#phase(w, 'ready')) this.#log.debug(`${showModuleKey(key)} loaded for a revision that moved on`);
    } catch (error) {
      const info = toErrorInfo(error);
      this.#phase(w, 'failed', `${info.code}: ${info.message}`);
    }
  }

  /**
   * Fetch a blob, waiting for a holder when none is reachable right now (its publisher
   * may be restarting): up to FETCH_ATTEMPTS tries, a second apart, while `w` is current.
   */
  async #fetch(hash: string, w: Wanted): Promise<Uint8Array> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#peer.fetchBlob(hash);
      } catch (error) {
        if (!hasCode(error, 'ERR_BLOB_NOT_FOUND') || attempt >= FETCH_ATTEMPTS || !this.#current(w)) throw error;
        await new Promise<void>((resolve) => this.#peer.clock.setTimeout(resolve, 1000));
      }
    }
  }

  #isDeployed(w: Wanted): boolean {
    return this.#supervisor.deployed().some((d) => d.deploymentId === w.deploymentId && d.name === w.step.name);
  }
}

/** True when step `i` of `r` runs on `peer`: as placed, or as a clone. */
export function placedOn(r: DeploymentRecord, i: number, peer: string): boolean {
  return r.solution[String(i)] === peer || (r.replicas?.[String(i)]?.includes(peer) ?? false);
}
