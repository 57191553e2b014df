/**
 * Hot standby (ADR 0038): warm copies of a step's instance on other peers, kept current
 * after every call, one of which takes over within milliseconds of its primary's death.
 *
 * ```
 * caller                  primary (record.solution)                 standby (record.standby)
 *  chain.run {callId} ──▶ calls of the module run one at a time:
 *                          run the call
 *                          snapshot({ sinceLast }) — pages it wrote
 *                          ── standby.state {epoch, seq, delta, callId, outcome} ──▶ applied to the staged
 *                                                                                     copy; outcome kept by callId
 *                          ◀───────────────────────────────────────────── {seq} ────┘
 *  ◀──── answer ──────────┘ (only now: every acknowledged call's state is on every standby)
 *
 * the primary's link turns suspect (its will) or drops, or a caller asks (standby.promote):
 *                                                         the first alive standby installs its copy,
 *                                                         writes solution = self, epoch + 1 (one write)
 *  chain.run {same callId} ──────────────────────────────▶ answered from the kept outcome when the
 *                                                         call's state arrived, else run once
 * ```
 * A standby's first state is a whole snapshot (`full`, with the step, which it loads
 * without serving); later ones are deltas numbered `seq`, and a gap makes the primary
 * send a whole snapshot again. Fencing: a standby refuses state (ERR_STANDBY_FENCED) once
 * it is promoted, from a peer the record does not name as the primary, or of an epoch
 * older than the record's; the primary then fails the call instead of answering it, so a
 * primary that was only cut off never acknowledges a call after the promotion.
 * @module
 */
import { randomBytes, sha256Hex, toHex } from '../bytes.ts';
import { HashMismatchError, MeshError, toErrorInfo } from '../errors.ts';
import type { Unsubscribe } from '../events.ts';
import type { Logger } from '../log.ts';
import type { Peer } from '../mesh/peer.ts';
import type { DeployedStep, DeploymentRecord } from '../registry/schema.ts';
import type { InstanceSnapshot } from '../ports/sandbox.ts';
import { decodeSnapshot, encodeSnapshot } from '../sandbox/snapshot.ts';
import { unpackSnapshot } from '../sandbox/snapshot-packing.ts';
import type { CallOutcome } from '../supervisor/call-shapes.ts';
import { type ModuleKey, moduleKey, moduleOfKey } from '../supervisor/module-key.ts';
import type { StagedModule, Supervisor } from '../supervisor/supervisor.ts';
import type { StepAgent } from './agent.ts';
import { NotStandbyError, StandbyFencedError, StandbySyncError, UnknownDeploymentError } from './errors.ts';
import { shipping } from './migration-precopy.ts';
import { stageStep } from './stage-step.ts';

/** Parameters of `standby.state` (primary → standby). */
export interface StandbyState {
  deploymentId: string;
  /** The module's name within the deployment. */
  module: string;
  /** The record's epoch the primary serves under. */
  epoch: number;
  /** Number of this state in the primary's sequence for this standby (the whole snapshot restarts it). */
  seq: number;
  /** A whole snapshot (then `step` says what to load); otherwise the pages the last call wrote. */
  full: boolean;
  step?: DeployedStep;
  /** sha256 of the encoded snapshot; its bytes inline in `data`, or offered by the primary. */
  snapshot: string;
  bytes: number;
  data?: Uint8Array;
  /** The call whose effect this state holds, and what it answered. */
  callId?: string;
  outcome?: CallOutcome;
}

declare module '../rpc/methods.ts' {
  interface MeshMethods {
    /** Standby: apply the primary's state (a whole snapshot or the last call's delta). */
    'standby.state': { params: StandbyState; result: { seq: number } };
    /** Standby: take over the module now (idempotent). */
    'standby.promote': { params: { deploymentId: string; module: string }; result: { epoch: number } };
  }
}

/** Outcomes kept per module for answering a retried call; the oldest go first. */
const KEPT_OUTCOMES = 1024;

/** Longest a whole snapshot may take to reach a standby, ms. */
const BASE_TIMEOUT_MS = 30_000;

/** Longest a standby waits for its registry to name it one before it refuses a primary's state, ms. */
const RECORD_WAIT_MS = 5000;

/** How long a suspect peer is not waited for unless it leaves or links again first, ms. */
const SUSPECT_MS = 5000;

