/**
 * The deployment state machine, run by whichever peer coordinates a deployment.
 *
 * ```
 *              every step ready                     a step's device left
 *  deploying ─────────────────────▶ ready ──────────────────────────────▶ deploying (re-placed, revision+1)
 *      │                                                                       │
 *      │ a step failed, or a phase outlived its time limit                     │
 *      ├── with a previous ready revision ──▶ deploying (rollback) ──▶ rolled-back
 *      └── without one, or the rollback failed too ──────────────────▶ failed
 *
 *  failed because devices left and none could take over ── one of them is back ──▶ deploying (revision+1)
 * ```
 * Phases are written by the peers running the steps (see `agent.ts`); the coordinator
 * only reads them and writes the deployment record. Time limits run on this peer's own
 * clock from the moment it first saw a phase, so clocks of other devices never matter
 * and a deployment is never left in progress: the worst case is a timeout.
 *
 * Any peer coordinates: the peer that creates a deployment is its coordinator; when it
 * is no longer alive, the alive peer ranked first for that deployment by rendezvous
 * hashing (a deterministic rule every peer computes alike) adopts it.
 *
 * While a live migration of one of its modules is under way (`record.migration` in phase
 * `preparing` or `transferring`, its source alive, for at most {@link MIGRATION_HOLD_MS}
 * after this peer first saw it) a deployment is left alone: nothing is re-placed or
 * adopted, so no write of the coordinator races the source's routing switch. Clones
 * (`record.replicas`) whose device left are dropped from the record.
 *
 * Hot standbys (`replicas` in the manifest, ADR 0038; `standby.ts`): once a revision is
 * ready the coordinator places them (`record.standby`, never on the step's own device)
 * and replaces those whose device left. A step whose device left while it has a standby
 * alive is not re-placed for {@link STANDBY_TAKEOVER_MS}: the standby takes over by
 * itself, quicker and with the state; only if it does not is the step re-placed.
 * @module
 */
import { MeshError, toErrorInfo } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DeploymentView } from '../registry/registry.ts';
import type { DeploymentRecord, DeployedStep, PhaseRecord } from '../registry/schema.ts';
import type { Registry } from '../registry/registry.ts';
import { roleAtLeast } from '../trust/roles.ts';
import { parseManifest } from './manifest.ts';
import { placementHints } from './plan.ts';
import type { Placement, PlacementOptions } from './placement.ts';

/** Time limits of a deployment, in ms. */
export interface DeploymentTiming {
  /** A placed step whose peer records no phase of the revision within this fails. */
  startMs: number;
  resolvingMs: number;
  fetchingMs: number;
  loadingMs: number;
  /**
   * A peer must stay out of presence this long before its steps are re-placed or its
   * deployments adopted. Two peers that briefly see each other as gone (one just
   * restarted) would otherwise take the same deployment back and forth.
   */
  lostAfterMs: number;
  /**
   * A device this peer has not seen alive since it started counts as lost only this long
   * after the peer first heard another peer (and never while it has heard none). A peer
   * that (re)starts from its saved registry — a phone coming back, a PWA opened offline —
   * knows nothing yet about who is alive, and must not adopt or re-place the mesh's
   * deployments before presence has had time to tell.
   */
  unseenAfterMs: number;
}

/** Defaults: generous for fetching (large models over slow links), tight elsewhere. */
export const DEFAULT_DEPLOYMENT_TIMING: DeploymentTiming = {
  startMs: 5000,
  resolvingMs: 5000,
  fetchingMs: 120_000,
  loadingMs: 30_000,
  lostAfterMs: 100,
  unseenAfterMs: 5000,
};

/** What the coordinator needs from its peer. */
export interface CoordinatorContext {
  self: string;
  registry: Registry;
  /** Peers alive now, this one included. */
  alive(): ReadonlySet<string>;
  /** Monotonic ms (the peer's Clock). */
  now(): number;
  /** Wall-clock ms for record timestamps. */
  wallNow(): number;
  place(steps: readonly DeployedStep[], options: PlacementOptions): Placement;
  timing: DeploymentTiming;
  logger: Logger;
  /** True while this peer is the source of a migration of deployment `id` (a record naming this peer as source otherwise is stale: the peer restarted). */
  migrating?(id: string): boolean;
  /** Devices of `record`'s placement that a policy no longer lets host their steps, with why. */
  refused?(record: DeploymentRecord): Record<string, string>;
  /** Peers whose link turned suspect (a killed process's will): alive a little longer, but no place for a new standby. */
  suspect?(): ReadonlySet<string>;
}

