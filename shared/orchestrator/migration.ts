/**
 * Live migration: move a running module instance, with its state, to another peer — or
 * clone it there — without losing or repeating a call.
 *
 * The unit is one module of one deployment on one peer (the instance every step of that
 * module name placed on the peer shares). Protocol, peer to peer over RPC:
 *
 * ```
 * initiator (any peer)          source (runs the instance)                 target
 *  migrate() ── migration.start ─▶ checks; record.migration = preparing
 *                                  ── migration.prepare {step} ───────────▶ fetches the module's blobs, loads the
 *                                  base snapshot (between two calls;        module staged (worker, compile) while
 *                                  it keeps serving), cut in ~1 MiB parts   the source is still snapshotting
 *                                  ── migration.stream ───────────────────▶ a bulk stream for the parts (direct link)
 *                                  ── migration.part {i, n, sha256, data} ▶ each part checked on arrival and
 *                                     … encoded, hashed and pushed, 3 in    restored into the staged module in
 *                                     flight (migration-base.ts)            order, while the next ones travel
 *                                  ◀───────────────────────── prepared ───┘ (once the last part is restored)
 *                                  pre-copy, still serving: the pages written
 *                                  since the last copy (sinceLast)
 *                                  ── migration.round {hash, data?} ──────▶ applied to the staged module
 *                                  … until a round is small (≤ 256 KiB), stops shrinking, or 4 have gone
 *                                  record.migration = transferring
 *                                  pause: new calls wait (FIFO), running ones finish
 *                                  snapshot; delta = pages changed since the last round
 *                                  + globals, files, tables → offered
 *                                  ── migration.commit {hash, data?, subscriptions} ▶ the delta's bytes ride in the
 *                                                                           commit when ≤ 4 MiB (else fetchBlob);
 *                                                                           sha256-checked, decoded, module hash
 *                                                                           checked, applied, installed; the step
 *                                                                           agent adopts it
 *                                  ◀──────────────────────────── restored ─┘
 *                                  move:  the waiting calls follow the commit at once (the
 *                                         target holds them until it has installed; a refused
 *                                         commit sends them back to run here); once their
 *                                         answers are back (and passed on), handoff —
 *                                         later stale-routed calls are forwarded to the target
 *                                         and answered to their callers; solution[steps] = target
 *                                  clone: resume here; replicas[steps] += target
 *                                  record.migration = done (one write with the routing)
 *  ◀──────── MigrationResult ─────┘
 * ```
 * Shipping the base first and then rounds of what calls wrote meanwhile (iterative
 * pre-copy) keeps the pause short: while calls are held only the pages the module wrote
 * since the last round travel, not its whole memory, and nothing on the hold path copies
 * or hashes the whole state. Sending `prepare` before
 * the snapshot lets the target's module load overlap the source's snapshot; the base's
 * parts overlap the source's encoding and hashing, the channel and the target's restore
 * (a prepare whose parts do not all come gives up with the migration's time limit, or on
 * `abort`).
 * Any failure before the commit returns (target gone, timeout, hash mismatch, a snapshot
 * that does not decode or belongs to another module) resumes the source with its state
 * untouched: the waiting calls run there in order, `migration.abort` tells the target to
 * drop what it staged (and a target that restored but never sees the registry place the
 * module on it unloads it by itself), and `record.migration` says `failed` with the
 * reason. The commit is the point of no return: until the source forwards, nothing can
 * reach the target's copy, so no call is answered twice and none from a stale state.
 * The coordinator leaves a deployment alone while its migration runs (coordinator.ts).
 * @module
 */
