/**
 * Request history: every call a peer ran, with its arguments, input files, result or
 * error, start time and duration, persisted in the KeyValueStore so it survives a
 * restart — and request ids never repeat across restarts.
 *
 * Recording is on every call's path, so it costs no store write of its own: entries are
 * held in memory (the newest `keep`, which queries read) and written behind in batches,
 * one record per batch under `history/<first request id>`, at most `flushMs` after they
 * were recorded. `flush()` writes what is pending at once; the supervisor calls it when
 * it stops, so a clean restart loses nothing and a crash at most the last `flushMs`.
 * The stored form of a batch, and the forms earlier versions wrote: history-format.ts.
 * @module
 */
import { fromUtf8, utf8 } from '../bytes.ts';
import type { KeyValueStore } from '../ports/key-value-store.ts';
import { bareEntry, decodeBatch, encodeBatch, type HistoryEntry, storableEntry } from './history-format.ts';

/** An entry, and a file that went in or out of a call (defined with their stored form). */
export type { FileRef, HistoryEntry } from './history-format.ts';

/** Filter of {@link RequestHistory.query}. */
export interface HistoryQuery {
  deploymentId?: string;
  moduleName?: string;
  functionName?: string;
  /** Newest first, at most this many (default 100). */
  limit?: number;
}

/** Options of a {@link RequestHistory}. */
export interface RequestHistoryOptions {
  /** Entries kept before the oldest are dropped (default 10,000). */
  keep?: number;
  /** Longest time a recorded entry waits before it is written to the store, ms (default 100). */
  flushMs?: number;
  /** Told when a batch could not be written (it is tried again with the next one). */
  onError?: (error: unknown) => void;
}

const PREFIX = 'history/';
const COUNTER = 'history-next';
/** Ids reserved per write of the counter: a restart skips the unused rest, never repeats one. */
const RESERVE = 1000;

interface Batch {
  key: string;
  count: number;
}

/** The persisted request history of one peer. */
export class RequestHistory {
  readonly #kv: KeyValueStore;
  readonly #keep: number;
  readonly #flushMs: number;
  readonly #onError: (error: unknown) => void;
  #next = -1;
  /** First id not covered by the persisted reservation. */
  #reservedUntil = -1;
  #loaded: Promise<void> | null = null;
  /** Entries in memory, oldest recorded first: the newest `keep` (a few more until the next trim). */
  #entries: HistoryEntry[] = [];
  /** Recorded, not yet written. */
  #unsaved: HistoryEntry[] = [];
  /** Batches in the store, oldest first, and how many entries they hold together. */
  readonly #batches: Batch[] = [];
  #stored = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #flushing: Promise<void> | null = null;

  constructor(kv: KeyValueStore, options: RequestHistoryOptions = {}) {
    this.#kv = kv;
    this.#keep = options.keep ?? 10_000;
    this.#flushMs = options.flushMs ?? 100;
    this.#onError = options.onError ?? (() => undefined);
  }