/** Longest a coordinator holds off a deployment for a migration that does not finish, ms. */
export const MIGRATION_HOLD_MS = 120_000;

/** How long a step whose device left waits for its standby to take over before it is re-placed, ms. */
export const STANDBY_TAKEOVER_MS = 3000;

/** Statuses that need no more work unless a device leaves. */
const SETTLED = new Set(['ready', 'rolled-back']);

/** Drives the deployments this peer coordinates; adopts orphaned ones. */
export class Coordinator {
  readonly #c: CoordinatorContext;
  /** `id/revision/written-at/step/phase` → local time the coordinator first saw it. */
  readonly #seen = new Map<string, number>();
  /** Peer → local time since which presence has not seen it. */
  readonly #downSince = new Map<string, number>();
  /** Peers seen alive since this coordinator started. */
  readonly #seenAlive = new Set<string>();
  /** Who presence saw alive at the last tick. */
  #lastAlive: ReadonlySet<string> = new Set();
  /** Local time this peer first saw another peer alive (null: not yet). */
  #heardAt: number | null = null;
  /** Failed deployment id → the alive peers when its re-placement was last tried. */
  readonly #retried = new Map<string, string>();
  /** Deployment id → the situation in which standbys were last placed (tried once per situation). */
  readonly #standbyTried = new Map<string, string>();

  constructor(context: CoordinatorContext) {
    this.#c = context;
  }

