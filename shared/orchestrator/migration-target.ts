/**
 * The target side of a live migration (protocol in `migration.ts`): `prepare` fetches the
 * module's blobs and loads the module into the sandbox without serving it while the
 * source is still taking the base snapshot, whose parts arrive in `part` (checked against
 * their sha256, migration-base.ts) and are restored into the staged module in order as
 * they come; each `round` (pre-copy, the source still serving) applies what the
 * source's calls wrote since to the staged module; `commit` takes the delta — inline bytes checked against its sha256,
 * or fetched like the base —, decodes it, refuses a snapshot of another module
 * (ERR_SNAPSHOT_MISMATCH), applies it, and installs the instance, which the step agent adopts as the realized step; `abort` drops
 * what was staged or installed. A staged module not committed within the migration's
 * time limit is dropped, and an installed one that the registry still does not place
 * here by then (the source gave up after the commit) is unloaded.
 * @module
 */
import { HashMismatchError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Peer } from '../mesh/peer.ts';
import type { DeployedStep } from '../registry/schema.ts';
import type { TimerHandle } from '../ports/clock.ts';
import type { InstanceSnapshot } from '../ports/sandbox.ts';
import { SnapshotMismatchError } from '../sandbox/errors.ts';
import { decodeSnapshot } from '../sandbox/snapshot.ts';
import { joinParts } from '../sandbox/snapshot-parts.ts';
import { unpackSnapshot } from '../sandbox/snapshot-packing.ts';
import type { StagedModule, Supervisor } from '../supervisor/supervisor.ts';
import { placedOn, type StepAgent } from './agent.ts';
import { MigrationFailedError } from './errors.ts';
import { hashOf, IncomingBase, type MigrationPart, type MigrationStream } from './migration-base.ts';
import { stageStep } from './stage-step.ts';

/** Parameters of `migration.prepare` (source → target). */
export interface MigrationPrepare {
  migrationId: string;
  deploymentId: string;
  /** The module's name within the deployment. */
  module: string;
  /** The step as the deployment resolved it: module id, providers, grants, topics. */
  step: DeployedStep;
  /** The base snapshot follows in `migration.part` requests; the prepare gives up after this, ms. */
  timeoutMs: number;
}

/** Parameters of `migration.round` (source → target): a pre-copy round, shipped while the source serves. */
export interface MigrationRound {
  migrationId: string;
  /** sha256 of the encoded snapshot (a delta over what the target holds, or a full one), offered by the source. */
  snapshot: string;
  bytes: number;
  /**
   * The snapshot's bytes themselves, when small (a delta usually is): no `blob.has` and
   * `blob.read` round trips. Checked against `snapshot` all the same.
   */
  data?: Uint8Array;
}

/** Parameters of `migration.commit` (source → target): the last delta, shipped while calls are held. */
export interface MigrationCommit extends MigrationRound {
  /** Pub/sub topics the instance subscribed to. */
  subscriptions: string[];
  /**
   * How many calls' state the source's instance holds in this revision, when it is the
   * primary of a module with standbys (ADR 0038): the target leads on from that count, so
   * its standbys take its copy as the newer one.
   */
  version?: number;
}

/**
 * The hot-standby service's side of a move: what the source's instance counts, and the
 * target taking that count over with the instance (ADR 0038, "A move of a module with
 * standbys").
 */
export interface MigrationLineage {
  /** The count of calls the instance of `module` here holds, if this peer leads it with standbys. */
  versionOf(deploymentId: string, module: string): number | undefined;
  /** The instance of `module` installed here by a move holds `version` calls' state. */
  adopt(deploymentId: string, module: string, version: number): void;
}

/** What `migration.prepare` answers. */
export interface PrepareAnswer {
  /** From the request to the base restored, ms. */
  loadedMs: number;
  /**
   * When each step of the prepare ended, ms from its start: `first-part` (the first part
   * of the base restored), `staged`, `restored` (the last part restored).
   */
  times?: Record<string, number>;
}

/** What `migration.commit` answers. */
export interface CommitAnswer {
  /** From the request to the copy installed, ms. */
  restoredMs: number;
  /** When each step of the commit ended, ms from its start: `applied` (the delta restored), `installed`. */
  times?: Record<string, number>;
}

/** Snapshot blobs (a pre-copy round or a delta over 4 MiB) travel in ranges of this size. */
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

interface Pending {
  deploymentId: string;
  module: string;
  step: DeployedStep;
  from: string;
  staged: StagedModule;
  installed: boolean;
  timer: TimerHandle;
  /** The commit was answered, or the migration dropped: calls sent behind the commit stop waiting. */
  settle: () => void;
}

