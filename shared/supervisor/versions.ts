/**
 * The module versions a peer serves, and the gate every call passes: a call enters the
 * version serving now (waiting while it is paused for a migration, or while its load is
 * under way), runs, and leaves; a retired version closes once its last call has left, so
 * a hot update never cuts a running call short. What the gate answers is a
 * {@link CallRoute}: run here, or forward to the peer the module moved to.
 * @module
 */
import type { SandboxInstance } from '../ports/sandbox.ts';
import type { ModuleDescription } from '../registry/description.ts';
import { DeploymentNotFoundError } from '../sandbox/errors.ts';
import type { FunctionPlan } from './function-plan.ts';
import type { MovedModules } from './forwarding.ts';
import { type ModuleKey, moduleOfKey } from './module-key.ts';

/** One loaded version of a deployed module. */
export interface Version {
  instance: SandboxInstance;
  description: ModuleDescription;
  moduleId: string;
  /** Calls inside it now. */
  running: number;
  /** Replaced or removed: it closes when `running` reaches 0. */
  retired: boolean;
  /** Set while the module is paused for a migration: new calls wait at its gate. */
  paused?: Pause;
  /** Deployment-stage files, for functions that take them by pointer (`buffers`). */
  dataFiles: Record<string, Uint8Array>;
  /** Plans by function name (see {@link FunctionPlan}). */
  plans: Map<string, FunctionPlan>;
  /** Bytes it counts against the peer's memory budget (budget.ts). */
  footprint: number;
}

/** A paused module: calls wait for `gate`; `drained` waiters wake once no call runs. */
interface Pause {
  gate: Promise<void>;
  release: () => void;
  drained: (() => void)[];
  /** Set when the held calls go to the target right behind a migration's commit. */
  ahead?: Ahead;
}

/**
 * How a migration's commit ended, for the calls sent right behind it: `committed` (the
 * target serves them), `refused` (the target answered that it did not install the module,
 * or it is gone with its copy: the calls are run here) or `unknown` (no answer: a call's
 * error stands, so that none runs twice).
 */
export type CommitOutcome = 'committed' | 'refused' | 'unknown';

/** Held calls sent ahead to `peer`, and how the commit they follow ended. */
export interface Ahead {
  peer: string;
  outcome: Promise<CommitOutcome>;
}

/**
 * Where a call goes: into a version here (counted as running until it leaves), or to the
 * peer the module moved to — `ahead` when it follows a commit whose outcome is not known yet.
 */
export type CallRoute = { here: Version } | { movedTo: string; ahead?: Promise<CommitOutcome> };

/** The versions serving on this peer, by module. */
export class VersionTable {
  readonly #versions = new Map<ModuleKey, Version>();
  /** Loads under way that calls for a module not here yet wait for: settles when done. */
  readonly #expected = new Map<ModuleKey, Promise<void>>();
  readonly #moved: MovedModules;

  constructor(moved: MovedModules) {
    this.#moved = moved;
  }

  /** The version serving `key`, if any. */
  get(key: ModuleKey): Version | undefined {
    return this.#versions.get(key);
  }

  /** The version serving `key`, or ERR_DEPLOYMENT_NOT_FOUND. */
  require(key: ModuleKey): Version {
    const v = this.#versions.get(key);
    if (!v) {
      const { deploymentId, name } = moduleOfKey(key);
      throw new DeploymentNotFoundError(`no module ${name} of deployment ${deploymentId} runs here`, { deploymentId, module: name });
    }
    return v;
  }