  /** Look at every deployment once: adopt orphans, advance the ones coordinated here. */
  tick(): void {
    const views = this.#c.registry.deployments.values();
    // With nothing to drive, only who is seen alive is noted: the grace needs every device
    // entry validated, four times a second in every idle peer, for no one.
    const alive = views.length > 0 ? this.#aliveWithGrace() : this.#noteAlive();
    const live = new Set<string>();
    for (const view of views) {
      const r = view.record;
      live.add(r.id);
      if (r.status === 'failed' && r.waitingFor) {
        this.#resume(r, alive);
        continue;
      }
      if (r.status === 'failed' || r.status === 'deleted') continue;
      if (this.#migrating(r, alive)) continue;
      if (r.coordinator !== this.#c.self) {
        if (!alive.has(r.coordinator) && adopterOf(r.id, this.#c.alive(), this.#c.registry) === this.#c.self) {
          this.#c.logger.debug(`adopting deployment ${r.name} from ${r.coordinator.slice(0, 8)}`);
          // A peer that may not write deployments (a `device` in a mesh with roles) leaves it.
          if (!this.#write({ ...r, coordinator: this.#c.self })) continue;
        } else continue;
      }
      try {
        this.#advance(this.#c.registry.deployments.get(r.id)!, alive);
      } catch (error) {
        this.#c.logger.warn(`deployment ${r.name}: ${(error as Error).message}`);
      }
    }
    for (const key of this.#seen.keys()) if (!live.has(key.slice(0, key.indexOf('/')))) this.#seen.delete(key);
    for (const id of this.#retried.keys()) if (!live.has(id)) this.#retried.delete(id);
    for (const id of this.#standbyTried.keys()) if (!live.has(id)) this.#standbyTried.delete(id);
  }

  /**
   * A deployment that failed for lack of devices: once a device it waits for is back,
   * place it again (its coordinator does, or the adopter when that one is gone). Tried
   * once per failure and set of alive peers, so a placement that still fails is not
   * retried in a loop. The failure's own time is part of that key: a record can fail
   * twice at the same revision (a stale copy written concurrently with the re-placement
   * wins the merge and brings the old revision back), and the second failure must be
   * retried too.
   */
  #resume(r: DeploymentRecord, alive: ReadonlySet<string>): void {
    const present = this.#c.alive();
    if (!r.waitingFor!.some((p) => present.has(p)) || !r.steps || r.steps.length === 0) return;
    if (r.coordinator !== this.#c.self && (alive.has(r.coordinator) || adopterOf(r.id, present, this.#c.registry) !== this.#c.self)) return;
    const signature = `${r.revision}:${r.updatedAt ?? ''}:${[...present].sort().join(',')}`;
    if (this.#retried.get(r.id) === signature) return;
    this.#retried.set(r.id, signature);
    let placement: Placement;
    try {
      placement = this.#c.place(r.steps, { ...this.#hints(r), current: r.solution });
    } catch (error) {
      this.#c.logger.debug(`deployment ${r.name} still cannot be placed: ${messageOf(error)}`);
      return;
    }
    this.#c.logger.debug(`deployment ${r.name}: a device it waited for is back; placing it again`);
    const next = this.nextRevision(r, r.steps, placement);
    delete next.waitingFor;
    this.#write(next);
  }

  /** True while a migration of one of the deployment's modules runs (see the file header). */
  #migrating(r: DeploymentRecord, alive: ReadonlySet<string>): boolean {
    const m = r.migration;
    if (!m || (m.phase !== 'preparing' && m.phase !== 'transferring') || !alive.has(m.from)) return false;
    if (m.from === this.#c.self && this.#c.migrating && !this.#c.migrating(r.id)) return false;
    const key = `${r.id}/migration/${m.id}`;
    const since = this.#seen.get(key) ?? this.#c.now();
    this.#seen.set(key, since);
    return this.#c.now() - since < MIGRATION_HOLD_MS;
  }

  /**
   * The peers to treat as alive: those presence sees, plus those it lost less than
   * `lostAfterMs` ago, plus those not seen since this peer started until `unseenAfterMs`
   * after it first heard anyone.
   */
  #aliveWithGrace(): ReadonlySet<string> {
    const now = this.#c.now();
    const alive = this.#noteAlive();
    const out = new Set(alive);
    const listening = this.#heardAt === null || now - this.#heardAt < this.#c.timing.unseenAfterMs;
    for (const d of this.#c.registry.devices.values()) {
      if (alive.has(d.id)) continue;
      if (listening && !this.#seenAlive.has(d.id)) {
        out.add(d.id);
        continue;
      }
      const since = this.#downSince.get(d.id) ?? now;
      this.#downSince.set(d.id, since);
      if (now - since < this.#c.timing.lostAfterMs) out.add(d.id);
    }
    return out;
  }

  /**
   * The peers presence sees alive, noted as seen (and no longer down); a peer seen at the
   * tick before and not now is down from now, so that its absence is timed from when it
   * left even while no deployment made the coordinator look at the device entries.
   */
  #noteAlive(): ReadonlySet<string> {
    const alive = this.#c.alive();
    const now = this.#c.now();
    for (const peer of this.#lastAlive) if (!alive.has(peer) && !this.#downSince.has(peer)) this.#downSince.set(peer, now);
    this.#lastAlive = new Set(alive);
    for (const peer of alive) this.#seenAlive.add(peer);
    if (this.#heardAt === null && [...alive].some((p) => p !== this.#c.self)) this.#heardAt = now;
    for (const peer of this.#downSince.keys()) if (alive.has(peer)) this.#downSince.delete(peer);
    return alive;
  }

  /** Start a new revision of `record` with `steps`, keeping the current one for rollback when it is good. */
  nextRevision(record: DeploymentRecord, steps: DeployedStep[], placement: Placement): DeploymentRecord {
    const next: DeploymentRecord = {
      ...record,
      revision: record.revision + 1,
      steps,
      solution: placement.solution,
      explanation: placement.explanation as unknown as Record<string, unknown>,
      status: 'deploying',
      coordinator: this.#c.self,
    };
    delete next.reason;
    delete next.rollback;
    delete next.waitingFor;
    // Clones and standbys are copies of one revision's instances: a new revision places afresh.
    delete next.replicas;
    delete next.standby;
    // Epochs number the takeovers within one revision (ADR 0038): two coordinators that made
    // the same revision on either side of a partition must not share a takeover's epoch.
    delete next.epoch;
    if (SETTLED.has(record.status) && record.steps) next.previous = { revision: record.revision, steps: record.steps, solution: record.solution };
    else if (record.previous) next.previous = record.previous;
    else delete next.previous;
    return next;
  }

  /**
   * Write a record (timestamped). False when this peer's role does not allow it (a
   * `device` in a mesh with roles): nothing is written, and the deployment waits for an
   * operator to coordinate it.
   */
  #write(record: DeploymentRecord): boolean {
    try {
      this.#c.registry.deployments.put({ ...record, updatedAt: this.#c.wallNow() });
      return true;
    } catch (error) {
      if (!(error instanceof MeshError) || error.code !== 'ERR_WRITE_FORBIDDEN') throw error;
      this.#c.logger.debug(`not coordinating deployment ${record.name}: ${error.message}`);
      return false;
    }
  }

  #advance(view: DeploymentView, alive: ReadonlySet<string>): void {
    const r = view.record;
    // A record without resolved steps was not made by an orchestrator: nothing to drive.
    if (!r.steps || r.steps.length === 0) return;
    const steps = r.steps;
    const lost: Record<string, string> = {};
    const awaitingTakeover = new Set<string>();
    for (const [i] of steps.entries()) {
      const peer = r.solution[String(i)];
      if (peer === undefined || alive.has(peer)) continue;
      if (this.#standbyTakesOver(r, i, peer, alive)) awaitingTakeover.add(peer);
      else lost[peer] = 'left the mesh';
    }
    // A device with one step its standby cannot take over is re-placed whole.
    for (const peer of awaitingTakeover) if (lost[peer] !== undefined) awaitingTakeover.delete(peer);
    // A device whose zone or cards changed may no longer host what it runs: move it.
    for (const [peer, why] of Object.entries(this.#c.refused?.(r) ?? {})) lost[peer] ??= why;
    if (SETTLED.has(r.status)) {
      // A device that restarted and could not load its step again no longer serves it.
      for (const [i] of steps.entries()) {
        const peer = r.solution[String(i)]!;
        const phase = view.phases[`${i}/${peer}`];
        if (phase?.revision === r.revision && phase.phase === 'failed') lost[peer] ??= `failed to reload: ${phase.reason ?? 'no reason given'}`;
      }
    }
    if (Object.keys(lost).length > 0) {
      this.#replace(r, steps, lost);
      return;
    }
    if (awaitingTakeover.size > 0) return;
    if (r.replicas && Object.values(r.replicas).some((peers) => peers.some((p) => !alive.has(p)))) {
      const replicas = Object.fromEntries(Object.entries(r.replicas).map(([i, peers]) => [i, peers.filter((p) => alive.has(p))]).filter(([, peers]) => peers.length > 0));
      const next: DeploymentRecord = { ...r, replicas };
      if (Object.keys(replicas).length === 0) delete next.replicas;
      this.#write(next);
      return;
    }
    if (r.standby && Object.values(r.standby).some((peers) => peers.some((p) => !alive.has(p)))) {
      const standby = Object.fromEntries(Object.entries(r.standby).map(([i, peers]) => [i, peers.filter((p) => alive.has(p))]).filter(([, peers]) => peers.length > 0));
      const next: DeploymentRecord = { ...r, standby };
      if (Object.keys(standby).length === 0) delete next.standby;
      this.#write(next);
      return;
    }
    if (SETTLED.has(r.status)) {
      this.#placeStandbys(r, alive);
      return;
    }
    if (r.status !== 'deploying' && r.status !== 'pending') return;
    const now = this.#c.now();
    let ready = 0;
    for (const [i, step] of steps.entries()) {
      const peer = r.solution[String(i)]!;
      const phase: PhaseRecord | undefined = view.phases[`${i}/${peer}`];
      const current = phase && phase.revision === r.revision ? phase : undefined;
      if (current?.phase === 'ready') {
        ready++;
        continue;
      }
      if (current?.phase === 'failed') {
        this.#fail(r, `step ${i} (${step.name}.${step.func}) failed on ${this.#name(peer)}: ${current.reason ?? 'no reason given'}`);
        return;
      }
      const state = current?.phase ?? 'placed';
      // The record's write time is part of the key: the same revision written again (a
      // re-placement after a stale copy won the merge) starts its time limits afresh.
      const key = `${r.id}/${r.revision}/${r.updatedAt ?? ''}/${i}/${state}`;
      const since = this.#seen.get(key) ?? now;
      this.#seen.set(key, since);
      const limit = this.#limit(state);
      if (now - since > limit) {
        const what = state === 'placed' ? 'did not start' : `stayed ${state}`;
        this.#fail(r, `step ${i} (${step.name}.${step.func}) ${what} on ${this.#name(peer)} for more than ${limit} ms`);
        return;
      }
    }
    if (ready === steps.length) {
      const done: DeploymentRecord = { ...r, status: r.rollback ? 'rolled-back' : 'ready' };
      delete done.rollback;
      delete done.previous;
      this.#write(done);
      this.#c.logger.debug(`deployment ${r.name} revision ${r.revision} is ${done.status}`);
    }
  }

  /**
   * True while step `i`'s departed device `peer` may still be replaced by a standby:
   * one is alive, and the departure is younger than {@link STANDBY_TAKEOVER_MS}.
   */
  #standbyTakesOver(r: DeploymentRecord, i: number, peer: string, alive: ReadonlySet<string>): boolean {
    if (!(r.standby?.[String(i)] ?? []).some((p) => p !== peer && alive.has(p))) return false;
    const key = `${r.id}/takeover/${r.revision}/${peer}`;
    const since = this.#seen.get(key) ?? this.#c.now();
    this.#seen.set(key, since);
    return this.#c.now() - since < STANDBY_TAKEOVER_MS;
  }

  /**
   * Give every step of a settled deployment the standbys its manifest asks for, on alive
   * devices other than the step's own (and its other standbys'), as placement ranks them.
   * Tried once per situation (revision, alive peers, standbys): a mesh with too few
   * devices gets fewer standbys, not a placement attempt on every tick.
   */
  #placeStandbys(r: DeploymentRecord, alive: ReadonlySet<string>): void {
    let wanted = 0;
    try {
      wanted = parseManifest(r.manifest).replicas;
    } catch {
      return;
    }
    const steps = r.steps ?? [];
    if (wanted === 0 || steps.length === 0) return;
    // The devices the registry describes are part of it: a peer seen alive before its device record arrived is no candidate yet.
    const described = [...alive].filter((p) => this.#c.registry.devices.get(p) !== undefined);
    const signature = `${r.revision}:${r.epoch ?? 0}:${JSON.stringify(r.standby ?? {})}:${[...alive].sort().join(',')}:${described.length}:${[...(this.#c.suspect?.() ?? [])].sort().join(',')}`;
    if (this.#standbyTried.get(r.id) === signature) return;
    this.#standbyTried.set(r.id, signature);
    const standby: Record<string, string[]> = Object.fromEntries(Object.entries(r.standby ?? {}).map(([i, peers]) => [i, [...peers]]));
    let added = 0;
    for (const [i, step] of steps.entries()) {
      const primary = r.solution[String(i)];
      if (primary === undefined) continue;
      const chosen = standby[String(i)] ?? [];
      while (chosen.length < wanted) {
        const exclude: Record<string, string> = { [primary]: 'hosts the step' };
        for (const p of chosen) exclude[p] = 'a standby of the step already';
        // A peer whose will just arrived is still counted alive: a standby there would be lost at once.
        for (const p of this.#c.suspect?.() ?? []) exclude[p] ??= 'its link is suspect';
        let peer: string | undefined;
        try {
          peer = this.#c.place([{ ...step, next: [], pin: null }], { ...this.#hints(r), exclude, replacing: r.id }).solution['0'];
        } catch (error) {
          this.#c.logger.debug(`deployment ${r.name}: no device for another standby of step ${i}: ${messageOf(error)}`);
        }
        if (peer === undefined || exclude[peer] !== undefined) break;
        chosen.push(peer);
        added++;
      }
      if (chosen.length > 0) standby[String(i)] = chosen;
    }
    if (added === 0) return;
    this.#c.logger.debug(`deployment ${r.name}: standbys ${JSON.stringify(standby)}`);
    this.#write({ ...r, standby });
  }

  /** Re-place the steps whose devices left (or cannot serve them); a deployment that cannot be re-placed fails. */
  #replace(r: DeploymentRecord, steps: DeployedStep[], lost: Record<string, string>): void {
    const names = Object.keys(lost).map((p) => this.#name(p)).join(', ');
    const current = Object.fromEntries(Object.entries(r.solution).filter(([, p]) => lost[p] === undefined));
    let placement: Placement;
    try {
      placement = this.#c.place(steps, { ...this.#hints(r), exclude: lost, current, replacing: r.id });
    } catch (error) {
      // Devices that left may come back (a restart): the deployment waits for them.
      const gone = Object.keys(lost).filter((p) => !this.#c.alive().has(p));
      this.#fail({ ...r, solution: current }, `${names} can no longer serve the deployment and no device can take over: ${messageOf(error)}`, gone);
      return;
    }
    this.#c.logger.debug(`deployment ${r.name}: re-placing steps of ${names}`);
    const next = this.nextRevision(r, steps, placement);
    if (r.rollback) next.rollback = true;
    this.#write(next);
  }

  /**
   * A revision failed: roll back to the previous ready one if there is one, else fail
   * (waiting for the devices in `waitingFor` to come back, when they left).
   */
  #fail(r: DeploymentRecord, reason: string, waitingFor: string[] = []): void {
    this.#c.logger.debug(`deployment ${r.name} revision ${r.revision}: ${reason}`);
    const previous = r.previous;
    if (previous && !r.rollback) {
      const alive = this.#c.alive();
      const exclude = Object.fromEntries(Object.values(previous.solution).filter((p) => !alive.has(p)).map((p) => [p, 'left the mesh']));
      try {
        const placement = this.#c.place(previous.steps, { ...this.#hints(r), exclude, current: previous.solution, replacing: r.id });
        const back: DeploymentRecord = {
          ...r,
          revision: r.revision + 1,
          steps: previous.steps,
          solution: placement.solution,
          explanation: placement.explanation as unknown as Record<string, unknown>,
          status: 'deploying',
          rollback: true,
          reason: `rolled back to revision ${previous.revision}: ${reason}`,
        };
        delete back.previous;
        delete back.replicas;
        delete back.standby;
        this.#write(back);
        return;
      } catch (error) {
        reason = `${reason}; rollback impossible: ${messageOf(error)}`;
      }
    }
    const failed: DeploymentRecord = { ...r, status: 'failed', reason: r.rollback && r.reason ? `${r.reason}; the rollback failed too: ${reason}` : reason };
    delete failed.rollback;
    delete failed.previous;
    if (waitingFor.length > 0) failed.waitingFor = waitingFor;
    else delete failed.waitingFor;
    this.#write(failed);
  }

  /** Placement options of the deployment's manifest (none if it no longer parses). */
  #hints(r: DeploymentRecord): PlacementOptions {
    try {
      return placementHints(parseManifest(r.manifest));
    } catch {
      return {};
    }
  }

  #limit(state: string): number {
    const t = this.#c.timing;
    switch (state) {
      case 'resolving':
        return t.resolvingMs;
      case 'fetching':
        return t.fetchingMs;
      case 'loading':
        return t.loadingMs;
      default:
        return t.startMs;
    }
  }

  #name(peer: string): string {
    return this.#c.registry.devices.get(peer)?.name ?? peer.slice(0, 8);
  }
}

/**
 * The alive registered peer that adopts deployment `id` when its coordinator is gone:
 * the highest FNV-1a hash of `id/peer` (rendezvous hashing), so every peer computes the
 * same answer and orphans spread over the mesh instead of piling on one peer. In a mesh
 * with roles, only operators (and owners) are candidates.
 */
export function adopterOf(id: string, alive: ReadonlySet<string>, registry: Registry): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  const gate = registry.gate;
  for (const peer of [...alive].sort()) {
    const device = registry.devices.get(peer);
    if (!device) continue;
    // In a mesh with roles only an operator may write a deployment: a device never adopts one.
    // (The record's signer, not the key it states.)
    const author = gate ? registry.devices.authorOf(peer) : undefined;
    if (gate && (author === undefined || !roleAtLeast(gate.trust.roleOf(author, (key) => registry.trust.get(key)), 'operator'))) continue;
    const score = fnv1a(`${id}/${peer}`);
    if (score > bestScore) {
      best = peer;
      bestScore = score;
    }
  }
  return best;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function messageOf(error: unknown): string {
  return error instanceof MeshError ? error.message : toErrorInfo(error).message;
}
