/**
 * Keeps the registry document in a {@link KeyValueStore}, so a restarted peer starts from
 * its last known registry — offline too — and sync only has to fetch what changed while it
 * was away.
 *
 * The whole state is stored as one Yjs update (`Y.encodeStateAsUpdate`) under one key.
 * Writing it after every change would rewrite a busy registry many times a second, so
 * saves are debounced on the {@link Clock}: a save happens once changes pause for
 * `debounceMs`, and at the latest `maxDelayMs` after the first unsaved change, so constant
 * change still reaches the store every few seconds. `flush()` saves at once (on stop).
 *
 * A crash must not lose what was created just before it (a module published, a deployment
 * made, the phase that says it is ready), so every change is also written at once as a
 * log entry under `<key>/log/<n>`: everything that changed since the last full save, as
 * one Yjs update (changes made while the previous write was under way go together). Each
 * entry holds the ones before it, so only the newest two are kept, and a full save deletes
 * them. Loading applies the state, then the newest log entry that decodes: a damaged entry
 * costs only the changes made after the one before it (ADR 0019).
 * @module
 */
import * as Y from 'yjs';
import { createLogger, type Logger } from '../log.ts';
import type { Clock, TimerHandle } from '../ports/clock.ts';
import type { KeyValueStore } from '../ports/key-value-store.ts';

/** Key the registry state is stored under by default. */
export const REGISTRY_STATE_KEY = 'registry/state';

/** Log entries are stored under the state's key followed by this and their number. */
const LOG = '/log/';

/**
 * Transaction origin of the stored state being applied. It is an object, not a string,
 * so nothing mistakes it for the id of a peer the update came from.
 */
export const PERSISTENCE_ORIGIN: object = Object.freeze({ origin: 'registry-persistence' });

/** Options of {@link RegistryPersistence}. */
export interface RegistryPersistenceOptions {
  /** The registry document (`Registry.doc`). */
  doc: Y.Doc;
  /** Where the state is kept. */
  kv: KeyValueStore;
  /** Timers of the debounce. */
  clock: Clock;
  logger?: Logger;
  /** Key of the stored state (default {@link REGISTRY_STATE_KEY}). */
  key?: string;
  /** Quiet time after the last change before saving (default 500 ms). */
  debounceMs?: number;
  /** Longest a change waits to be saved while changes keep coming (default 3000 ms). */
  maxDelayMs?: number;
}

/** Loads the registry document from a KeyValueStore and saves it back after changes. */
export class RegistryPersistence {
  readonly #doc: Y.Doc;
  readonly #kv: KeyValueStore;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #key: string;
  readonly #debounceMs: number;
  readonly #maxDelayMs: number;
  readonly #onUpdate: (update: Uint8Array, origin: unknown) => void;
  /** When the oldest unsaved change happened, or null when everything is saved. */
  #dirtySince: number | null = null;
  #lastChangeAt = 0;
  #timer: TimerHandle | null = null;
  /** The write in progress (or the last one): writes run one after another, never racing. */
  #writing: Promise<void> = Promise.resolve();
  #destroyed = false;
  /** Whether a log write is queued. */
  #logQueued = false;
  /** Number of the next log entry. */
  #nextEntry = 0;
  /** Log entries in the store, oldest first. */
  #logged: string[] = [];
  /** State vector of what the stored full state holds: log entries are what changed since. */
  #base: Uint8Array = Y.encodeStateVector(new Y.Doc());