  /** Every serving version with its key. */
  entries(): [ModuleKey, Version][] {
    return [...this.#versions.entries()];
  }

  /** Every serving version. */
  values(): IterableIterator<Version> {
    return this.#versions.values();
  }

  /**
   * Serve `version` for `key`: new calls reach it at once. Returns the version it replaces
   * (a hot update), which the caller then {@link retire}s.
   */
  install(key: ModuleKey, version: Version): Version | undefined {
    const previous = this.#versions.get(key);
    this.#moved.forget(key);
    this.#versions.set(key, version);
    return previous;
  }

  /** Stop serving `key`; its version retires. Undefined when nothing served it. */
  async remove(key: ModuleKey): Promise<Version | undefined> {
    const v = this.#versions.get(key);
    if (!v) return undefined;
    this.#versions.delete(key);
    await this.retire(v);
    return v;
  }

  /** No new calls on `v`: calls held by its pause wake (and find what serves now), and it closes once idle. */
  async retire(v: Version): Promise<void> {
    v.retired = true;
    v.paused?.release();
    delete v.paused;
    if (v.running === 0) await v.instance.close();
  }

  /** A load of `key` is under way: a call arriving before it ends waits for it once. */
  expect(key: ModuleKey, loading: Promise<unknown>): void {
    const done = loading.then(() => undefined, () => undefined);
    this.#expected.set(key, done);
    void done.then(() => {
      if (this.#expected.get(key) === done) this.#expected.delete(key);
    });
  }

  /** {@link enter} without waiting: the version if it serves now (the call is counted), else null. */
  enterNow(key: ModuleKey): Version | null {
    const v = this.#versions.get(key);
    if (!v || v.paused) return null;
    v.running++;
    return v;
  }

  /**
   * Start a call on `key`: waits while it is paused or loading, then counts it as running
   * in the version serving it, or routes it to the peer it moved to. ERR_DEPLOYMENT_NOT_FOUND
   * when neither.
   */
  async enter(key: ModuleKey): Promise<CallRoute> {
    let waited = false;
    for (;;) {
      const v = this.#versions.get(key);
      if (!v) {
        // A load under way here first: a module that moves back to this peer is awaited,
        // not forwarded to where it was.
        const loading = this.#expected.get(key);
        if (loading && !waited) {
          waited = true;
          await loading;
          continue;
        }
        const movedTo = this.#moved.peerFor(key);
        if (movedTo !== undefined) return { movedTo };
        return { here: this.require(key) };
      }
      if (!v.paused) {
        v.running++;
        return { here: v };
      }
      const pause = v.paused;
      if (pause.ahead) return { movedTo: pause.ahead.peer, ahead: pause.ahead.outcome };
      await pause.gate;
      // Set while this call waited (the narrowing above does not know that).
      const ahead = pause.ahead as Ahead | undefined;
      if (ahead) return { movedTo: ahead.peer, ahead: ahead.outcome };
    }
  }

  /** A call on `v` returned: close a retired instance, wake a pause waiting for the drain. */
  leave(v: Version): void {
    v.running--;
    if (v.running > 0) return;
    if (v.retired) void v.instance.close();
    if (v.paused) for (const wake of v.paused.drained.splice(0)) wake();
  }

  /** Whether `v` holds its calls. */
  isPaused(v: Version): boolean {
    return v.paused !== undefined;
  }

  /** Hold new calls on `v` (they wait in order) and resolve once the running ones have left. */
  async pause(v: Version): Promise<void> {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const pause: Pause = { gate, release, drained: [] };
    v.paused = pause;
    if (v.running > 0) await new Promise<void>((resolve) => pause.drained.push(resolve));
  }

  /**
   * The calls held on a paused `key`, and those arriving until it is resumed or removed,
   * go to `ahead.peer` in arrival order, behind a commit whose outcome is `ahead.outcome`.
   */
  sendAhead(key: ModuleKey, ahead: Ahead): void {
    const v = this.#versions.get(key);
    const pause = v?.paused;
    if (!v || !pause) return;
    pause.ahead = ahead;
    const release = pause.release;
    // A commit that did not go through: calls are held here again until the module
    // resumes — among them those the target sends back as not run (registered before
    // any of them awaits the outcome, so this runs first).
    void ahead.outcome.then((outcome) => {
      if (outcome === 'committed' || v.paused !== pause) return;
      delete pause.ahead;
      pause.gate = new Promise<void>((resolve) => (pause.release = resolve));
    });
    release();
  }

  /** Let the calls waiting on a paused `key` run, in arrival order. */
  resume(key: ModuleKey): void {
    const v = this.#versions.get(key);
    const pause = v?.paused;
    if (!v || !pause) return;
    delete v.paused;
    pause.release();
  }

  /** Stop serving everything; calls held by a pause wake and find nothing. Resolves once all are closed. */
  async clear(): Promise<void> {
    const all = [...this.#versions.values()];
    this.#versions.clear();
    for (const v of all) v.paused?.release();
    await Promise.all(all.map((v) => v.instance.close()));
  }
}
