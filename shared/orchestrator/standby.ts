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
 * Epochs, versions and the newest line each peer keeps: ADR 0038, amended. The file holds
 * both sides of one protocol (primary and standby share the fencing and version rules and
 * the queue a call and its state pass through); split, each half would import the other.
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
import type { MigrationLineage } from './migration-target.ts';
import { parseManifest } from './manifest.ts';
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
  /** The deployment's revision the state belongs to (absent: the standby's record's). */
  revision?: number;
  /**
   * How many calls' state this copy holds in this revision, carried across takeovers: a
   * standby refuses a copy older than its own (a restarted primary's fresh instance).
   * Absent: 0.
   */
  version?: number;
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
  revision: number;
  version: number;
  staged?: StagedModule;
  promoting?: Promise<{ epoch: number }>;
}

/** What a primary knows of one of its standbys: the last `seq` it applied, or undefined (send a whole snapshot). */
type Synced = Map<string, number | undefined>;

/** A module this peer is the primary of. */
interface Leading {
  queue: Promise<unknown>;
  synced: Synced;
  /** The revision it leads: a new revision loads the module afresh. */
  revision: number;
  /** Calls whose state its instance holds in this revision (see {@link StandbyState.version}). */
  version: number;
  /**
   * False for an instance loaded while the record already named standbys (this peer
   * restarted): a standby may hold newer state, so it serves only once one took its copy.
   */
  trusted: boolean;
}

/** The newest line of a deployment this peer has seen: revision, epoch and the primaries it names. */
interface Line {
  revision: number;
  epoch: number;
  solution: Record<string, string>;
  /** The last record of that revision and epoch this peer saw: written back whole should an older revision come back. */
  record: DeploymentRecord;
}

