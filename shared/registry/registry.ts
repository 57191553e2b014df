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

/** Validating view of one Y.Map whose values are plain JSON records. */
export class RecordMap<T extends { id: string }> {
  readonly #map: Y.Map<unknown>;
  readonly #check: Check<T>;
  readonly #report: (key: string, error: string) => void;

  /** @internal */
  constructor(map: Y.Map<unknown>, check: Check<T>, report: (key: string, error: string) => void) {
    this.#map = map;
    this.#check = check;
    this.#report = report;
  }

  /** The valid entry under `id`, if any. */
  get(id: string): T | undefined {
    const raw = this.#map.get(id);
    return raw === undefined ? undefined : this.#valid(id, raw);
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

  /** Create or replace the entry `value.id`; rejects invalid records with ERR_INVALID_PARAMS. */
  set(value: T): void {
    const r = this.#check(value);
    if (!r.ok) throw new InvalidParamsError(r.error);
    this.#map.set(value.id, toPlain(value));
  }

  /** Remove an entry. */
  delete(id: string): void {
    this.#map.delete(id);
  }

  #valid(key: string, raw: unknown): T | undefined {
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

  /** @internal */
  constructor(doc: Y.Doc, map: Y.Map<unknown>, report: (key: string, error: string) => void) {
    this.#doc = doc;
    this.#map = map;
    this.#report = report;
  }

  /** The deployment `id` with its valid phases, if its record is valid. */
  get(id: string): DeploymentView | undefined {
    const entry = this.#map.get(id);
    if (!(entry instanceof Y.Map)) {
      if (entry !== undefined) this.#report(id, 'deployment entry is not a map');
      return undefined;
    }
    const r = checkDeployment(entry.get('record'));
    if (!r.ok || r.value.id !== id) {
      this.#report(id, r.ok ? 'id does not match its key' : r.error);
      return undefined;
    }
    const phases: Record<string, PhaseRecord> = {};
    const rawPhases = entry.get('phases');
    if (rawPhases instanceof Y.Map) {
      for (const [key, raw] of rawPhases.entries()) {
        const p = checkPhase(raw);
        if (p.ok) phases[key] = p.value;
        else this.#report(`${id}/${key}`, p.error);
      }
    }
    return { record: r.value, phases };
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
    const plain = toPlain(record);
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
    phases.set(`${step}/${peer}`, toPlain(phase));
  }

  /** Remove a deployment and its phases. */
  delete(id: string): void {
    this.#map.delete(id);
  }
}

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
  readonly #events: Emitter<RegistryEvents>;
  readonly #log: Logger;
  readonly #reported = new Set<string>();

  constructor(options: { doc?: Y.Doc; logger?: Logger } = {}) {
    this.doc = options.doc ?? new Y.Doc();
    this.#log = options.logger ?? createLogger('registry');
    this.#events = new Emitter((e) => this.#log.error('change listener failed', e));
    const report = (map: string) => (key: string, error: string) => this.#report(map, key, error);
    this.devices = new RecordMap(this.doc.getMap('devices'), checkDevice, report('devices'));
    this.modules = new RecordMap(this.doc.getMap('modules'), checkModule, report('modules'));
    this.deployments = new DeploymentMap(this.doc, this.doc.getMap('deployments'), report('deployments'));
    this.blacklist = new RecordMap(this.doc.getMap('blacklist'), checkBlacklistEntry, report('blacklist'));
    this.cards = new RecordMap(this.doc.getMap('cards'), checkCard, report('cards'));
    for (const name of ['devices', 'modules', 'deployments', 'blacklist', 'cards'] as const) {
      this.doc.getMap(name).observeDeep((events, txn) => {
        const keys = new Set<string>();
        for (const e of events) {
          // The first path element is the top-level key for nested changes.
          const top = e.path[0];
          if (typeof top === 'string') keys.add(top);
          else for (const k of e.keys.keys()) keys.add(k);
        }
        this.#events.emit('change', { map: name, keys: [...keys], remote: !txn.local });
      });
    }
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

  #report(map: string, key: string, error: string): void {
    const id = `${map}/${key}: ${error}`;
    if (this.#reported.has(id)) return;
    this.#reported.add(id);
    this.#log.warn(`ignoring malformed ${map} entry ${key}: ${error}`);
  }
}

/** Deep copy to plain JSON-compatible data, so later caller mutations cannot reach the doc. */
/**
 * How deep a record written here may nest: a manifest's own limit (64) plus the record
 * around it. Yjs and structured cloning recurse, so deeper would fail half way through.
 */
const RECORD_LIMITS = { maxDepth: 80, maxNodes: 1_000_000 } as const;

function toPlain<T>(value: T): T {
  return structuredClone(value);
}