/** A prepare under way: where its base snapshot's parts arrive, and whether it was aborted. */
interface Preparing {
  from: string;
  deploymentId: string;
  base: IncomingBase;
  /** The base's bulk stream, once the source asked for one. */
  stream?: { stream: number; close(): void };
  /** Stops the prepare's time limit and abort listener and closes the stream (when the prepare ends). */
  done: () => void;
}

/** What a peer does as the target of migrations. */
export class MigrationTarget {
  readonly #peer: Peer;
  readonly #supervisor: Supervisor;
  readonly #agent: StepAgent;
  readonly #lineage: MigrationLineage | undefined;
  readonly #log: Logger;
  readonly #pending = new Map<string, Pending>();
  readonly #preparing = new Map<string, Preparing>();

  constructor(options: { peer: Peer; supervisor: Supervisor; agent: StepAgent; logger: Logger; lineage?: MigrationLineage }) {
    this.#peer = options.peer;
    this.#supervisor = options.supervisor;
    this.#agent = options.agent;
    this.#log = options.logger;
    this.#lineage = options.lineage;
  }

  /**
   * Fetch and load the module, not serving it yet, and restore the base snapshot into it
   * part by part as {@link part} receives them. `signal` (the request's) gives up.
   */
  async prepare(p: MigrationPrepare, from: string, signal?: AbortSignal): Promise<PrepareAnswer> {
    const t0 = performance.now();
    if (this.#pending.has(p.migrationId) || this.#preparing.has(p.migrationId)) throw new MigrationFailedError(`migration ${p.migrationId} is prepared already`);
    if (this.#supervisor.deployed().some((d) => d.deploymentId === p.deploymentId && d.name === p.module)) {
      throw new MigrationFailedError(`${this.#name(this.#peer.id)} runs ${p.module} of this deployment already`, { reason: 'target runs the module already' });
    }
    // Registered before the first await, so that the parts sent after this request find it.
    const preparing = this.#expectBase(p, from, signal);
    try {
      const took = (since: number): number => Math.round((performance.now() - since) * 100) / 100;
      const times: Record<string, number> = {};
      // The parts travel while the module is fetched and compiled, and are restored in
      // order from the moment it is loaded.
      const staged = await this.#stage(p);
      times.staged = took(t0);
      // Restores of later parts under way: each is posted as its part comes, without
      // waiting for the one before it to be answered (the sandbox takes them in order).
      const restoring: Promise<void>[] = [];
      try {
        for (let index = 0; index < (preparing.base.parts ?? 1); ) {
          // The part next in order and those after it that are in already, restored in one
          // step: each restore is a message to the sandbox's thread, which a busy machine
          // is slow to take, and parts keep arriving meanwhile.
          const run = [await preparing.base.next(index)];
          for (let more = preparing.base.take(index + run.length); more; more = preparing.base.take(index + run.length)) run.push(more);
          for (const r of run) this.#checkModule(r.part.moduleId, staged);
          const restored = staged.instance.restore(joinParts(run.map((r) => r.part)), { handOver: run.every((r) => r.handOver) });
          if (index === 0) {
            // The first part sets the memory's size, globals and files: the others follow it.
            await restored;
            times['first-part'] = took(t0);
          } else {
            // A failure fails the base at once: the loop's wait for the next part ends with it.
            restored.catch((error: unknown) => preparing.base.fail(error as Error));
            restoring.push(restored);
          }
          index += run.length;
          if (this.#preparing.get(p.migrationId) !== preparing) throw new MigrationFailedError(`migration ${p.migrationId} was aborted`);
        }
        await Promise.all(restoring);
        // Each part was copied into one of the sandbox's state copies; the others are
        // brought up to date now, not by the delta's restore while calls are held.
        if (restoring.length > 0) await staged.instance.prime?.();
        times.restored = took(t0);
      } catch (error) {
        // Nothing is discarded under a restore still on its way.
        await Promise.allSettled(restoring);
        preparing.base.fail(error as Error);
        await this.#supervisor.discard(staged);
        throw error;
      }
      const timer = this.#peer.clock.setTimeout(() => void this.#expire(p.migrationId), p.timeoutMs + 10_000);
      let settle!: () => void;
      const settled = new Promise<void>((resolve) => (settle = resolve));
      // The source sends the held calls right behind the commit, which may still be on its
      // way or restoring when they arrive (a large commit travels in fragments): they wait
      // here until it is installed, or refused.
      this.#supervisor.expect(p.deploymentId, p.module, settled);
      this.#pending.set(p.migrationId, { deploymentId: p.deploymentId, module: p.module, step: p.step, from, staged, installed: false, timer, settle });
      return { loadedMs: performance.now() - t0, times };
    } finally {
      preparing.done();
      if (this.#preparing.get(p.migrationId) === preparing) this.#preparing.delete(p.migrationId);
    }
  }

  /** A part of the base snapshot of a prepare under way (from the peer that asked for it). */
  async part(p: MigrationPart, from: string): Promise<{ received: boolean }> {
    const preparing = this.#preparing.get(p.migrationId);
    if (!preparing || preparing.from !== from || preparing.deploymentId !== p.deploymentId) throw new MigrationFailedError(`no migration ${p.migrationId} from this peer is being prepared`);
    await preparing.base.receive(p);
    return { received: true };
  }

  /**
   * A bulk stream for the base of a prepare under way, from the peer that asked for it
   * (migration-base.ts); none (`{}`) when that peer is not linked directly.
   */
  stream(p: MigrationStream, from: string): { stream?: number } {
    const preparing = this.#preparing.get(p.migrationId);
    if (!preparing || preparing.from !== from || preparing.deploymentId !== p.deploymentId) throw new MigrationFailedError(`no migration ${p.migrationId} from this peer is being prepared`);
    if (preparing.stream) throw new MigrationFailedError(`migration ${p.migrationId} has its stream already`);
    const base = preparing.base;
    const opened = this.#peer.openBulkStream(from, (at, data) => base.piece(at, data));
    if (!opened) return {};
    preparing.stream = opened;
    return { stream: opened.stream };
  }

  /** Where the base snapshot's parts of prepare `p` arrive; it fails on abort, cancel or time limit. */
  #expectBase(p: MigrationPrepare, from: string, signal: AbortSignal | undefined): Preparing {
    const { sha256, deflate } = this.#peer;
    const base = new IncomingBase({ ...(sha256 ? { sha256 } : {}), ...(deflate ? { deflate } : {}) });
    const clock = this.#peer.clock;
    const timer = clock.setTimeout(() => base.fail(new MigrationFailedError('timed out: the base snapshot did not come')), p.timeoutMs);
    const onAbort = (): void => base.fail(new MigrationFailedError(`migration ${p.migrationId} was given up by the source`));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      preparing.stream?.close();
    };
    const preparing: Preparing = { from, deploymentId: p.deploymentId, base, done };
    this.#preparing.set(p.migrationId, preparing);
    return preparing;
  }

  /** Fetch the module's blobs (and its providers') and load it into the sandbox, not serving. */
  #stage(p: MigrationPrepare): Promise<StagedModule> {
    return stageStep(this.#peer, this.#supervisor, p.deploymentId, p.module, p.step);
  }

  /** A pre-copy round: apply what the source's calls wrote since the last round to the staged copy. */
  async round(p: MigrationRound, from: string): Promise<{ restoredMs: number }> {
    const t0 = performance.now();
    const entry = this.#prepared(p.migrationId, from);
    await this.#apply(entry, p);
    if (this.#pending.get(p.migrationId) !== entry) throw new MigrationFailedError(`migration ${p.migrationId} was aborted`);
    return { restoredMs: performance.now() - t0 };
  }

  /** Fetch, check and restore the snapshot; serve the restored instance. */
  async commit(p: MigrationCommit, from: string): Promise<CommitAnswer> {
    const t0 = performance.now();
    const took = (): number => Math.round((performance.now() - t0) * 100) / 100;
    const times: Record<string, number> = {};
    const entry = this.#prepared(p.migrationId, from);
    try {
      await this.#apply(entry, p);
      times.applied = took();
      if (this.#pending.get(p.migrationId) !== entry) throw new MigrationFailedError(`migration ${p.migrationId} was aborted`);
      this.#agent.adopt(entry.deploymentId, entry.module, { module: entry.step.module, providers: entry.step.providers });
      await this.#supervisor.install(entry.staged, p.subscriptions);
      // Before the held calls are let through (settle, below): the first of them already
      // leads on from the source's count.
      if (p.version !== undefined) this.#lineage?.adopt(entry.deploymentId, entry.module, p.version);
      entry.installed = true;
      times.installed = took();
    } finally {
      entry.settle();
    }
    return { restoredMs: performance.now() - t0, times };
  }

  /** The prepared, not yet installed migration `id` from `from`, else ERR_MIGRATION_FAILED. */
  #prepared(id: string, from: string): Pending {
    const entry = this.#pending.get(id);
    if (!entry || entry.from !== from || entry.installed) throw new MigrationFailedError(`no prepared migration ${id} from this peer`);
    return entry;
  }

  /** The snapshot of a round or commit (inline bytes checked against its hash, or fetched), restored into the staged copy. */
  async #apply(entry: Pending, p: MigrationRound): Promise<void> {
    const restore = async (snapshot: InstanceSnapshot): Promise<void> => {
      this.#checkModule(snapshot.moduleId, entry.staged);
      await entry.staged.instance.restore(snapshot);
    };
    if (!(p.data instanceof Uint8Array)) return restore(await this.#fetchSnapshot(p.snapshot));
    // Inline bytes (the hold's delta, usually) are hashed (at once on this thread with an
    // incremental hash, else by WebCrypto) while they are decoded and
    // restored: the hash's trip through the thread pool no longer adds to the hold. The
    // staged copy serves nobody until the commit installs it, and a mismatch fails the
    // migration, whose abort drops that copy; a mismatch is reported before anything the
    // corrupt bytes did.
    const data = p.data;
    const [hashed, restored] = await Promise.allSettled([hashOf(data, this.#peer.sha256), (async () => restore(decodeSnapshot(await unpackSnapshot(data, this.#peer.deflate))))()]);
    if (hashed.status === 'rejected') throw hashed.reason;
    if (hashed.value !== p.snapshot) throw new HashMismatchError(`snapshot ${p.snapshot} arrived as bytes that hash to ${hashed.value}`, { expected: p.snapshot, actual: hashed.value });
    if (restored.status === 'rejected') throw restored.reason;
  }

  /** Drop what a migration staged or installed here, unless the registry already places it here. */
  async abort(migrationId: string): Promise<{ aborted: boolean }> {
    const preparing = this.#preparing.get(migrationId);
    if (preparing) {
      // A prepare under way notices and discards what it staged.
      this.#preparing.delete(migrationId);
      preparing.base.fail(new MigrationFailedError(`migration ${migrationId} was aborted`));
      preparing.stream?.close();
      return { aborted: true };
    }
    const entry = this.#pending.get(migrationId);
    if (!entry) return { aborted: false };
    this.#pending.delete(migrationId);
    this.#peer.clock.clearTimeout(entry.timer);
    entry.settle();
    if (!entry.installed) {
      await this.#supervisor.discard(entry.staged);
      return { aborted: true };
    }
    if (this.#placedHere(entry)) return { aborted: false };
    this.#agent.forget(entry.deploymentId, entry.module);
    await this.#supervisor.undeploy(entry.deploymentId, entry.module);
    this.#log.debug(`dropped ${entry.deploymentId}/${entry.module} of migration ${migrationId}`);
    return { aborted: true };
  }

  /** Stop: drop whatever is still staged. */
  stop(): void {
    for (const id of [...this.#preparing.keys(), ...this.#pending.keys()]) void this.abort(id);
  }

  async #expire(migrationId: string): Promise<void> {
    const entry = this.#pending.get(migrationId);
    if (!entry) return;
    if (entry.installed && this.#placedHere(entry)) {
      this.#pending.delete(migrationId);
      entry.settle();
      return;
    }
    await this.abort(migrationId);
  }

  /** A snapshot blob from the mesh (verified), decoded; the blob is not kept. */
  async #fetchSnapshot(hash: string): Promise<InstanceSnapshot> {
    const bytes = await this.#peer.fetchBlob(hash, { chunkBytes: SNAPSHOT_CHUNK_BYTES, keep: false });
    return decodeSnapshot(await unpackSnapshot(bytes, this.#peer.deflate));
  }

  #checkModule(moduleId: string, staged: StagedModule): void {
    if (moduleId !== staged.moduleId) throw new SnapshotMismatchError(`snapshot of module ${moduleId.slice(0, 12)} cannot be restored into ${staged.moduleId.slice(0, 12)}`);
  }

  #placedHere(entry: Pending): boolean {
    const r = this.#peer.registry.deployments.get(entry.deploymentId)?.record;
    if (!r) return false;
    return (r.steps ?? []).some((s, i) => s.name === entry.module && placedOn(r, i, this.#peer.id));
  }

  #name(peer: string): string {
    return this.#peer.registry.devices.get(peer)?.name ?? peer.slice(0, 8);
  }
}