/** Longest a delta may take to reach a standby, ms: a call waits for it. */
const DELTA_TIMEOUT_MS = 10_000;

/** A warm copy this peer holds for another peer's module. */
interface Following {
  deploymentId: string;
  module: string;
  step: DeployedStep;
  from: string;
  seq: number;
  staged?: StagedModule;
  promoting?: Promise<{ epoch: number }>;
}

/** What a primary knows of one of its standbys: the last `seq` it applied, or undefined (send a whole snapshot). */
type Synced = Map<string, number | undefined>;

/** Both sides of hot standby on one peer. */
export class StandbyService {
  readonly #peer: Peer;
  readonly #supervisor: Supervisor;
  readonly #agent: StepAgent;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #following = new Map<ModuleKey, Following>();
  /** Work on a followed module, one at a time (stage, restore, promote). */
  readonly #followQueue = new Map<ModuleKey, Promise<unknown>>();
  readonly #leading = new Map<ModuleKey, { queue: Promise<unknown>; synced: Synced }>();
  readonly #outcomes = new Map<ModuleKey, Map<string, CallOutcome>>();
  /** Modules this peer took over, with the epoch it recorded: a record of an older epoch is stale. */
  readonly #promoted = new Map<ModuleKey, { epoch: number; revision: number }>();
  /** Peers whose link turned suspect and has not been heard from since: no standby waits on them. */
  readonly #suspect = new Set<string>();
  /** Modules whose standbys are being given a copy outside a call. */
  readonly #warming = new Set<ModuleKey>();
  /**
   * Deployment records as every call reads them, while the registry's generation stays the
   * same: a validated read of the record and its phases on every call was a twentieth of
   * a gateway call's time on the main thread.
   */
  readonly #records = new Map<string, DeploymentRecord | null>();
  #recordsOf = -1;

  constructor(options: { peer: Peer; supervisor: Supervisor; agent: StepAgent; logger: Logger; now: () => number }) {
    this.#peer = options.peer;
    this.#supervisor = options.supervisor;
    this.#agent = options.agent;
    this.#log = options.logger;
    this.#now = options.now;
  }

