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
 * @module
 */
import * as Y from 'yjs';
import { createLogger, type Logger } from '../log.ts';
import type { Clock, TimerHandle } from '../ports/clock.ts';
import type { KeyValueStore } from '../ports/key-value-store.ts';

/** Key the registry state is stored under by default. */
export const REGISTRY_STATE_KEY = 'registry/state';

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
    if (stored === undefined) return false;
    const problem = checkState(stored);
    if (problem !== null) {
      this.#log.warn(`ignoring the stored registry state (${stored.byteLength} bytes): ${problem}`);
      return false;
    }
    Y.applyUpdate(this.#doc, stored, PERSISTENCE_ORIGIN);
    return true;
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
  flush(): Promise<void> {
    this.#cancelTimer();
    if (this.#dirtySince !== null) this.#save();
    return this.#writing;
  }

  /** Stop watching the document. Unsaved changes are dropped: `flush()` first to keep them. */
  destroy(): void {
    this.#destroyed = true;
    this.#cancelTimer();
    this.#doc.off('update', this.#onUpdate);
  }

  #changed(): void {
    if (this.#destroyed) return;
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

  /** Queue a write of the state as it is when the write starts (so it holds later changes too). */
  #save(): void {
    this.#dirtySince = null;
    const write = async (): Promise<void> => {
      const since = this.#clock.now();
      try {
        await this.#kv.set(this.#key, Y.encodeStateAsUpdate(this.#doc));
      } catch (error) {
        // Unsaved again, as old as the failed attempt, so the next change retries soon.
        if (this.#dirtySince === null || this.#dirtySince > since) this.#dirtySince = since;
        throw error;
      }
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