import { InvalidParamsError, MeshError, toErrorInfo } from '../errors.ts';
import { randomBytes, toHex } from '../bytes.ts';
import type { Unsubscribe } from '../events.ts';
import type { Logger } from '../log.ts';
import type { Peer } from '../mesh/peer.ts';
import type { DeploymentView } from '../registry/registry.ts';
import type { DeploymentRecord, MigrationRecord } from '../registry/schema.ts';
import { diffSnapshot, encodeSnapshot } from '../sandbox/snapshot.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { CommitOutcome } from '../supervisor/versions.ts';
import type { StepAgent } from './agent.ts';
import { DeploymentNotReadyError, MigrationFailedError, MigrationInProgressError, UnknownDeploymentError, UnknownDeviceError, UnknownModuleError } from './errors.ts';
import { type MigrationPart, type MigrationStream, openBaseStream, type StreamedBase, streamBase } from './migration-base.ts';
import { precopyRounds, shipping } from './migration-precopy.ts';
import { MigrationTarget, type CommitAnswer, type MigrationLineage, type PrepareAnswer, type MigrationCommit, type MigrationPrepare, type MigrationRound } from './migration-target.ts';

export { INLINE_DELTA_BYTES, PRECOPY_ROUNDS, PRECOPY_SMALL_BYTES } from './migration-precopy.ts';

/** Options of {@link MigrationService.migrate}. */
export interface MigrationOptions {
  /** `move` (default): the target takes over. `clone`: both keep serving from the same state. */
  mode?: 'move' | 'clone';
  /** The whole migration must finish within this, ms (default 30 s). */
  timeoutMs?: number;
}

/** What a migration did. */
export interface MigrationResult {
  migrationId: string;
  deploymentId: string;
  /** The module's name within the deployment. */
  module: string;
  /** Step indices that moved (or were cloned). */
  steps: number[];
  from: string;
  to: string;
  mode: 'move' | 'clone';
  /** Size of the encoded base snapshot — the module's state (0 when nothing had to move). */
  snapshotBytes: number;
  /** Size of the encoded delta shipped while calls were held. */
  deltaBytes: number;
  /** Pre-copy rounds shipped after the base while the source still served. */
  rounds?: number;
  /** Their encoded bytes together. */
  roundBytes?: number;
  /** Bytes the base snapshot took on the wire (less than `snapshotBytes` when compressed). */
  baseWireBytes?: number;
  /** Parts the base travelled in (each restored on arrival). */
  baseParts?: number;
  /** From the source's first step to the routing switch, ms. */
  durationMs: number;
  /** How long the source held new calls, ms: the longest extra delay a call saw. */
  pausedMs: number;
  /**
   * When each step of the source's side ended, ms from its start (`hold` marks when new
   * calls began to be held, `released` when the held ones were let go): where a move
   * spends its time, for benchmarks and debugging.
   */
  trace?: Record<string, number>;
  /**
   * `performance.timeOrigin + performance.now()` when the source started: places `trace`
   * on the clock of another peer in the same process (a benchmark's caller).
   */
  tracedFrom?: number;
  /**
   * False when the source may not write deployment records (a `device` in a mesh with
   * roles, ADR 0025): the initiator, an operator, records the new routing instead.
   */
  recorded?: boolean;
}

/** Parameters of `migration.start` (initiator → source). */
export interface MigrationStart {
  migrationId: string;
  deploymentId: string;
  module: string;
  to: string;
  mode: 'move' | 'clone';
  timeoutMs: number;
}

declare module '../rpc/methods.ts' {
  interface MeshMethods {
    /** Source: migrate one of its module instances. */
    'migration.start': { params: MigrationStart; result: MigrationResult };
    /** Target: fetch and load the module, not serving yet. */
    'migration.prepare': { params: MigrationPrepare; result: PrepareAnswer };
    /** Target: open a bulk stream for the parts of the base of a prepare under way. */
    'migration.stream': { params: MigrationStream; result: { stream?: number } };
    /** Target: a part of the base snapshot of a prepare under way. */
    'migration.part': { params: MigrationPart; result: { received: boolean } };
    /** Target: a pre-copy round, applied to the staged copy. */
    'migration.round': { params: MigrationRound; result: { restoredMs: number } };
    /** Target: fetch the snapshot blob, restore it and serve. */
    'migration.commit': { params: MigrationCommit; result: CommitAnswer };
    /** Target: drop what a migration staged or restored. */
    'migration.abort': { params: { migrationId: string }; result: { aborted: boolean } };
  }
}

/**
 * What a failed commit means for the calls sent behind it: `refused` when the target
 * answered that it did not install the copy (or is gone with it), `unknown` when no
 * answer came (it may have installed the copy and run them).
 */