  /** Serve the standby RPC methods, wrap this peer's calls, and promote on a primary's death. */
  serve(): Unsubscribe {
    const rpc = this.#peer.rpc;
    this.#supervisor.wrapCalls((call, run) => this.#wrap(call.deploymentId, call.module, call.input.callId, run));
    this.#agent.keepWhile((deploymentId, name) => this.#outranks(moduleKey(deploymentId, name)));
    const onGone = (peer: string): void => this.#primaryGone(peer);
    const offs = [
      rpc.handle('standby.state', (p, ctx) => this.#state(p, ctx.from)),
      rpc.handle('standby.promote', (p) => this.promote(p.deploymentId, p.module)),
      this.#peer.on('link-suspect', (peer) => {
        this.#suspect.add(peer);
        // A hint only: a peer that stays (it lost just the signaling server) counts again soon.
        this.#peer.clock.setTimeout(() => this.#suspect.delete(peer), SUSPECT_MS);
        onGone(peer);
      }),
      this.#peer.on('device-left', (peer) => {
        this.#suspect.delete(peer);
        onGone(peer);
      }),
      this.#peer.on('link-up', (peer) => this.#suspect.delete(peer)),
    ];
    return () => {
      offs.forEach((off) => off());
      this.#supervisor.wrapCalls(undefined);
      for (const f of this.#following.values()) if (f.staged && !f.promoting) void this.#supervisor.discard(f.staged);
      this.#following.clear();
    };
  }

  /**
   * Drop warm copies the registry no longer asks of this peer, and give new standbys of
   * this peer's modules their copy now rather than at the next call. Cheap; call on
   * registry changes.
   */
  reconcile(): void {
    this.#reassert();
    const alive = new Set(this.#peer.alive());
    for (const view of this.#peer.registry.deployments.values()) {
      const r = view.record;
      if (!r.standby) continue;
      const modules = new Set((r.steps ?? []).filter((_s, i) => r.solution[String(i)] === this.#peer.id).map((s) => s.name));
      for (const module of modules) {
        const key = moduleKey(r.id, module);
        const synced = this.#leading.get(key)?.synced;
        const missing = standbysOf(r, module, this.#peer.id, this.#reachable(alive)).filter((t) => synced?.get(t) === undefined);
        if (missing.length > 0 && !this.#warming.has(key) && this.#supervisor.deployed().some((d) => d.deploymentId === r.id && d.name === module)) this.#warm(key, r.id, module);
      }
    }
    for (const [key, f] of this.#following) {
      if (f.promoting) continue;
      const r = this.#peer.registry.deployments.get(f.deploymentId)?.record;
      if (r && standbyStepsOf(r, f.module, this.#peer.id).length > 0) continue;
      this.#following.delete(key);
      if (f.staged) void this.#supervisor.discard(f.staged);
      this.#log.debug(`no longer a standby of ${f.deploymentId}/${f.module}`);
    }
    for (const key of this.#leading.keys()) {
      if (!this.#peer.registry.deployments.get(moduleOfKey(key).deploymentId)) this.#leading.delete(key);
    }
    for (const key of this.#outcomes.keys()) {
      if (!this.#peer.registry.deployments.get(moduleOfKey(key).deploymentId)) this.#outcomes.delete(key);
    }
  }

  /**
   * Take over a module this peer holds a warm copy of: serve it, and record this peer as
   * the primary under a new epoch. Idempotent. ERR_NOT_STANDBY when there is no copy.
   */
  promote(deploymentId: string, module: string): Promise<{ epoch: number }> {
    const key = moduleKey(deploymentId, module);
    const f = this.#following.get(key);
    if (!f) {
      const r = this.#peer.registry.deployments.get(deploymentId)?.record;
      // Promoted already (the copy now serves as the placed step): nothing to do.
      if (r && primaryStepsOf(r, module, this.#peer.id).length > 0 && this.#outcomes.has(key)) return Promise.resolve({ epoch: r.epoch ?? 0 });
      return Promise.reject(new NotStandbyError(`${this.#name(this.#peer.id)} holds no warm copy of ${module}`, { deploymentId, module }));
    }
    f.promoting ??= this.#serialFollow(key, async () => {
      if (!f.staged) throw new NotStandbyError(`${this.#name(this.#peer.id)} has not received the state of ${module} yet`, { deploymentId, module });
      const r = this.#peer.registry.deployments.get(deploymentId)?.record;
      if (!r) throw new UnknownDeploymentError(`no deployment ${deploymentId}`, { deployment: deploymentId });
      const steps = standbyStepsOf(r, module, this.#peer.id);
      if (steps.length === 0) throw new NotStandbyError(`${this.#name(this.#peer.id)} is no standby of ${module}`, { deploymentId, module });
      this.#outcomes.set(key, this.#outcomes.get(key) ?? new Map());
      this.#agent.adopt(deploymentId, module, { module: f.step.module, providers: f.step.providers });
      await this.#supervisor.install(f.staged);
      this.#following.delete(key);
      const epoch = (r.epoch ?? 0) + 1;
      const current = this.#peer.registry.deployments.get(deploymentId)?.record ?? r;
      const solution = { ...current.solution };
      const standby = { ...(current.standby ?? {}) };
      for (const i of steps) {
        const old = solution[String(i)];
        solution[String(i)] = this.#peer.id;
        const rest = (standby[String(i)] ?? []).filter((p) => p !== this.#peer.id && p !== old);
        if (rest.length > 0) standby[String(i)] = rest;
        else delete standby[String(i)];
      }
      const next: DeploymentRecord = { ...current, solution, standby, epoch, updatedAt: this.#now() };
      if (Object.keys(standby).length === 0) delete next.standby;
      try {
        this.#peer.registry.deployments.put(next);
      } catch (error) {
        this.#log.warn(`promoted ${module} of ${r.name} but could not record it: ${(error as Error).message}`);
      }
      this.#promoted.set(key, { epoch, revision: current.revision });
      this.#log.debug(`promoted: ${this.#name(this.#peer.id)} serves ${r.name}/${module} (epoch ${epoch})`);
      return { epoch };
    });
    return f.promoting;
  }

  /**
   * The higher epoch wins: a record written concurrently on the other side of a partition
   * (an older epoch naming the old primary) may win the registry's merge; a peer that
   * took a module over writes its takeover again, so that the old primary stays fenced.
   */
  #reassert(): void {
    for (const [key, { epoch, revision }] of this.#promoted) {
      const { deploymentId, name: module } = moduleOfKey(key);
      const r = this.#peer.registry.deployments.get(deploymentId)?.record;
      // Another revision places the module afresh: the takeover is history.
      if (!r || r.revision !== revision) {
        this.#promoted.delete(key);
        continue;
      }
      if ((r.epoch ?? 0) > epoch) {
        this.#promoted.delete(key);
        continue;
      }
      if ((r.epoch ?? 0) === epoch) continue;
      const solution = { ...r.solution };
      const standby = { ...(r.standby ?? {}) };
      for (const [i, s] of (r.steps ?? []).entries()) {
        if (s.name !== module) continue;
        solution[String(i)] = this.#peer.id;
        const rest = (standby[String(i)] ?? []).filter((p) => p !== this.#peer.id);
        if (rest.length > 0) standby[String(i)] = rest;
        else delete standby[String(i)];
      }
      const next: DeploymentRecord = { ...r, solution, standby, epoch, updatedAt: this.#now() };
      if (Object.keys(standby).length === 0) delete next.standby;
      try {
        this.#peer.registry.deployments.put(next);
        this.#log.debug(`a record of an older epoch named another primary for ${module}: written again at epoch ${epoch}`);
      } catch (error) {
        this.#log.warn(`could not record the takeover of ${module} again: ${(error as Error).message}`);
      }
    }
  }

  /** Peers whose link turned suspect and has not been heard from since (the coordinator places no standby there). */
  suspect(): ReadonlySet<string> {
    return this.#suspect;
  }

  /** `alive` less the peers whose link is suspect (a killed process's will arrived): a call does not wait on them. */
  #reachable(alive: Set<string>): Set<string> {
    for (const p of this.#suspect) alive.delete(p);
    return alive;
  }

  /** True while this peer took `key` over at an epoch newer than the record's (the record is stale). */
  #outranks(key: ModuleKey): boolean {
    const promoted = this.#promoted.get(key);
    if (!promoted) return false;
    const r = this.#peer.registry.deployments.get(moduleOfKey(key).deploymentId)?.record;
    return r !== undefined && r.revision === promoted.revision && (r.epoch ?? 0) < promoted.epoch;
  }

  /** A peer may be gone: promote the modules it was the primary of, where this peer is the first standby alive. */
  #primaryGone(peer: string): void {
    const alive = new Set(this.#peer.alive());
    alive.delete(peer);
    for (const f of this.#following.values()) {
      if (f.from !== peer || f.promoting || !f.staged) continue;
      const r = this.#peer.registry.deployments.get(f.deploymentId)?.record;
      if (!r) continue;
      const first = standbyStepsOf(r, f.module, this.#peer.id).flatMap((i) => r.standby?.[String(i)] ?? []).find((p) => p === this.#peer.id || alive.has(p));
      if (first !== this.#peer.id) continue;
      this.promote(f.deploymentId, f.module).catch((error: unknown) => this.#log.warn(`could not take over ${f.module}: ${(error as Error).message}`));
    }
  }

  /** The standby side of `standby.state`. */
  async #state(p: StandbyState, from: string): Promise<{ seq: number }> {
    const key = moduleKey(p.deploymentId, p.module);
    // The primary may have seen the record name this peer a standby before this peer did.
    const r = await this.#recordNaming(p, from);
    if (!r) throw new UnknownDeploymentError(`no deployment ${p.deploymentId}`, { deployment: p.deploymentId });
    const following = this.#following.get(key);
    if (following?.promoting || this.#promoted.has(key) || fenced(r, p, from)) {
      throw new StandbyFencedError(`${this.#name(this.#peer.id)} no longer follows ${this.#name(from)} for ${p.module} (epoch ${r.epoch ?? 0})`, { epoch: r.epoch ?? 0 });
    }
    if (standbyStepsOf(r, p.module, this.#peer.id).length === 0) throw new NotStandbyError(`${this.#name(this.#peer.id)} is no standby of ${p.module}`, { deploymentId: p.deploymentId, module: p.module });
    return this.#serialFollow(key, async () => {
      let f = this.#following.get(key);
      if (!p.full && (!f?.staged || f.from !== from || p.seq !== f.seq + 1)) {
        throw new StandbySyncError(`${this.#name(this.#peer.id)} missed state of ${p.module} before ${p.seq}`, { standby: this.#peer.id, seq: f?.seq ?? -1 });
      }
      const snapshot = await this.#received(p);
      if (p.full) {
        if (!p.step) throw new StandbySyncError('a whole snapshot must name its step', { standby: this.#peer.id });
        if (f?.staged && (f.step.module !== p.step.module || f.from !== from)) {
          await this.#supervisor.discard(f.staged);
          delete f.staged;
        }
        if (!f?.staged) {
          const staged = await stageStep(this.#peer, this.#supervisor, p.deploymentId, p.module, p.step);
          f = { deploymentId: p.deploymentId, module: p.module, step: p.step, from, seq: p.seq, staged };
          this.#following.set(key, f);
        }
      }
      await f!.staged!.instance.restore(snapshot);
      f!.seq = p.seq;
      if (p.callId !== undefined && p.outcome !== undefined) this.#keep(key, p.callId, p.outcome);
      return { seq: p.seq };
    });
  }

  /**
   * The deployment's record once it names this peer a standby of the state's module, or
   * fences its sender (waits up to {@link RECORD_WAIT_MS}, then the record as it is).
   */
  #recordNaming(p: StandbyState, from: string): Promise<DeploymentRecord | undefined> {
    const { deploymentId, module } = p;
    const names = (): DeploymentRecord | undefined => {
      const r = this.#peer.registry.deployments.get(deploymentId)?.record;
      return r && (standbyStepsOf(r, module, this.#peer.id).length > 0 || fenced(r, p, from)) ? r : undefined;
    };
    const now = names();
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const off = this.#peer.registry.on('change', (c) => {
        if (c.map !== 'deployments') return;
        const r = names();
        if (!r) return;
        finish();
        resolve(r);
      });
      const timer = this.#peer.clock.setTimeout(() => {
        finish();
        resolve(this.#peer.registry.deployments.get(deploymentId)?.record);
      }, RECORD_WAIT_MS);
      const finish = (): void => {
        off();
        this.#peer.clock.clearTimeout(timer);
      };
    });
  }

  /** The snapshot of a `standby.state`, its bytes checked against its hash. */
  async #received(p: StandbyState): Promise<InstanceSnapshot> {
    const bytes = p.data instanceof Uint8Array ? p.data : await this.#peer.fetchBlob(p.snapshot, { chunkBytes: 1024 * 1024, keep: false });
    const actual = await sha256Hex(bytes);
    if (actual !== p.snapshot) throw new HashMismatchError(`standby state ${p.snapshot} arrived as bytes that hash to ${actual}`, { expected: p.snapshot, actual });
    return decodeSnapshot(await unpackSnapshot(bytes));
  }

  /** Run `work` after the previous work on the same followed module. */
  #serialFollow<T>(key: ModuleKey, work: () => Promise<T>): Promise<T> {
    const before = this.#followQueue.get(key) ?? Promise.resolve();
    const next = before.catch(() => undefined).then(work);
    const tail = next.catch(() => undefined);
    this.#followQueue.set(key, tail);
    void tail.then(() => {
      if (this.#followQueue.get(key) === tail) this.#followQueue.delete(key);
    });
    return next;
  }

  /** Every call of this peer's modules passes here (see the file header). */
  async #wrap(deploymentId: string, module: string, callId: string | undefined, run: () => Promise<CallOutcome>): Promise<CallOutcome> {
    const key = moduleKey(deploymentId, module);
    const kept = callId === undefined ? undefined : this.#outcomes.get(key)?.get(callId);
    if (kept) return kept;
    const f = this.#following.get(key);
    // A caller whose primary died sends the call here: take over first.
    if (f && !this.#supervisor.deployed().some((d) => d.deploymentId === deploymentId && d.name === module)) {
      await this.promote(deploymentId, module);
      const now = callId === undefined ? undefined : this.#outcomes.get(key)?.get(callId);
      if (now) return now;
    }
    const r = this.#recordOf(deploymentId);
    if (!r || (r.standby === undefined && !this.#outcomes.has(key))) return run();
    const leading = this.#leading.get(key) ?? { queue: Promise.resolve(), synced: new Map() };
    this.#leading.set(key, leading);
    const turn = leading.queue.catch(() => undefined).then(async () => {
      const again = callId === undefined ? undefined : this.#outcomes.get(key)?.get(callId);
      if (again) return again;
      const record = this.#peer.registry.deployments.get(deploymentId)?.record ?? r;
      const targets = standbysOf(record, module, this.#peer.id, this.#reachable(new Set(this.#peer.alive())));
      for (const peer of leading.synced.keys()) if (!targets.includes(peer)) leading.synced.delete(peer);
      const epoch = record.epoch ?? 0;
      // Standbys without a copy get one before the call, so that its delta applies.
      await Promise.all(targets.filter((t) => leading.synced.get(t) === undefined).map((t) => this.#base(record, module, t, epoch, leading.synced)));
      let outcome: CallOutcome | undefined;
      let failure: unknown;
      try {
        outcome = await run();
      } catch (error) {
        failure = error;
      }
      if (targets.length > 0) await this.#ship(record, module, targets, epoch, leading.synced, callId, outcome);
      if (failure !== undefined) throw failure;
      if (callId !== undefined) this.#keep(key, callId, outcome!);
      return outcome!;
    });
    leading.queue = turn.catch(() => undefined);
    return turn;
  }

  /** The deployment's record as the registry holds it now (kept until the registry changes). */
  #recordOf(deploymentId: string): DeploymentRecord | null {
    const generation = this.#peer.registry.generation;
    if (generation !== this.#recordsOf) {
      this.#records.clear();
      this.#recordsOf = generation;
    }
    const cached = this.#records.get(deploymentId);
    if (cached !== undefined) return cached;
    const record = this.#peer.registry.deployments.get(deploymentId)?.record ?? null;
    // Bounded: calls naming endless unknown deployments cannot grow it forever.
    if (this.#records.size >= 1024) this.#records.clear();
    this.#records.set(deploymentId, record);
    return record;
  }

  /** Give the standbys of one of this peer's modules that lack a copy their copy, between two calls. */
  #warm(key: ModuleKey, deploymentId: string, module: string): void {
    this.#warming.add(key);
    const leading = this.#leading.get(key) ?? { queue: Promise.resolve(), synced: new Map() };
    this.#leading.set(key, leading);
    const turn = leading.queue.catch(() => undefined).then(async () => {
      const r = this.#peer.registry.deployments.get(deploymentId)?.record;
      if (!r) return;
      const targets = standbysOf(r, module, this.#peer.id, this.#reachable(new Set(this.#peer.alive()))).filter((t) => leading.synced.get(t) === undefined);
      await Promise.all(targets.map((t) => this.#base(r, module, t, r.epoch ?? 0, leading.synced)));
    });
    leading.queue = turn.catch((error: unknown) => this.#log.debug(`standby copies of ${module}: ${toErrorInfo(error).message}`)).finally(() => this.#warming.delete(key));
  }

  /** Send a whole snapshot to `to`; on failure `to` stays unsynced (the next call tries again). */
  async #base(r: DeploymentRecord, module: string, to: string, epoch: number, synced: Synced): Promise<void> {
    const step = r.steps?.[primaryStepsOf(r, module, this.#peer.id)[0] ?? -1];
    if (!step) return;
    const snapshot = await this.#supervisor.instance(r.id, module).snapshot();
    try {
      await this.#send(r.id, module, to, { epoch, seq: 0, full: true, step }, encodeSnapshot(snapshot), BASE_TIMEOUT_MS);
      synced.set(to, 0);
    } catch (error) {
      synced.set(to, undefined);
      if (error instanceof MeshError && error.code === 'ERR_STANDBY_FENCED') throw error;
      this.#log.debug(`standby ${this.#name(to)} of ${module} got no copy: ${toErrorInfo(error).message}`);
    }
  }

  /**
   * Ship what the last call wrote to every standby before its caller gets the answer. A
   * standby that missed state gets a whole snapshot instead; one that is fenced, or that
   * stays alive but cannot be brought up to date, fails the call (not acknowledged).
   */
  async #ship(r: DeploymentRecord, module: string, targets: string[], epoch: number, synced: Synced, callId: string | undefined, outcome: CallOutcome | undefined): Promise<void> {
    const snapshot = await this.#supervisor.instance(r.id, module).snapshot({ sinceLast: true });
    const bytes = encodeSnapshot(snapshot);
    const extra = callId !== undefined && outcome !== undefined ? { callId, outcome } : {};
    await Promise.all(targets.map(async (to) => {
      const seq = synced.get(to);
      try {
        if (seq === undefined || !snapshot.delta) throw new StandbySyncError('no copy to apply a delta to');
        await this.#send(r.id, module, to, { epoch, seq: seq + 1, full: false, ...extra }, bytes, DELTA_TIMEOUT_MS);
        synced.set(to, seq + 1);
      } catch (error) {
        if (error instanceof MeshError && error.code === 'ERR_STANDBY_FENCED') throw error;
        synced.set(to, undefined);
        // A standby that left, or whose link just failed (killed while the state was on its
        // way), is dropped by the coordinator; the call need not wait for it, and it gets a
        // whole snapshot should it stay.
        if (linkLost(error) || !this.#reachable(new Set(this.#peer.alive())).has(to)) return;
        const step = r.steps?.[primaryStepsOf(r, module, this.#peer.id)[0] ?? -1];
        const whole = await this.#supervisor.instance(r.id, module).snapshot();
        try {
          await this.#send(r.id, module, to, { epoch, seq: 0, full: true, ...(step ? { step } : {}), ...extra }, encodeSnapshot(whole), BASE_TIMEOUT_MS);
          synced.set(to, 0);
        } catch (again) {
          if (again instanceof MeshError && again.code === 'ERR_STANDBY_FENCED') throw again;
          if (linkLost(again) || !this.#reachable(new Set(this.#peer.alive())).has(to)) {
            synced.set(to, undefined);
            return;
          }
          throw new StandbySyncError(`standby ${this.#name(to)} of ${module} could not be brought up to date: ${toErrorInfo(again).message}`, { standby: to });
        }
      }
    }));
  }

  async #send(deploymentId: string, module: string, to: string, fields: Pick<StandbyState, 'epoch' | 'seq' | 'full' | 'step' | 'callId' | 'outcome'>, bytes: Uint8Array, timeoutMs: number): Promise<void> {
    const offered: string[] = [];
    try {
      const shipped = await shipping({ peer: this.#peer, to, migrationId: toHex(randomBytes(8)), left: () => timeoutMs, offered }, bytes);
      const params: StandbyState = { deploymentId, module, ...fields, snapshot: shipped.snapshot, bytes: shipped.bytes };
      if (shipped.data) params.data = shipped.data;
      await this.#peer.call(to, 'standby.state', params, { timeoutMs });
    } finally {
      for (const hash of offered) this.#peer.withdrawBlob(hash);
    }
  }

  #keep(key: ModuleKey, callId: string, outcome: CallOutcome): void {
    const kept = this.#outcomes.get(key) ?? new Map<string, CallOutcome>();
    this.#outcomes.set(key, kept);
    kept.set(callId, outcome);
    if (kept.size > KEPT_OUTCOMES) kept.delete(kept.keys().next().value!);
  }

  #name(peer: string): string {
    return this.#peer.registry.devices.get(peer)?.name ?? peer.slice(0, 8);
  }
}

/** Errors that say the link to a standby is gone (it left or was killed), not that it refused the state. */
const LINK_LOST = new Set(['ERR_PEER_LEFT', 'ERR_NOT_CONNECTED', 'ERR_PEER_UNREACHABLE']);

function linkLost(error: unknown): boolean {
  return error instanceof MeshError && LINK_LOST.has(error.code);
}

/** True when `r` no longer lets `from` be the primary that sent `p` (another primary, or a newer epoch). */
function fenced(r: DeploymentRecord, p: StandbyState, from: string): boolean {
  return (r.epoch ?? 0) > p.epoch || primaryStepsOf(r, p.module, from).length === 0;
}

/** Step indices of module `name` that `peer` is the primary of. */
export function primaryStepsOf(r: DeploymentRecord, name: string, peer: string): number[] {
  return (r.steps ?? []).flatMap((s, i) => (s.name === name && r.solution[String(i)] === peer ? [i] : []));
}

/** Step indices of module `name` that `peer` is a standby of. */
export function standbyStepsOf(r: DeploymentRecord, name: string, peer: string): number[] {
  return (r.steps ?? []).flatMap((s, i) => (s.name === name && (r.standby?.[String(i)]?.includes(peer) ?? false) ? [i] : []));
}

/** The alive standbys of the steps of module `name` that `primary` serves. */
export function standbysOf(r: DeploymentRecord, name: string, primary: string, alive: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const i of primaryStepsOf(r, name, primary)) for (const p of r.standby?.[String(i)] ?? []) if (p !== primary && alive.has(p)) out.add(p);
  return [...out];
}
