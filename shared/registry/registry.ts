/**
 * The shared registry: one Yjs document per mesh with three maps —
 * `devices` (peer id → {@link DeviceDescription}), `modules` (sha256 → {@link ModuleRecord})
 * and `deployments` (id → a Y.Map holding the {@link DeploymentRecord} under `record` and a
 * Y.Map of per-step, per-peer {@link PhaseRecord}s under `phases`, so that peers writing
 * their own phases never overwrite each other). A fourth map, `blacklist` (peer id →
 * {@link BlacklistEntry}), lists devices that get no placements; a fifth, `cards` (key →
 * {@link CardRecord}), holds the ODRL cards of zones and risk levels.
 *
 * A CRDT cannot refuse an update after it merged, so validation happens on read: typed
 * accessors return only entries that pass their schema; a malformed entry is logged once
 * and skipped. Local writes are validated before they enter the document.
 * @module
 */
import * as Y from 'yjs';
import { Emitter, type Unsubscribe } from '../events.ts';
import { InvalidParamsError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import type { Check } from '../protocol/check.ts';
import { checkValue } from '../protocol/json-limits.ts';
import { EntryGate, type GateVerdict, type ValidEntry } from '../trust/entry-gate.ts';
import { TrustGeneration } from './trust-generation.ts';
import type { Signer } from '../trust/keys.ts';
import type { MeshTrust } from '../trust/mesh-trust.ts';
import {
  type BlacklistEntry,
  type CardRecord,
  checkBlacklistEntry,
  checkCard,
  checkDeployment,
  checkDevice,
  checkModule,
  checkPhase,
  type DeploymentRecord,
  type DeviceDescription,
  type ModuleRecord,
  type PhaseRecord,
} from './schema.ts';

/** Names of the registry's top-level maps. */
export type RegistryMapName = 'devices' | 'modules' | 'deployments' | 'blacklist' | 'cards';

/** A change seen in the registry. */
export interface RegistryChange {
  map: RegistryMapName;
  /** Top-level keys (ids) touched. */
  keys: string[];
  /** True when the change came from another peer. */
  remote: boolean;
}

/** Events of a {@link Registry}. */
export interface RegistryEvents {
  change: RegistryChange;
}

/** Origin used for transactions made by this peer. */
export const LOCAL_ORIGIN = 'local';

/** Holder of the registry's gate, set once the peer knows its key (`Registry.enableRoles`). */
interface GateRef {
  gate?: EntryGate;
}

/** Validating view of one Y.Map whose values are plain JSON records. */
export class RecordMap<T extends { id: string }> {
  readonly #map: Y.Map<unknown>;
  readonly #check: Check<T>;
  readonly #report: (key: string, error: string) => void;
  readonly #name: string;
  readonly #ref: GateRef;

  /** @internal */
  constructor(map: Y.Map<unknown>, check: Check<T>, report: (key: string, error: string) => void, name = '', ref: GateRef = {}) {
    this.#map = map;
    this.#check = check;
    this.#report = report;
    this.#name = name;
    this.#ref = ref;
  }

  /** The valid entry under `id`, if any. */
  get(id: string): T | undefined {
    const raw = this.#map.get(id);
    return raw === undefined ? undefined : this.#valid(id, raw);
  }

  /**
   * The author (public key, hex) of the valid entry under `id`, in a mesh with roles;
   * undefined when there is none, or the mesh has no roles.
   */
  authorOf(id: string): string | undefined {
    const raw = this.#map.get(id);
    if (!this.#ref.gate || raw === undefined) return undefined;
    const verdict = this.#ref.gate.open(this.#name, id, raw);
    const entry = verdict.ok ? verdict.entry : verdict.fallback;
    return entry && !entry.tombstone ? entry.author : undefined;
  }

  /** Every valid entry. */
  values(): T[] {
    const out: T[] = [];
    for (const [key, raw] of this.#map.entries()) {
      const v = this.#valid(key, raw);
      if (v) out.push(v);
    }
    return out;
  }

  /** Ids of every valid entry. */
  keys(): string[] {
    return this.values().map((v) => v.id);
  }

  /** Number of valid entries. */
  get size(): number {
    return this.values().length;
  }

  /**
   * Create or replace the entry `value.id`; rejects invalid records with ERR_INVALID_PARAMS
   * and, in a mesh with roles, writes this peer may not make with ERR_WRITE_FORBIDDEN.
   */
  set(value: T): void {
    const r = this.#check(value);
    if (!r.ok) throw new InvalidParamsError(r.error);
    const plain = toPlain(value);
    this.#map.set(value.id, this.#ref.gate ? this.#ref.gate.seal(this.#name, value.id, plain) : plain);
  }

  /** Remove an entry (in a mesh with roles: replace it by a tombstone signed by this peer). */
  delete(id: string): void {
    if (!this.#ref.gate) {
      this.#map.delete(id);
      return;
    }
    if (this.#map.get(id) === undefined) return;
    this.#map.set(id, this.#ref.gate.seal(this.#name, id, { id, deleted: true }));
  }

  /** @internal The gate's verdict on the entry under `key` (for repairs). */
  verdict(key: string): GateVerdict | undefined {
    return this.#ref.gate?.open(this.#name, key, this.#map.get(key));
  }

  /** @internal Write back a raw value (a repair) or remove junk. */
  restore(key: string, raw: unknown | undefined): void {
    if (raw === undefined) this.#map.delete(key);
    else this.#map.set(key, raw);
  }

  #valid(key: string, stored: unknown): T | undefined {
    let raw = stored;
    if (this.#ref.gate) {
      const verdict = this.#ref.gate.open(this.#name, key, stored);
      const entry = verdict.ok ? verdict.entry : verdict.fallback;
      if (!entry || entry.tombstone) return undefined;
      raw = entry.value;
    }
    const r = this.#check(raw);
    if (!r.ok) {
      this.#report(key, r.error);
      return undefined;
    }
    if (r.value.id !== key) {
      this.#report(key, `id ${r.value.id} does not match its key`);
      return undefined;
    }
    return r.value;
  }
}

/** A deployment with its phases. */
export interface DeploymentView {
  record: DeploymentRecord;
  /** `${step}/${peerId}` → phase. */
  phases: Record<string, PhaseRecord>;
}

/** Validating view of the `deployments` map. */
export class DeploymentMap {
  readonly #map: Y.Map<unknown>;
  readonly #doc: Y.Doc;
  readonly #report: (key: string, error: string) => void;
  readonly #ref: GateRef;

  /** @internal */
  constructor(doc: Y.Doc, map: Y.Map<unknown>, report: (key: string, error: string) => void, ref: GateRef = {}) {
    this.#doc = doc;
    this.#map = map;
    this.#report = report;
    this.#ref = ref;
  }

  /** The deployment `id` with its valid phases, if its record is valid. */
  get(id: string): DeploymentView | undefined {
    const entry = this.#map.get(id);
    if (!(entry instanceof Y.Map)) {
      if (entry !== undefined) this.#report(id, 'deployment entry is not a map');
      return undefined;
    }
    let rawRecord: unknown = entry.get('record');
    if (this.#ref.gate) {
      const verdict = this.#ref.gate.open('deployments', id, rawRecord);
      const valid = verdict.ok ? verdict.entry : verdict.fallback;
      if (!valid || valid.tombstone) return undefined;
      rawRecord = valid.value;
    }
    const r = checkDeployment(rawRecord);
    if (!r.ok || r.value.id !== id) {
      this.#report(id, r.ok ? 'id does not match its key' : r.error);
      return undefined;
    }
    const phases: Record<string, PhaseRecord> = {};
    const rawPhases = entry.get('phases');
    if (rawPhases instanceof Y.Map) {
      for (const [key, stored] of rawPhases.entries()) {
        let raw: unknown = stored;
        if (this.#ref.gate) {
          const verdict = this.#ref.gate.open('phases', `${id}/${key}`, stored);
          if (!verdict.ok) continue;
          raw = verdict.entry.value;
        }
        const p = checkPhase(raw);
        if (p.ok) phases[key] = p.value;
        else this.#report(`${id}/${key}`, p.error);
      }
    }
    return { record: r.value, phases };
  }

  /**
   * True when `id` has an entry whose record does not read as valid now (its record is
   * missing or malformed, say while a merge is incomplete), as opposed to no entry or a
   * deletion: a reader that drops everything of a deployment it cannot read would drop a
   * live one for that moment.
   */
  unreadable(id: string): boolean {
    const entry = this.#map.get(id);
    if (entry === undefined) return false;
    if (this.#ref.gate && entry instanceof Y.Map) {
      const verdict = this.#ref.gate.open('deployments', id, entry.get('record'));
      const valid = verdict.ok ? verdict.entry : verdict.fallback;
      if (valid?.tombstone) return false;
    }
    return this.get(id) === undefined;
  }

  /** Every valid deployment. */
  values(): DeploymentView[] {
    const out: DeploymentView[] = [];
    for (const id of this.#map.keys()) {
      const d = this.get(id);
      if (d) out.push(d);
    }
    return out;
  }

  /** Ids of every valid deployment. */
  keys(): string[] {
    return this.values().map((d) => d.record.id);
  }

  /** Create or replace the record of a deployment (phases are kept). */
  put(record: DeploymentRecord): void {
    const r = checkDeployment(record);
    if (!r.ok) throw new InvalidParamsError(r.error);
    // Everything that can fail happens before the transaction: a record is written whole or not at all.
    checkValue(record, RECORD_LIMITS, `deployment ${record.id}`);
    const plain = this.#ref.gate ? this.#ref.gate.seal('deployments', record.id, toPlain(record)) : toPlain(record);
    this.#doc.transact(() => {
      let entry = this.#map.get(record.id);
      if (!(entry instanceof Y.Map)) {
        entry = new Y.Map<unknown>();
        this.#map.set(record.id, entry);
        (entry as Y.Map<unknown>).set('phases', new Y.Map<unknown>());
      }
      (entry as Y.Map<unknown>).set('record', plain);
    }, LOCAL_ORIGIN);
  }

  /** Record the phase of `step` on `peer`. Rejects unknown deployments with ERR_INVALID_PARAMS. */
  setPhase(id: string, step: string, peer: string, phase: PhaseRecord): void {
    const r = checkPhase(phase);
    if (!r.ok) throw new InvalidParamsError(r.error);
    const entry = this.#map.get(id);
    if (!(entry instanceof Y.Map)) throw new InvalidParamsError(`no deployment ${id}`);
    const phases = entry.get('phases');
    if (!(phases instanceof Y.Map)) throw new InvalidParamsError(`deployment ${id} has no phases map`);
    const key = `${step}/${peer}`;
    phases.set(key, this.#ref.gate ? this.#ref.gate.seal('phases', `${id}/${key}`, toPlain(phase)) : toPlain(phase));
  }

  /** Remove a deployment and its phases (in a mesh with roles: a signed tombstone record). */
  delete(id: string): void {
    const entry = this.#map.get(id);
    if (!this.#ref.gate || !(entry instanceof Y.Map)) {
      this.#map.delete(id);
      return;
    }
    const tombstone = this.#ref.gate.seal('deployments', id, { id, deleted: true });
    this.#doc.transact(() => entry.set('record', tombstone), LOCAL_ORIGIN);
  }

  /** The author (public key, hex) of the valid record of `id`, in a mesh with roles. */
  authorOf(id: string): string | undefined {
    const entry = this.#map.get(id);
    if (!this.#ref.gate || !(entry instanceof Y.Map)) return undefined;
    const verdict = this.#ref.gate.open('deployments', id, entry.get('record'));
    const valid = verdict.ok ? verdict.entry : verdict.fallback;
    return valid && !valid.tombstone ? valid.author : undefined;
  }

  /** @internal Whether the record of `id` is one the gate refuses for good (a repair may be due). */
  needsRepair(id: string): boolean {
    if (!this.#ref.gate) return false;
    const entry = this.#map.get(id);
    const verdict = this.#ref.gate.open('deployments', id, entry instanceof Y.Map ? entry.get('record') : undefined);
    return !verdict.ok && verdict.definite;
  }

  /** @internal Repair the record of `id` when a member overwrote or removed what it may not. */
  repair(id: string, stillValid: (entry: ValidEntry) => boolean): void {
    if (!this.#ref.gate) return;
    const entry = this.#map.get(id);
    const stored = entry instanceof Y.Map ? entry.get('record') : undefined;
    const verdict = this.#ref.gate.open('deployments', id, stored);
    if (verdict.ok || !verdict.definite) return;
    if (verdict.fallback && verdict.fallback.raw !== stored) {
      if (!stillValid(verdict.fallback)) return;
      const fallback = verdict.fallback.raw;
      if (entry instanceof Y.Map) entry.set('record', fallback);
      else {
        const fresh = new Y.Map<unknown>();
        this.#map.set(id, fresh);
        fresh.set('phases', new Y.Map<unknown>());
        fresh.set('record', fallback);
      }
    } else if (!verdict.fallback && entry !== undefined) {
      this.#map.delete(id);
    }
  }
}

/** An entry of the `trust` map (grants, redemptions, revocations, name claims; see `trust/mesh-trust.ts`). */
export interface TrustEntry {
  id: string;
  [field: string]: unknown;
}

const checkTrustEntry: Check<TrustEntry> = (v, p = '') =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { id?: unknown }).id === 'string'
    ? { ok: true, value: v as TrustEntry }
    : { ok: false, error: `${p || 'value'}: expected a trust entry` };

/** What a registry needs to check roles: the mesh's roots and this peer's key. */
export interface RegistryRoles {
  trust: MeshTrust;
  signer: Signer;
  /** Wall clock (default Date.now). */
  now?: () => number;
}

const RECORD_MAPS = ['devices', 'modules', 'blacklist', 'cards', 'trust'] as const;

/** The typed, validating face of the registry document. */
export class Registry {
  /** The underlying Yjs document (sync and persistence work on it directly). */
  readonly doc: Y.Doc;
  /** Device descriptions by peer id. */
  readonly devices: RecordMap<DeviceDescription>;
  /** Published modules by sha256. */
  readonly modules: RecordMap<ModuleRecord>;
  /** Deployments by id. */
  readonly deployments: DeploymentMap;
  /** Devices that get no placements, by peer id. */
  readonly blacklist: RecordMap<BlacklistEntry>;
  /** ODRL cards of zones and risk levels, by key. */
  readonly cards: RecordMap<CardRecord>;
  /** Grants, redemptions, revocations and name claims (used only in a mesh with roles). */
  readonly trust: RecordMap<TrustEntry>;
  readonly #events: Emitter<RegistryEvents>;
  readonly #log: Logger;
  readonly #reported = new Set<string>();
  readonly #ref: GateRef = {};
  #repairPending = new Map<string, Set<string>>();
  /** Repairs made per entry: a bound, so two peers that disagree cannot rewrite an entry forever. */
  readonly #repairs = new Map<string, number>();
  #generation = 0;

  constructor(options: { doc?: Y.Doc; logger?: Logger } = {}) {
    this.doc = options.doc ?? new Y.Doc();
    this.#log = options.logger ?? createLogger('registry');
    this.#events = new Emitter((e) => this.#log.error('change listener failed', e));
    const report = (map: string) => (key: string, error: string) => this.#report(map, key, error);
    this.devices = new RecordMap(this.doc.getMap('devices'), checkDevice, report('devices'), 'devices', this.#ref);
    this.modules = new RecordMap(this.doc.getMap('modules'), checkModule, report('modules'), 'modules', this.#ref);
    this.deployments = new DeploymentMap(this.doc, this.doc.getMap('deployments'), report('deployments'), this.#ref);
    this.blacklist = new RecordMap(this.doc.getMap('blacklist'), checkBlacklistEntry, report('blacklist'), 'blacklist', this.#ref);
    this.cards = new RecordMap(this.doc.getMap('cards'), checkCard, report('cards'), 'cards', this.#ref);
    this.trust = new RecordMap(this.doc.getMap('trust'), checkTrustEntry, report('trust'), 'trust', this.#ref);
    for (const name of ['devices', 'modules', 'deployments', 'blacklist', 'cards', 'trust'] as const) {
      this.doc.getMap(name).observeDeep((events, txn) => {
        // Before any listener runs: a cache checked against it is never read stale from one.
        this.#generation++;
        const keys = new Set<string>();
        for (const e of events) {
          // The first path element is the top-level key for nested changes.
          const top = e.path[0];
          if (typeof top === 'string') keys.add(top);
          else for (const k of e.keys.keys()) keys.add(k);
        }
        if (this.#ref.gate && !txn.local) this.#scheduleRepair(name, keys);
        if (name === 'trust') {
          // A grant or revocation changes which entries of the other maps are valid.
          if (this.#ref.gate) for (const map of ['devices', 'modules', 'deployments', 'blacklist', 'cards'] as const) this.#events.emit('change', { map, keys: [...this.doc.getMap(map).keys()], remote: !txn.local });
          return;
        }
        this.#events.emit('change', { map: name, keys: [...keys], remote: !txn.local });
      });
    }
  }

  /**
   * Check roles from now on: sign what this peer writes with `roles.signer`, and read only
   * entries whose authors were allowed to write them (`trust/write-policy.ts`). Called once,
   * before the peer writes anything.
   */
  enableRoles(roles: RegistryRoles): EntryGate {
    if (this.#ref.gate) throw new InvalidParamsError('roles are already enabled');
    const gate = new EntryGate({ trust: roles.trust, signer: roles.signer, lookup: (id) => this.trust.get(id), stored: (id) => this.doc.getMap('trust').get(id), trustGeneration: new TrustGeneration(this.doc, this.doc.getMap('trust')), logger: this.#log.child('trust'), ...(roles.now ? { now: roles.now } : {}) });
    this.#ref.gate = gate;
    // Which entries are valid may change now.
    this.#generation++;
    // What persistence loaded before roles were on is checked like anything else.
    for (const name of [...RECORD_MAPS, 'deployments'] as const) this.#scheduleRepair(name, new Set(this.doc.getMap(name).keys()));
    return gate;
  }

  /**
   * A number that changes with every change to the document and when roles are turned on
   * (before any `change` listener runs): what was read while it stayed the same may be kept
   * instead of read and validated again — by a reader for whom an entry whose author's
   * grant expired meanwhile may count until the next change (time moves no generation).
   */
  get generation(): number {
    return this.#generation;
  }

  /** The gate, in a mesh with roles. */
  get gate(): EntryGate | undefined {
    return this.#ref.gate;
  }

  /** Run several local writes as one transaction (one update on the wire). */
  transact(fn: () => void): void {
    this.doc.transact(fn, LOCAL_ORIGIN);
  }

  /** Subscribe to registry changes. */
  on<K extends keyof RegistryEvents>(event: K, listener: (payload: RegistryEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /** Plain JSON of the whole document (for comparison and debugging). */
  toJSON(): Record<string, unknown> {
    return this.doc.toJSON();
  }

  /** Stop emitting events and free the document. */
  destroy(): void {
    this.#events.clear();
    this.doc.destroy();
  }

  /**
   * After a remote change: an entry a member overwrote or deleted without the right is
   * written back as its last valid author signed it, and junk (unsigned, forged, too
   * large) that nobody wrote validly before is removed, so it is not copied on. Runs
   * after the transaction, as a write of its own. Takes `keys` over.
   */
  #scheduleRepair(map: string, keys: Set<string>): void {
    if (keys.size === 0) return;
    const first = this.#repairPending.size === 0;
    const pending = this.#repairPending.get(map);
    // The first set of a map is kept as it is (its caller is done with it): a join brings thousands of keys at once.
    if (!pending) this.#repairPending.set(map, keys);
    else for (const k of keys) pending.add(k);
    if (first) queueMicrotask(() => this.#repair());
  }

  #repair(): void {
    const work = this.#repairPending;
    this.#repairPending = new Map();
    const gate = this.#ref.gate;
    if (!gate) return;
    this.doc.transact(() => {
      for (const [map, keys] of work) {
        for (const key of keys) {
          if (map === 'deployments') {
            // Counted only when there is something to repair: a join brings every deployment here.
            if (this.deployments.needsRepair(key) && this.#mayRepair(map, key)) this.deployments.repair(key, (entry) => gate.stillValid('deployments', key, entry));
            continue;
          }
          const records = this.#recordMap(map);
          const verdict = records?.verdict(key);
          if (!records || !verdict || verdict.ok || !verdict.definite) continue;
          const stored = this.doc.getMap(map).get(key);
          if (!this.#mayRepair(map, key)) continue;
          if (verdict.fallback) {
            if (verdict.fallback.raw !== stored && gate.stillValid(map, key, verdict.fallback)) {
              this.#log.warn(`restoring ${map} entry ${key} as ${verdict.fallback.author.slice(0, 16)}… signed it (${verdict.error.code})`);
              records.restore(key, verdict.fallback.raw);
            }
          } else if (stored !== undefined) {
            this.#log.warn(`removing ${map} entry ${key}: ${verdict.error.message} (${verdict.error.code})`);
            records.restore(key, undefined);
          }
        }
      }
    }, REPAIR_ORIGIN);
  }

  #mayRepair(map: string, key: string): boolean {
    const slot = `${map}/${key}`;
    const count = (this.#repairs.get(slot) ?? 0) + 1;
    if (this.#repairs.size > 100_000) this.#repairs.clear();
    this.#repairs.set(slot, count);
    if (count === MAX_REPAIRS) this.#log.warn(`no more repairs of ${slot}: peers disagree on it`);
    return count < MAX_REPAIRS;
  }

  #recordMap(map: string): RecordMap<{ id: string }> | undefined {
    switch (map) {
      case 'devices':
        return this.devices;
      case 'modules':
        return this.modules;
      case 'blacklist':
        return this.blacklist;
      case 'cards':
        return this.cards;
      case 'trust':
        return this.trust;
      default:
        return undefined;
    }
  }

  #report(map: string, key: string, error: string): void {
    const id = `${map}/${key}: ${error}`;
    if (this.#reported.has(id)) return;
    this.#reported.add(id);
    this.#log.warn(`ignoring malformed ${map} entry ${key}: ${error}`);
  }
}

/** Repairs of one entry before this peer stops (and says so). */
const MAX_REPAIRS = 16;

/** Origin of the registry's own repairs (a local write: it is relayed like any other). */
const REPAIR_ORIGIN = LOCAL_ORIGIN;

/** Deep copy to plain JSON-compatible data, so later caller mutations cannot reach the doc. */
/**
 * How deep a record written here may nest: a manifest's own limit (64) plus the record
 * around it. Yjs and structured cloning recurse, so deeper would fail half way through.
 */
const RECORD_LIMITS = { maxDepth: 80, maxNodes: 1_000_000 } as const;

function toPlain<T>(value: T): T {
  return structuredClone(value);
}