function commitOutcome(error: unknown): CommitOutcome {
  if (!(error instanceof MeshError)) return 'unknown';
  return ['ERR_RPC_TIMEOUT', 'ERR_ABORTED', 'ERR_NOT_CONNECTED', 'ERR_PEER_UNREACHABLE'].includes(error.code) ? 'unknown' : 'refused';
}

/**
 * How long a move waits, once committed, for the answers to the calls it held before it
 * closes its copy and writes the routing, ms: a held call that runs long delays only the
 * routing switch (calls meanwhile still reach the target through this peer).
 */
export const HELD_ANSWERS_WAIT_MS = 1000;

/** Default time limit of a migration, ms. */
export const DEFAULT_MIGRATION_TIMEOUT_MS = 30_000;

const SETTLED = new Set(['ready', 'rolled-back']);

/** True while `m` is under way. */
export function migrationActive(m: MigrationRecord | undefined): boolean {
  return m !== undefined && (m.phase === 'preparing' || m.phase === 'transferring');
}

/** Both sides of live migration on one peer, and the initiator's entry points. */
export class MigrationService {
  readonly #peer: Peer;
  readonly #supervisor: Supervisor;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #target: MigrationTarget;
  readonly #lineage: MigrationLineage | undefined;
  /** Deployments this peer is migrating a module of, as the source. */
  readonly #active = new Set<string>();

  constructor(options: { peer: Peer; supervisor: Supervisor; agent: StepAgent; logger: Logger; now: () => number; lineage?: MigrationLineage }) {
    this.#lineage = options.lineage;
    this.#peer = options.peer;
    this.#supervisor = options.supervisor;
    this.#log = options.logger;
    this.#now = options.now;
    this.#target = new MigrationTarget(options);
  }

  /** True while this peer, as the source, is migrating a module of deployment `id`. */
  migrating(id: string): boolean {
    return this.#active.has(id);
  }