  /**
   * The next request id. Ids are reserved in blocks whose end is persisted before any of
   * them is used, so a restarted peer continues after the block and never reuses one.
   */
  async nextId(): Promise<string> {
    if (this.#next < 0) await this.#load();
    const id = this.#next++;
    if (id >= this.#reservedUntil) {
      this.#reservedUntil = id + RESERVE;
      await this.#kv.set(COUNTER, utf8(String(this.#reservedUntil)));
    }
    return String(id);
  }

  /**
   * The next request id without waiting, when one is at hand (the history is loaded and
   * the id is inside the reserved block); else undefined, and {@link nextId} it is.
   */
  takeId(): string | undefined {
    if (this.#next < 0 || this.#next >= this.#reservedUntil) return undefined;
    return String(this.#next++);
  }

  /** Record a finished call (queryable at once, written to the store within `flushMs`). */
  async record(entry: HistoryEntry): Promise<void> {
    if (this.#next < 0) await this.#load();
    this.add(entry);
  }

  /**
   * {@link record} for a history in use: whoever got the entry's id through
   * {@link nextId} or {@link takeId} had it loaded.
   */
  add(recorded: HistoryEntry): void {
    // What cannot be stored is replaced by a marker here, so neither the batch it is
    // written in nor any read of it can fail on it.
    const entry = storableEntry(recorded);
    this.#remember(entry);
    this.#unsaved.push(entry);
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      void this.flush();
    }, this.#flushMs);
  }

  /** Write every recorded entry not written yet. */
  async flush(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    // One batch at a time, in order; whatever is recorded meanwhile goes in the next.
    while (this.#flushing) await this.#flushing;
    if (this.#unsaved.length === 0) return;
    this.#flushing = this.#write(this.#unsaved.splice(0));
    try {
      await this.#flushing;
    } finally {
      this.#flushing = null;
    }
  }

  /** One entry by request id. */
  async get(requestId: string): Promise<HistoryEntry | undefined> {
    if (this.#next < 0) await this.#load();
    // A scan, newest first: asked for rarely, while an index would cost every call.
    const oldest = Math.max(0, this.#entries.length - this.#keep);
    for (let i = this.#entries.length - 1; i >= oldest; i--) {
      if (this.#entries[i]!.requestId === requestId) return this.#copy(i);
    }
    return undefined;
  }

  /** Matching entries, newest first. */
  async query(filter: HistoryQuery = {}): Promise<HistoryEntry[]> {
    if (this.#next < 0) await this.#load();
    const out: HistoryEntry[] = [];
    const limit = filter.limit ?? 100;
    const oldest = Math.max(0, this.#entries.length - this.#keep);
    for (let i = this.#entries.length - 1; i >= oldest && out.length < limit; i--) {
      const e = this.#entries[i]!;
      if (filter.deploymentId && e.deploymentId !== filter.deploymentId) continue;
      if (filter.moduleName && e.moduleName !== filter.moduleName) continue;
      if (filter.functionName && e.functionName !== filter.functionName) continue;
      out.push(this.#copy(i));
    }
    return out;
  }

  /** A copy of entry `i` for a caller; an entry that cannot be copied is repaired in place. */
  #copy(i: number): HistoryEntry {
    try {
      return structuredClone(this.#entries[i]!);
    } catch (error) {
      this.#onError(error);
      this.#entries[i] = bareEntry(this.#entries[i]!);
      return structuredClone(this.#entries[i]!);
    }
  }

  async #write(entries: HistoryEntry[]): Promise<void> {
    const key = PREFIX + entries[0]!.requestId.padStart(12, '0');
    let bytes: Uint8Array;
    try {
      bytes = utf8(encodeBatch(entries));
    } catch (error) {
      // One entry that cannot be encoded (what `storableEntry` did not foresee) is
      // stored bare, with markers for its free-form parts; the others as they are.
      this.#onError(error);
      bytes = utf8(encodeBatch(entries.map((e) => (encodes(e) ? e : bareEntry(e)))));
    }
    try {
      await this.#kv.set(key, bytes);
    } catch (error) {
      // Kept for the next batch: a store that fails for a moment loses nothing.
      this.#unsaved.unshift(...entries);
      this.#onError(error);
      return;
    }
    this.#batches.push({ key, count: entries.length });
    this.#stored += entries.length;
    // Whole batches go once the ones after them hold `keep` entries.
    while (this.#batches.length > 1 && this.#stored - this.#batches[0]!.count >= this.#keep) {
      const oldest = this.#batches.shift()!;
      this.#stored -= oldest.count;
      await this.#kv.delete(oldest.key).catch(this.#onError);
    }
  }

  #remember(entry: HistoryEntry): void {
    this.#entries.push(entry);
    // Trimmed in steps, not per entry: the array is not shifted on every call.
    if (this.#entries.length >= this.#keep + 1000) this.#entries.splice(0, this.#entries.length - this.#keep);
  }

  #load(): Promise<void> {
    this.#loaded ??= (async () => {
      const stored = await this.#kv.get(COUNTER);
      const keys = await this.#kv.keys(PREFIX);
      const entries: HistoryEntry[] = [];
      for (const key of keys) {
        const raw = await this.#kv.get(key);
        if (!raw) continue;
        let batch: HistoryEntry[];
        const damaged = { count: 0 };
        try {
          batch = decodeBatch(fromUtf8(raw), damaged);
          if (damaged.count > 0) this.#onError(new Error(`${damaged.count} damaged entries in ${key} were skipped`));
        } catch (error) {
          // A damaged record costs its own entries, not the history.
          this.#onError(error);
          continue;
        }
        this.#batches.push({ key, count: batch.length });
        this.#stored += batch.length;
        entries.push(...batch);
      }
      entries.sort((a, b) => Number(a.requestId) - Number(b.requestId));
      for (const e of entries.slice(-this.#keep)) this.#remember(e);
      // Set last: the fast paths above test it to know the history is loaded.
      this.#reservedUntil = stored ? Number(fromUtf8(stored)) : 1;
      this.#next = this.#reservedUntil;
    })();
    return this.#loaded;
  }
}

/** True when `entry` encodes as a batch of its own. */
function encodes(entry: HistoryEntry): boolean {
  try {
    encodeBatch([entry]);
    return true;
  } catch {
    return false;
  }
}