/** Both sides of hot standby on one peer. */
export class StandbyService implements MigrationLineage {
  readonly #peer: Peer;
  readonly #supervisor: Supervisor;
  readonly #agent: StepAgent;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #following = new Map<ModuleKey, Following>();
  /** Work on a followed module, one at a time (stage, restore, promote). */
  readonly #followQueue = new Map<ModuleKey, Promise<unknown>>();
  readonly #leading = new Map<ModuleKey, Leading>();
  /** Per deployment, the record of the highest epoch seen for its revision: a record of a lower one is stale. */
  readonly #lines = new Map<string, Line>();
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
  /** Whether a record's manifest asks for standbys, by the record object {@link #recordOf} keeps. */
  readonly #asks = new WeakMap<DeploymentRecord, boolean>();
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
      // Every record is noted as it comes, not only at the next reconcile: a record this
      // peer wrote (its coordinator's re-placement) and a stale one that won the merge right
      // after would otherwise reach the agent with the line never having seen the newer.
      this.#peer.registry.on('change', (c) => {
        if (c.map === 'deployments') for (const id of c.keys) this.#note(id);
      }),
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
    const deployed = new Set(this.#supervisor.deployed().map((d) => moduleKey(d.deploymentId, d.name)));
    for (const view of this.#peer.registry.deployments.values()) {
      const r = view.record;
      const modules = new Set((r.steps ?? []).filter((_s, i) => r.solution[String(i)] === this.#peer.id).map((s) => s.name));
      // Seen here first while the record names no standby: this instance is the state's origin.
      for (const module of modules) if (deployed.has(moduleKey(r.id, module))) this.#lead(moduleKey(r.id, module), r, module);
      if (!r.standby) continue;
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
      if (r ? standbyStepsOf(r, f.module, this.#peer.id).length > 0 : !this.#gone(f.deploymentId)) continue;
      this.#following.delete(key);
      if (f.staged) void this.#supervisor.discard(f.staged);
      this.#log.debug(`no longer a standby of ${f.deploymentId}/${f.module}`);
    }
    for (const key of this.#leading.keys()) {
      if (this.#gone(moduleOfKey(key).deploymentId)) this.#leading.delete(key);
    }
    for (const key of this.#outcomes.keys()) {
      if (this.#gone(moduleOfKey(key).deploymentId)) this.#outcomes.delete(key);
    }
  }

  /** {@link MigrationLineage.versionOf}: the count this peer leads on, if it leads `module`. */
  versionOf(deploymentId: string, module: string): number | undefined {
    return this.#leading.get(moduleKey(deploymentId, module))?.version;
  }

  /**
   * {@link MigrationLineage.adopt}: a move installed `module` here with the state of
   * `version` calls. This peer leads on from that count with a trusted instance (it holds
   * the source's state, not a fresh one), so its standbys take its copy instead of
   * refusing it as older than theirs and undoing the move.
   */
  adopt(deploymentId: string, module: string, version: number): void {
    const key = moduleKey(deploymentId, module);
    const r = this.#peer.registry.deployments.get(deploymentId)?.record;
    if (!r) return;
    const earlier = this.#leading.get(key);
    this.#leading.set(key, { queue: earlier?.queue ?? Promise.resolve(), synced: new Map(), revision: r.revision, version, trusted: true });
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
    if (f.promoting) return f.promoting;
    const promoting = this.#serialFollow(key, async () => {
      if (!f.staged) throw new NotStandbyError(`${this.#name(this.#peer.id)} has not received the state of ${module} yet`, { deploymentId, module });
      const r = this.#peer.registry.deployments.get(deploymentId)?.record;
      if (!r) throw new UnknownDeploymentError(`no deployment ${deploymentId}`, { deployment: deploymentId });
      const steps = standbyStepsOf(r, module, this.#peer.id);
      if (steps.length === 0) throw new NotStandbyError(`${this.#name(this.#peer.id)} is no standby of ${module}`, { deploymentId, module });
      this.#outcomes.set(key, this.#outcomes.get(key) ?? new Map());
      this.#agent.adopt(deploymentId, module, { module: f.step.module, providers: f.step.providers });
      await this.#supervisor.install(f.staged);
      this.#following.delete(key);
      const current = this.#peer.registry.deployments.get(deploymentId)?.record ?? r;
      const epoch = takeoverEpoch(Math.max(current.epoch ?? 0, this.#newerLine(current)?.epoch ?? 0), this.#peer.id);
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
      this.#lines.set(deploymentId, { revision: current.revision, epoch, solution: { ...solution }, record: next });
      this.#leading.set(key, { queue: Promise.resolve(), synced: new Map(), revision: current.revision, version: f.version, trusted: true });
      this.#log.debug(`promoted: ${this.#name(this.#peer.id)} serves ${r.name}/${module} (epoch ${epoch})`);
      return { epoch };
    });
    f.promoting = promoting;
    // A takeover that failed (no copy yet, or the record no longer names this peer) is not
    // kept: it would fail every later call of the module here, also once a new revision
    // places the module on this peer. The copy is a standby's again, or dropped when the
    // record no longer asks for it.
    promoting.catch(() => {
      if (f.promoting !== promoting) return;
      delete f.promoting;
      this.reconcile();
    });
    return promoting;
  }

  /**
   * The higher epoch wins. Any writer of a deployment record (a coordinator dropping a
   * standby, a peer writing its phase) may have read it before a takeover reached it, and
   * the registry keeps a record whole, last writer wins: such a write can bring back an
   * older epoch naming the old primary, after which a second takeover would take the same
   * epoch number again. So every peer keeps the highest epoch it has seen of each
   * deployment's revision, and writes a record of a lower epoch back up to it (the
   * primaries of that epoch, the epoch, the standbys of the record less those primaries).
   * Every peer that saw the takeover writes the same thing, so whichever write wins the
   * merge the line does not go back, even with the peer that took over gone. A record of an
   * older revision than the newest this peer saw of a deployment with standbys is stale
   * the same way (revisions only grow): the newest record is written back whole.
   */
  #reassert(): void {
    for (const view of this.#peer.registry.deployments.values()) {
      const r = view.record;
      const epoch = r.epoch ?? 0;
      if (this.#note(r.id, r)) continue;
      const line = this.#lines.get(r.id)!;
      if (r.revision < line.revision) {
        // An older revision came back: a write made on one side of a partition (or by a peer
        // killed since, from its saved registry) won the merge over the revision that
        // replaced it. Revisions only grow (a rollback is a new one too), so it is stale:
        // the newest record seen is written back whole, by every peer that saw it.
        try {
          this.#peer.registry.deployments.put({ ...line.record, updatedAt: this.#now() });
          this.#log.debug(`a record of ${r.name} at revision ${r.revision} came after revision ${line.revision}: written again at revision ${line.revision}`);
        } catch (error) {
          this.#log.debug(`could not write ${r.name} back to revision ${line.revision}: ${(error as Error).message}`);
        }
        continue;
      }
      const solution = { ...r.solution, ...line.solution };
      const primaries = new Set(Object.values(line.solution));
      const standby: Record<string, string[]> = {};
      for (const [i, peers] of Object.entries(r.standby ?? {})) {
        const rest = peers.filter((p) => !primaries.has(p));
        if (rest.length > 0) standby[i] = rest;
      }
      const next: DeploymentRecord = { ...r, solution, standby, epoch: line.epoch, updatedAt: this.#now() };
      if (Object.keys(standby).length === 0) delete next.standby;
      try {
        this.#peer.registry.deployments.put(next);
        this.#log.debug(`a record of ${r.name} at epoch ${epoch} came after epoch ${line.epoch}: written again at epoch ${line.epoch}`);
      } catch (error) {
        this.#log.debug(`could not write ${r.name} back to epoch ${line.epoch}: ${(error as Error).message}`);
      }
    }
    for (const id of this.#lines.keys()) if (this.#gone(id)) this.#lines.delete(id);
    for (const [key, { revision, epoch }] of this.#promoted) {
      const r = this.#peer.registry.deployments.get(moduleOfKey(key).deploymentId)?.record;
      // Another revision places the module afresh, or another peer took it over since:
      // the takeover is history (this peer may follow the new primary).
      if (!r || r.revision !== revision || (r.epoch ?? 0) > epoch) this.#promoted.delete(key);
    }
  }

  /**
   * Take deployment `id`'s record (`r`, or the registry's) as its line when it is as new as
   * the line or newer; false when the line is newer (the record is stale).
   */
  #note(id: string, r = this.#peer.registry.deployments.get(id)?.record): boolean {
    if (!r) return true;
    const epoch = r.epoch ?? 0;
    const line = this.#lines.get(id);
    if (line && (r.revision < line.revision || (r.revision === line.revision && epoch < line.epoch))) return false;
    // Same epoch, another solution: a migration, or the merge's pick between two equal
    // takeovers; every peer ends with the record the merge kept, and follows it.
    if (epoch > 0 || line || r.standby) this.#lines.set(id, { revision: r.revision, epoch, solution: { ...r.solution }, record: r });
    return true;
  }

  /**
   * The line this peer holds of a deployment when it is newer than the registry's record
   * (same revision, higher epoch), else undefined.
   */
  #newerLine(r: DeploymentRecord): Line | undefined {
    const line = this.#lines.get(r.id);
    return line && line.revision === r.revision && line.epoch > (r.epoch ?? 0) ? line : undefined;
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

  /**
   * True while the newest line this peer saw, newer than the record (a higher epoch of its
   * revision, or a later revision), names it the primary of `key`: the record is stale and
   * is being written back, so the instance stays.
   */
  #outranks(key: ModuleKey): boolean {
    const { deploymentId, name } = moduleOfKey(key);
    const r = this.#peer.registry.deployments.get(deploymentId)?.record;
    const line = this.#lines.get(deploymentId);
    if (!line) return false;
    // An entry that does not read as valid for a moment (a merge under way) is no reason to
    // drop the state of the line this peer leads.
    if (!r) return this.#peer.registry.deployments.unreadable(deploymentId) && (line.record.steps ?? []).some((s, i) => s.name === name && line.solution[String(i)] === this.#peer.id);
    if (!(line.revision > r.revision || (line.revision === r.revision && line.epoch > (r.epoch ?? 0)))) return false;
    return (line.record.steps ?? []).some((s, i) => s.name === name && line.solution[String(i)] === this.#peer.id);
  }

  /** True when deployment `id` is gone from the registry: no entry, or a deletion (not one that only reads as invalid for now). */
  #gone(id: string): boolean {
    return !this.#peer.registry.deployments.get(id) && !this.#peer.registry.deployments.unreadable(id);
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
    const line = this.#newerLine(r);
    if (following?.promoting || this.#promoted.has(key) || fenced(r, p, from) || (line !== undefined && line.epoch > p.epoch)) {
      const epoch = line?.epoch ?? r.epoch ?? 0;
      throw new StandbyFencedError(`${this.#name(this.#peer.id)} no longer follows ${this.#name(from)} for ${p.module} (epoch ${epoch})`, { epoch });
    }
    if (standbyStepsOf(r, p.module, this.#peer.id).length === 0) throw new NotStandbyError(`${this.#name(this.#peer.id)} is no standby of ${p.module}`, { deploymentId: p.deploymentId, module: p.module });
    let newer = false;
    const applied = this.#serialFollow(key, async () => {
      let f = this.#following.get(key);
      const revision = p.revision ?? r.revision;
      const version = p.version ?? 0;
      // A copy never goes back: a primary that restarted (its instance loaded afresh) offers
      // older state than this copy holds. Refused, and this peer takes over with it.
      if (f?.staged && f.revision === revision && version < f.version) {
        newer = true;
        throw new StandbyFencedError(`${this.#name(this.#peer.id)} holds newer state of ${p.module} (${f.version} calls) than ${this.#name(from)} offers (${version})`, { epoch: r.epoch ?? 0 });
      }
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
          f = { deploymentId: p.deploymentId, module: p.module, step: p.step, from, seq: p.seq, revision, version, staged };
          this.#following.set(key, f);
        }
      }
      await f!.staged!.instance.restore(snapshot);
      f!.seq = p.seq;
      f!.revision = revision;
      f!.version = version;
      if (p.callId !== undefined && p.outcome !== undefined) this.#keep(key, p.callId, p.outcome);
      return { seq: p.seq };
    });
    applied.catch(() => {
      if (newer) this.promote(p.deploymentId, p.module).catch((error: unknown) => this.#log.warn(`could not take over ${p.module}: ${(error as Error).message}`));
    });
    return applied;
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
    // A caller whose primary died sends the call here: take over first. A takeover under way
    // may have installed the copy already (it is deployed) without having recorded it yet.
    if (f && (f.promoting !== undefined || !this.#supervisor.deployed().some((d) => d.deploymentId === deploymentId && d.name === module))) {
      await this.promote(deploymentId, module);
      const now = callId === undefined ? undefined : this.#outcomes.get(key)?.get(callId);
      if (now) return now;
    }
    const r = this.#recordOf(deploymentId);
    // A module whose manifest asks for standbys passes the checks below even while none is
    // named (they all left): a call that reaches this peer after another took the module
    // over, before the agent unloads it here, must not run on this copy.
    if (!r || (r.standby === undefined && !this.#outcomes.has(key) && !this.#asksStandby(r))) return run();
    const leading = this.#lead(key, r, module);
    const turn = leading.queue.catch(() => undefined).then(async () => {
      const again = callId === undefined ? undefined : this.#outcomes.get(key)?.get(callId);
      if (again) return again;
      const record = this.#peer.registry.deployments.get(deploymentId)?.record ?? r;
      const line = this.#newerLine(record);
      const serving = line
        ? (record.steps ?? []).some((s, i) => s.name === module && line.solution[String(i)] === this.#peer.id)
        : primaryStepsOf(record, module, this.#peer.id).length > 0;
      // Another peer took the module over (the record, or a newer epoch this peer saw, says
      // so): never answer from this copy, whatever standbys it can still reach.
      if (!serving && !replicaOf(record, module, this.#peer.id)) {
        throw new StandbyFencedError(`${this.#name(this.#peer.id)} is no longer the primary of ${module} (epoch ${line?.epoch ?? record.epoch ?? 0})`, { epoch: line?.epoch ?? record.epoch ?? 0 });
      }
      const targets = standbysOf(record, module, this.#peer.id, this.#reachable(new Set(this.#peer.alive())));
      for (const peer of leading.synced.keys()) if (!targets.includes(peer)) leading.synced.delete(peer);
      const epoch = line?.epoch ?? record.epoch ?? 0;
      // Standbys without a copy get one before the call, so that its delta applies.
      await Promise.all(targets.filter((t) => leading.synced.get(t) === undefined).map((t) => this.#base(record, module, t, epoch, leading)));
      if (!leading.trusted) {
        throw new StandbySyncError(`${this.#name(this.#peer.id)} loaded ${module} afresh while it has standbys, none of which took its copy: one may hold newer state`, { standby: targets[0] ?? '' });
      }
      let outcome: CallOutcome | undefined;
      let failure: unknown;
      try {
        outcome = await run();
      } catch (error) {
        failure = error;
      }
      leading.version++;
      if (targets.length > 0) await this.#ship(record, module, targets, epoch, leading, callId, outcome);
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

  /** True when `r`'s manifest asks for hot standbys (read once per record object). */
  #asksStandby(r: DeploymentRecord): boolean {
    let asks = this.#asks.get(r);
    if (asks === undefined) {
      try {
        asks = parseManifest(r.manifest).replicas > 0;
      } catch {
        asks = false;
      }
      this.#asks.set(r, asks);
    }
    return asks;
  }

  /** Give the standbys of one of this peer's modules that lack a copy their copy, between two calls. */
  #warm(key: ModuleKey, deploymentId: string, module: string): void {
    this.#warming.add(key);
    const record = this.#peer.registry.deployments.get(deploymentId)?.record;
    if (!record) return;
    const leading = this.#lead(key, record, module);
    const turn = leading.queue.catch(() => undefined).then(async () => {
      const r = this.#peer.registry.deployments.get(deploymentId)?.record;
      if (!r) return;
      const targets = standbysOf(r, module, this.#peer.id, this.#reachable(new Set(this.#peer.alive()))).filter((t) => leading.synced.get(t) === undefined);
      await Promise.all(targets.map((t) => this.#base(r, module, t, this.#newerLine(r)?.epoch ?? r.epoch ?? 0, leading)));
    });
    leading.queue = turn.catch((error: unknown) => this.#log.debug(`standby copies of ${module}: ${toErrorInfo(error).message}`)).finally(() => this.#warming.delete(key));
  }

  /**
   * What this peer knows as the primary of `key`, from the first time it sees the module
   * deployed here: an instance loaded while `r` already names standbys of it is not
   * trusted (see {@link Leading.trusted}).
   */
  #lead(key: ModuleKey, r: DeploymentRecord, module: string): Leading {
    let leading = this.#leading.get(key);
    if (!leading || leading.revision !== r.revision) {
      const named = primaryStepsOf(r, module, this.#peer.id).some((i) => (r.standby?.[String(i)] ?? []).some((p) => p !== this.#peer.id));
      leading = { queue: leading?.queue ?? Promise.resolve(), synced: new Map(), revision: r.revision, version: 0, trusted: !named };
      this.#leading.set(key, leading);
    }
    return leading;
  }

  /** Send a whole snapshot to `to`; on failure `to` stays unsynced (the next call tries again). */
  async #base(r: DeploymentRecord, module: string, to: string, epoch: number, leading: Leading): Promise<void> {
    const synced = leading.synced;
    const step = r.steps?.[primaryStepsOf(r, module, this.#peer.id)[0] ?? (r.steps ?? []).findIndex((s) => s.name === module)];
    if (!step) return;
    const snapshot = await this.#supervisor.instance(r.id, module).snapshot();
    try {
      await this.#send(r.id, module, to, { epoch, seq: 0, full: true, step, revision: r.revision, version: leading.version }, encodeSnapshot(snapshot), BASE_TIMEOUT_MS);
      synced.set(to, 0);
      leading.trusted = true;
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
  async #ship(r: DeploymentRecord, module: string, targets: string[], epoch: number, leading: Leading, callId: string | undefined, outcome: CallOutcome | undefined): Promise<void> {
    const { synced, version } = leading;
    const snapshot = await this.#supervisor.instance(r.id, module).snapshot({ sinceLast: true });
    const bytes = encodeSnapshot(snapshot);
    const extra = callId !== undefined && outcome !== undefined ? { callId, outcome } : {};
    await Promise.all(targets.map(async (to) => {
      const seq = synced.get(to);
      try {
        if (seq === undefined || !snapshot.delta) throw new StandbySyncError('no copy to apply a delta to');
        await this.#send(r.id, module, to, { epoch, seq: seq + 1, full: false, revision: r.revision, version, ...extra }, bytes, DELTA_TIMEOUT_MS);
        synced.set(to, seq + 1);
      } catch (error) {
        if (error instanceof MeshError && error.code === 'ERR_STANDBY_FENCED') throw error;
        synced.set(to, undefined);
        // A standby that left, or whose link just failed (killed while the state was on its
        // way), is dropped by the coordinator; the call need not wait for it, and it gets a
        // whole snapshot should it stay.
        if (linkLost(error) || !this.#reachable(new Set(this.#peer.alive())).has(to)) return;
        const step = r.steps?.[primaryStepsOf(r, module, this.#peer.id)[0] ?? (r.steps ?? []).findIndex((s) => s.name === module)];
        const whole = await this.#supervisor.instance(r.id, module).snapshot();
        try {
          await this.#send(r.id, module, to, { epoch, seq: 0, full: true, revision: r.revision, version, ...(step ? { step } : {}), ...extra }, encodeSnapshot(whole), BASE_TIMEOUT_MS);
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

  async #send(deploymentId: string, module: string, to: string, fields: Pick<StandbyState, 'epoch' | 'seq' | 'full' | 'step' | 'callId' | 'outcome' | 'revision' | 'version'>, bytes: Uint8Array, timeoutMs: number): Promise<void> {
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

/** Epochs a takeover may pick from above the last one it knows: one slot per peer. */
const EPOCH_SLOTS = 1024;

/**
 * The epoch a takeover by `peer` takes after `known`: the next block of
 * {@link EPOCH_SLOTS} above it, at the slot `peer`'s id hashes to. Two standbys that take
 * over on either side of a partition, each from the epoch its side knows, therefore take
 * different epochs (unless their ids share a slot), and the higher one wins the merge; a
 * takeover that knows of another always takes a higher epoch.
 */
export function takeoverEpoch(known: number, peer: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < peer.length; i++) hash = Math.imul(hash ^ peer.charCodeAt(i), 0x01000193) >>> 0;
  return (Math.floor(known / EPOCH_SLOTS) + 1) * EPOCH_SLOTS + (hash % EPOCH_SLOTS);
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

/** True when `peer` serves module `name` as one of `r`'s load-spreading clones. */
function replicaOf(r: DeploymentRecord, name: string, peer: string): boolean {
  return (r.steps ?? []).some((s, i) => s.name === name && (r.replicas?.[String(i)]?.includes(peer) ?? false));
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