  /**
   * Close migrations the registry says this peer is running as the source but it is not
   * (it restarted mid-way): they are marked failed, so that nothing waits on them.
   */
  reconcile(): void {
    for (const view of this.#peer.registry.deployments.values()) {
      const m = view.record.migration;
      if (!m || m.from !== this.#peer.id || !migrationActive(m) || this.#active.has(view.record.id)) continue;
      this.#write(view.record.id, () => ({ migration: { ...m, phase: 'failed', reason: 'the source restarted during the migration', updatedAt: this.#now() } }));
    }
  }

  /** Serve the migration RPC methods. */
  serve(): Unsubscribe {
    const rpc = this.#peer.rpc;
    const offs = [
      rpc.handle('migration.start', (p) => this.#start(p)),
      rpc.handle('migration.prepare', (p, ctx) => this.#target.prepare(p, ctx.from, ctx.signal)),
      rpc.handle('migration.stream', (p, ctx) => this.#target.stream(p, ctx.from)),
      rpc.handle('migration.part', (p, ctx) => this.#target.part(p, ctx.from)),
      rpc.handle('migration.round', (p, ctx) => this.#target.round(p, ctx.from)),
      rpc.handle('migration.commit', (p, ctx) => this.#target.commit(p, ctx.from)),
      rpc.handle('migration.abort', (p) => this.#target.abort(p.migrationId)),
    ];
    return () => {
      offs.forEach((off) => off());
      this.#target.stop();
    };
  }

  /**
   * Migrate module `moduleRef` (step index, module name, or module id) of a deployment
   * to the device `deviceRef` (id or name). Resolves when the routing has switched.
   * Rejects with ERR_UNKNOWN_DEVICE, ERR_UNKNOWN_MODULE, ERR_DEPLOYMENT_NOT_READY,
   * ERR_MIGRATION_IN_PROGRESS, ERR_INVALID_PARAMS (a name placed on several peers, a clone
   * onto its own peer) or ERR_MIGRATION_FAILED (the source serves on).
   */
  async migrate(view: DeploymentView, moduleRef: string, deviceRef: string, options: MigrationOptions = {}): Promise<MigrationResult> {
    const r = view.record;
    const mode = options.mode ?? 'move';
    if (mode !== 'move' && mode !== 'clone') throw new InvalidParamsError(`mode must be move or clone, not ${String(mode)}`);
    const timeoutMs = options.timeoutMs ?? DEFAULT_MIGRATION_TIMEOUT_MS;
    const to = this.#device(deviceRef);
    const { name, from, steps } = resolveModule(r, moduleRef);
    if (migrationActive(r.migration)) throw new MigrationInProgressError(`deployment ${r.name} is migrating ${r.migration!.module} already`, { deployment: r.id });
    if (!SETTLED.has(r.status)) throw new DeploymentNotReadyError(`deployment ${r.name} is ${r.status}; only a ready deployment migrates`, { deployment: r.id });
    if (from === to) {
      if (mode === 'clone') throw new InvalidParamsError(`${name} runs on that device already: a clone needs another one`);
      return { migrationId: '', deploymentId: r.id, module: name, steps, from, to, mode, snapshotBytes: 0, deltaBytes: 0, durationMs: 0, pausedMs: 0 };
    }
    const start: MigrationStart = { migrationId: toHex(randomBytes(8)), deploymentId: r.id, module: name, to, mode, timeoutMs };
    try {
      const result = await this.#peer.call(from, 'migration.start', start, { timeoutMs: timeoutMs + 5000 });
      if (result.recorded === false) this.#record(result);
      return result;
    } catch (error) {
      if (error instanceof MeshError && error.code.startsWith('ERR_MIGRATION')) throw error;
      if (error instanceof MeshError && ['ERR_UNKNOWN_MODULE', 'ERR_DEPLOYMENT_NOT_READY', 'ERR_UNKNOWN_DEPLOYMENT'].includes(error.code)) throw error;
      const info = toErrorInfo(error);
      throw new MigrationFailedError(`migration of ${name} to ${this.#name(to)} failed: ${info.code}: ${info.message}`, { reason: info.message, code: info.code });
    }
  }

  /** Move every module of a deployment to one device, one after another. */
  async followMe(view: DeploymentView, deviceRef: string, options: Omit<MigrationOptions, 'mode'> = {}): Promise<MigrationResult[]> {
    const to = this.#device(deviceRef);
    const groups = new Map<string, number>();
    for (const [i, s] of (view.record.steps ?? []).entries()) {
      const peer = view.record.solution[String(i)];
      if (peer && peer !== to && !groups.has(`${s.name}\u0000${peer}`)) groups.set(`${s.name}\u0000${peer}`, i);
    }
    const results: MigrationResult[] = [];
    for (const index of groups.values()) {
      const current = this.#peer.registry.deployments.get(view.record.id);
      if (!current) throw new UnknownDeploymentError(`deployment ${view.record.name} was deleted`, { deployment: view.record.id });
      results.push(await this.migrate(current, String(index), to, { ...options, mode: 'move' }));
    }
    return results;
  }

  /** The source side: everything between `migration.start` and the routing switch. */
  async #start(p: MigrationStart): Promise<MigrationResult> {
    const t0 = performance.now();
    const trace: Record<string, number> = {};
    const mark = (step: string): void => void (trace[step] = Math.round((performance.now() - t0) * 100) / 100);
    // Time limits run on the peer's clock (simulated in the simulator); figures on performance.now.
    const clock = this.#peer.clock;
    const deadline = clock.now() + p.timeoutMs;
    const left = (): number => Math.max(1, deadline - clock.now());
    const view = this.#peer.registry.deployments.get(p.deploymentId);
    if (!view) throw new UnknownDeploymentError(`no deployment ${p.deploymentId}`, { deployment: p.deploymentId });
    const r = view.record;
    const self = this.#peer.id;
    const steps = (r.steps ?? []).flatMap((s, i) => (s.name === p.module && r.solution[String(i)] === self ? [i] : []));
    if (steps.length === 0) throw new UnknownModuleError(`${p.module} of ${r.name} does not run on ${this.#name(self)}`, { deployment: r.id, module: p.module });
    if (!SETTLED.has(r.status)) throw new DeploymentNotReadyError(`deployment ${r.name} is ${r.status}`, { deployment: r.id });
    if (this.#active.has(r.id) || migrationActive(r.migration)) throw new MigrationInProgressError(`deployment ${r.name} is migrating already`, { deployment: r.id });
    if (!this.#peer.alive().includes(p.to)) throw new UnknownDeviceError(`device ${this.#name(p.to)} is not reachable`, { device: p.to });
    this.#active.add(r.id);
    const record: MigrationRecord = { id: p.migrationId, module: p.module, steps, from: self, to: p.to, mode: p.mode, phase: 'preparing', startedAt: this.#now(), updatedAt: this.#now() };
    this.#write(r.id, () => ({ migration: record }));
    let paused = false;
    let pausedAt = 0;
    // Snapshots are offered from memory, never written to the store: they are fetched once.
    const offered: string[] = [];
    try {
      const instance = this.#supervisor.instance(r.id, p.module);
      // The target loads the module while the base snapshot is taken; its parts follow in
      // `migration.part`.
      const prepared = this.#peer.call(p.to, 'migration.prepare', { migrationId: p.migrationId, deploymentId: r.id, module: p.module, step: r.steps![steps[0]!]!, timeoutMs: p.timeoutMs }, { timeoutMs: left() });
      prepared.catch(() => undefined);
      let prepareFailure: unknown;
      prepared.catch((error: unknown) => (prepareFailure ??= error));
      const send = { peer: this.#peer, to: p.to, migrationId: p.migrationId, deploymentId: r.id, left, offered };
      // The base's stream is asked for right behind the prepare: its round trip passes
      // while the snapshot is taken.
      const opening = openBaseStream(send);
      const first = await this.#within(instance.snapshot(), left(), 'the snapshot took too long');
      mark('snapshot');
      // The base travels in parts, encoded, hashed and sent while the target restores the
      // ones before (compressed only where the first part shows it pays; the delta,
      // shipped while calls are held, travels as it is).
      let base: StreamedBase;
      try {
        base = await streamBase(send, first, opening);
      } catch (error) {
        // A prepare that failed already says why better than the part it no longer takes.
        throw prepareFailure ?? error;
      }
      mark('base-sent');
      const target = await prepared;
      mark('prepared');
      for (const [step, at] of Object.entries(target.times ?? {})) trace[`target-${step}`] = at;
      // Pre-copy: while the module serves, ship what its calls wrote since the last copy,
      // until that is small; only then hold calls. The rounds also let the target's
      // sandbox ready its state buffers, so that nothing it does while calls are held
      // copies the whole memory.
      const written = instance.writtenSinceSnapshot?.bind(instance);
      const precopy = await precopyRounds(
        send,
        (options) => this.#within(instance.snapshot(options), left(), 'the snapshot took too long'),
        written && (() => this.#within(written(), left(), 'the snapshot took too long')),
      );
      mark('precopy');
      this.#write(r.id, () => ({ migration: { ...record, phase: 'transferring', updatedAt: this.#now() } }));
      pausedAt = performance.now();
      paused = true;
      mark('hold');
      await this.#within(this.#supervisor.pause(r.id, p.module), left(), 'the calls in progress did not finish');
      mark('drained');
      // Only what the calls since the last round wrote, when the sandbox tracks it.
      const last = await this.#within(instance.snapshot({ sinceLast: true }), left(), 'the snapshot took too long');
      mark('delta');
      // Untracked modules answer with the whole state: then the pages that differ from
      // the base (no round was shipped), or the whole state (rounds were).
      const bytes = encodeSnapshot(last.delta || precopy.rounds > 0 ? last : diffSnapshot(first, last));
      const subscriptions = this.#supervisor.subscriptionsOf(r.id, p.module);
      const version = this.#lineage?.versionOf(r.id, p.module);
      const commit: MigrationCommit = { ...(await shipping(send, bytes)), subscriptions, ...(version !== undefined ? { version } : {}) };
      mark('hashed');
      const committing = this.#peer.call(p.to, 'migration.commit', commit, { timeoutMs: left() });
      let pausedMs = 0;
      if (p.mode === 'move') {
        // The held calls follow the commit at once, not after its answer: the target runs
        // them once it has installed the copy. A refused commit leaves them to run here.
        this.#supervisor.sendHeldAhead(r.id, p.module, p.to, committing.then(() => 'committed' as const, commitOutcome));
        pausedMs = performance.now() - pausedAt;
        mark('released');
      }
      const committed = await committing;
      mark('committed');
      for (const [step, at] of Object.entries(committed.times ?? {})) trace[`target-commit-${step}`] = at;
      if (p.mode === 'move') {
        // The held calls' answers reach their callers first: closing this copy and writing
        // the routing (which every peer applies) would hold them up on this thread. Calls
        // arriving meanwhile still follow the commit, so nothing runs here any more.
        const clock = this.#peer.clock;
        // A turn of the event loop after the last answer: it is sent on to its caller by then.
        const answered = this.#supervisor.heldAnswered(r.id, p.module).then(() => new Promise<void>((resolve) => clock.setTimeout(resolve, 0)));
        await this.#settled(answered, HELD_ANSWERS_WAIT_MS);
        mark('held-answered');
      }
      // Committed: the target serves the restored copy. A clone's held calls run here now;
      // a move's went ahead, and closing the source's copy follows.
      const closing = p.mode === 'move' ? this.#supervisor.handoff(r.id, p.module, p.to) : this.#supervisor.resume(r.id, p.module);
      paused = false;
      if (p.mode === 'clone') {
        pausedMs = performance.now() - pausedAt;
        mark('released');
      }
      await closing;
      const durationMs = performance.now() - t0;
      const recorded = this.#write(r.id, (current) => routed(current, { ...record, phase: 'done', updatedAt: this.#now(), snapshotBytes: base.bytes, pausedMs }));
      mark('recorded');
      this.#log.debug(`migrated ${r.name}/${p.module} to ${this.#name(p.to)} (${p.mode}) in ${durationMs.toFixed(1)} ms, paused ${pausedMs.toFixed(1)} ms`);
      return { migrationId: p.migrationId, deploymentId: r.id, module: p.module, steps, from: self, to: p.to, mode: p.mode, snapshotBytes: base.bytes, baseWireBytes: base.wireBytes, baseParts: base.parts, deltaBytes: bytes.byteLength, rounds: precopy.rounds, roundBytes: precopy.bytes, durationMs, pausedMs, recorded, trace, tracedFrom: performance.timeOrigin + t0 };
    } catch (error) {
      if (paused) this.#supervisor.resume(r.id, p.module);
      void this.#peer.call(p.to, 'migration.abort', { migrationId: p.migrationId }, { timeoutMs: 5000 }).catch(() => undefined);
      const info = toErrorInfo(error);
      const reason = `${info.code}: ${info.message}`;
      this.#write(r.id, () => ({ migration: { ...record, phase: 'failed', reason: reason.slice(0, 10_000), updatedAt: this.#now() } }));
      this.#log.debug(`migration of ${r.name}/${p.module} to ${this.#name(p.to)} failed: ${reason}`);
      throw new MigrationFailedError(`migration of ${p.module} to ${this.#name(p.to)} failed, ${this.#name(self)} serves on: ${reason}`, { reason: info.message, code: info.code });
    } finally {
      this.#active.delete(r.id);
      for (const hash of offered) this.#peer.withdrawBlob(hash);
    }
  }

  /**
   * Rewrite the deployment record from its current value (the migration field and routing
   * only). False when there is no record, or this peer may not write it (a `device` in a
   * mesh with roles: the operator who asked for the migration records its outcome).
   */
  #write(id: string, patch: (current: DeploymentRecord) => Partial<DeploymentRecord>): boolean {
    const current = this.#peer.registry.deployments.get(id)?.record;
    if (!current) return false;
    try {
      this.#peer.registry.deployments.put({ ...current, ...patch(current), updatedAt: this.#now() });
      return true;
    } catch (error) {
      if (!(error instanceof MeshError) || error.code !== 'ERR_WRITE_FORBIDDEN') throw error;
      this.#log.debug(`not recording the migration of deployment ${id}: ${error.message}`);
      return false;
    }
  }

  /** The initiator records a migration its source could not (the source is a `device`). */
  #record(result: MigrationResult): void {
    const now = this.#now();
    const migration: MigrationRecord = {
      id: result.migrationId, module: result.module, steps: result.steps, from: result.from, to: result.to, mode: result.mode,
      phase: 'done', startedAt: now - Math.round(result.durationMs), updatedAt: now, snapshotBytes: result.snapshotBytes, pausedMs: result.pausedMs,
    };
    this.#write(result.deploymentId, (current) => routed(current, migration));
  }

  /** Resolves when `work` settles or after `ms`, whichever is first (on the peer's clock). */
  async #settled(work: Promise<unknown>, ms: number): Promise<void> {
    const clock = this.#peer.clock;
    let timer: ReturnType<typeof clock.setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = clock.setTimeout(resolve, ms)));
    await Promise.race([work.then(() => undefined, () => undefined), late]);
    clock.clearTimeout(timer!);
  }

  /** `work`, or ERR_MIGRATION_FAILED saying `what` after `ms`. */
  #within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
    const clock = this.#peer.clock;
    let timer: ReturnType<typeof clock.setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(() => reject(new MigrationFailedError(`timed out: ${what}`, { reason: what })), ms);
    });
    return Promise.race([work, timeout]).finally(() => clock.clearTimeout(timer!));
  }

  /** A device by id or name (an alive one first when names repeat). */
  #device(ref: string): string {
    const devices = this.#peer.registry.devices.values();
    const alive = new Set([...this.#peer.alive(), this.#peer.id]);
    const byId = devices.find((d) => d.id === ref);
    const named = devices.filter((d) => d.name === ref).sort((a, b) => Number(alive.has(b.id)) - Number(alive.has(a.id)));
    const device = byId ?? named[0];
    // An alive peer whose description has not reached this registry yet is a device too.
    if (!device && alive.has(ref)) return ref;
    if (!device) throw new UnknownDeviceError(`no device ${ref}`, { device: ref });
    if (!alive.has(device.id)) throw new UnknownDeviceError(`device ${device.name} is not alive`, { device: ref });
    return device.id;
  }

  #name(peer: string): string {
    return this.#peer.registry.devices.get(peer)?.name ?? peer.slice(0, 8);
  }
}

/** The routing after a finished migration: the target serves the steps (move) or serves them too (clone). */
function routed(current: DeploymentRecord, migration: MigrationRecord): Partial<DeploymentRecord> {
  if (migration.mode === 'move') {
    const solution = { ...current.solution };
    for (const i of migration.steps) solution[String(i)] = migration.to;
    return { migration, solution };
  }
  const replicas = { ...(current.replicas ?? {}) };
  for (const i of migration.steps) replicas[String(i)] = [...new Set([...(replicas[String(i)] ?? []), migration.to])];
  return { migration, replicas };
}

/**
 * The module `ref` names in a deployment — a step index, a module name, a module id — and
 * the one peer it runs on. ERR_UNKNOWN_MODULE when nothing matches, ERR_INVALID_PARAMS
 * when the name is placed on several peers (name the step index then).
 */
export function resolveModule(r: DeploymentRecord, ref: string): { name: string; from: string; steps: number[] } {
  const steps = r.steps ?? [];
  const matching = /^\d+$/.test(ref) && steps[Number(ref)] ? [Number(ref)] : steps.flatMap((s, i) => (s.name === ref || s.module === ref ? [i] : []));
  if (matching.length === 0) throw new UnknownModuleError(`deployment ${r.name} has no module ${ref}`, { deployment: r.id, module: ref });
  const name = steps[matching[0]!]!.name;
  const sources = new Set(matching.map((i) => r.solution[String(i)]).filter((p): p is string => p !== undefined));
  if (sources.size !== 1) {
    throw new InvalidParamsError(`${name} of ${r.name} runs on ${sources.size} devices: name the step index (${matching.join(', ')})`, { deployment: r.id, module: ref });
  }
  const from = [...sources][0]!;
  return { name, from, steps: steps.flatMap((s, i) => (s.name === name && r.solution[String(i)] === from ? [i] : [])) };
}