  constructor(options: RegistryPersistenceOptions) {
    this.#doc = options.doc;
    this.#kv = options.kv;
    this.#clock = options.clock;
    this.#log = options.logger ?? createLogger('registry:persistence');
    this.#key = options.key ?? REGISTRY_STATE_KEY;
    this.#debounceMs = options.debounceMs ?? 500;
    this.#maxDelayMs = Math.max(this.#debounceMs, options.maxDelayMs ?? 3000);
    this.#onUpdate = (_update, origin) => {
      // What was just loaded is already stored.
      if (origin !== PERSISTENCE_ORIGIN) this.#changed();
    };
    this.#doc.on('update', this.#onUpdate);
  }

  /**
   * Apply the stored state to the document. Resolves true when a state was applied; a
   * missing one resolves false, and so does a corrupt one (logged as a warning), which
   * leaves the document untouched — sync refills it from the mesh.
   */
  async load(): Promise<boolean> {
    const stored = await this.#kv.get(this.#key);
    const log = await this.#kv.keys(`${this.#key}${LOG}`);
    this.#logged = log;
    const numbers = log.map((k) => Number(k.slice(this.#key.length + LOG.length))).filter(Number.isSafeInteger);
    this.#nextEntry = numbers.length > 0 ? Math.max(...numbers) + 1 : 0;
    let applied = false;
    if (stored !== undefined) {
      const problem = checkState(stored);
      if (problem !== null) this.#log.warn(`ignoring the stored registry state (${stored.byteLength} bytes): ${problem}`);
      else {
        Y.applyUpdate(this.#doc, stored, PERSISTENCE_ORIGIN);
        this.#base = Y.encodeStateVector(this.#doc);
        applied = true;
      }
    }
    // The newest entry holds the others; an older one serves when it is damaged.
    for (const key of [...log].reverse()) {
      const entry = await this.#kv.get(key);
      if (entry === undefined) continue;
      const problem = checkEntry(this.#doc, entry);
      if (problem !== null) {
        this.#log.warn(`ignoring the registry log entry ${key}: ${problem}`);
        continue;
      }
      Y.applyUpdate(this.#doc, entry, PERSISTENCE_ORIGIN);
      applied = true;
      break;
    }
    return applied;
  }

  /** Resolves once every change made so far is in the store (in the log or a full save). */
  async saved(): Promise<void> {
    // A write queued meanwhile (the log of the changes just made) is waited for too.
    let writing: Promise<void>;
    do {
      writing = this.#writing;
      await writing.catch(() => undefined);
    } while (writing !== this.#writing);
  }

  /** True while a change has not been written yet. */
  get dirty(): boolean {
    return this.#dirtySince !== null;
  }

  /**
   * Write the current state now if anything changed since the last save, and resolve when
   * every write started so far is done. Rejects when the store fails; the change then
   * stays unsaved, so the next change or flush tries again.
   */
  async flush(): Promise<void> {
    this.#cancelTimer();
    if (this.#dirtySince !== null) this.#save();
    // Log writes queued while waiting (changes made meanwhile) are waited for too, so none
    // is still running when the caller goes on (and, on stop, removes or reuses the store).
    let writing: Promise<void>;
    do {
      writing = this.#writing;
      await writing;
    } while (writing !== this.#writing);
  }

  /**
   * Stop watching the document, save what is unsaved, and resolve once no write is
   * running (rejects like {@link flush}; the watching stops either way).
   */
  async close(): Promise<void> {
    this.#doc.off('update', this.#onUpdate);
    try {
      await this.flush();
    } finally {
      this.destroy();
    }
  }

  /** Stop watching the document. Unsaved changes are dropped: `flush()` first to keep them. */
  destroy(): void {
    this.#destroyed = true;
    this.#cancelTimer();
    this.#doc.off('update', this.#onUpdate);
  }

  #changed(): void {
    if (this.#destroyed) return;
    if (!this.#logQueued) {
      this.#logQueued = true;
      // Queued behind the write under way: the changes made meanwhile go in one entry.
      const append = (): Promise<void> => this.#append();
      this.#writing = this.#writing.then(append, append);
      this.#writing.catch((e: unknown) => this.#log.warn(`writing the registry log failed; the next save keeps it: ${(e as Error).message}`));
    }
    const now = this.#clock.now();
    this.#lastChangeAt = now;
    if (this.#dirtySince === null) this.#dirtySince = now;
    // The armed timer re-arms itself if changes kept coming; one timer per quiet period.
    if (this.#timer === null) this.#arm(this.#debounceMs);
  }

  #arm(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#due(), ms);
  }

  #due(): void {
    this.#timer = null;
    if (this.#destroyed || this.#dirtySince === null) return;
    const now = this.#clock.now();
    const quietAt = this.#lastChangeAt + this.#debounceMs;
    const deadline = this.#dirtySince + this.#maxDelayMs;
    const wait = Math.min(quietAt, deadline) - now;
    if (wait > 0) {
      this.#arm(wait);
      return;
    }
    this.#save();
    this.#writing.catch((e: unknown) => this.#log.warn(`saving the registry failed; retrying after the next change: ${(e as Error).message}`));
  }

  /** Write what changed since the last full save as the newest log entry; drop the older ones. */
  async #append(): Promise<void> {
    this.#logQueued = false;
    if (this.#destroyed) return;
    const key = `${this.#key}${LOG}${String(this.#nextEntry++).padStart(12, '0')}`;
    try {
      await this.#kv.set(key, Y.encodeStateAsUpdate(this.#doc, this.#base));
    } catch (error) {
      // Not lost: the document holds it, and the next entry or full save writes it.
      this.#dirtySince ??= this.#clock.now();
      throw error;
    }
    this.#logged.push(key);
    // The one before stays, for when this one turns out damaged.
    for (const old of this.#logged.splice(0, Math.max(0, this.#logged.length - 2))) await this.#kv.delete(old);
  }

  /** Queue a write of the state as it is when the write starts (so it holds later changes too). */
  #save(): void {
    this.#dirtySince = null;
    const write = async (): Promise<void> => {
      const since = this.#clock.now();
      // The state written holds every change so far, so it covers every log entry.
      const vector = Y.encodeStateVector(this.#doc);
      try {
        await this.#kv.set(this.#key, Y.encodeStateAsUpdate(this.#doc));
      } catch (error) {
        // Unsaved again, as old as the failed attempt, so the next change retries soon.
        if (this.#dirtySince === null || this.#dirtySince > since) this.#dirtySince = since;
        throw error;
      }
      this.#base = vector;
      for (const key of this.#logged.splice(0)) await this.#kv.delete(key);
    };
    // A failed earlier write must not stop this one; its caller has been told already.
    this.#writing = this.#writing.then(write, write);
  }

  #cancelTimer(): void {
    if (this.#timer === null) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/** Null when `entry` is a Yjs update that applies to `doc`'s content; else what is wrong. */
function checkEntry(doc: Y.Doc, entry: Uint8Array): string | null {
  const scratch = new Y.Doc();
  try {
    Y.applyUpdate(scratch, Y.encodeStateAsUpdate(doc));
    Y.applyUpdate(scratch, entry);
    return null;
  } catch (error) {
    return `not a Yjs update: ${(error as Error).message}`;
  } finally {
    scratch.destroy();
  }
}

/**
 * Null when `bytes` is a complete Yjs state; else what is wrong. Checked on a scratch
 * document because an update that fails halfway may already have changed the one it is
 * applied to, and a full state never leaves anything pending.
 */
function checkState(bytes: Uint8Array): string | null {
  const scratch = new Y.Doc();
  try {
    Y.applyUpdate(scratch, bytes);
    if (scratch.store.pendingStructs !== null || scratch.store.pendingDs !== null) return 'it refers to content it does not hold';
    return null;
  } catch (error) {
    return `not a Yjs update: ${(error as Error).message}`;
  } finally {
    scratch.destroy();
  }
}
