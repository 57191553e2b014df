/**
 * Request history: every call a peer ran, with its arguments, input files, result or
 * error, start time and duration, persisted in the KeyValueStore so it survives a
 * restart — and request ids never repeat across restarts.
 * @module
 */
import { fromUtf8, utf8 } from '../bytes.ts';
import type { ErrorInfo } from '../errors.ts';
import type { KeyValueStore } from '../ports/key-value-store.ts';

/** A file that went in or out of a call (its bytes live elsewhere). */
export interface FileRef {
  name: string;
  size: number;
  sha256: string;
  mediaType?: string;
}

/** One recorded call. */
export interface HistoryEntry {
  requestId: string;
  deploymentId: string;
  moduleName: string;
  functionName: string;
  method: string;
  args: unknown[];
  inputFiles: FileRef[];
  success: boolean;
  result?: unknown;
  outputFiles?: FileRef[];
  error?: ErrorInfo;
  /** Wall-clock ms since epoch. */
  startedAt: number;
  durationMs: number;
}

/** Filter of {@link RequestHistory.query}. */
export interface HistoryQuery {
  deploymentId?: string;
  moduleName?: string;
  functionName?: string;
  /** Newest first, at most this many (default 100). */
  limit?: number;
}

const PREFIX = 'history/';
const COUNTER = 'history-next';
/** Ids reserved per write of the counter: a restart skips the unused rest, never repeats one. */
const RESERVE = 1000;

/** The persisted request history of one peer. */
export class RequestHistory {
  readonly #kv: KeyValueStore;
  readonly #keep: number;
  #next = -1;
  /** First id not covered by the persisted reservation. */
  #reservedUntil = -1;
  #loaded: Promise<void> | null = null;

  /** @param keep entries kept before the oldest are dropped. */
  constructor(kv: KeyValueStore, keep = 10_000) {
    this.#kv = kv;
    this.#keep = keep;
  }

  /**
   * The next request id. Ids are reserved in blocks whose end is persisted before any of
   * them is used, so a restarted peer continues after the block and never reuses one.
   */
  async nextId(): Promise<string> {
    this.#loaded ??= this.#kv.get(COUNTER).then((stored) => {
      this.#next = stored ? Number(fromUtf8(stored)) : 1;
      this.#reservedUntil = this.#next;
    });
    await this.#loaded;
    const id = this.#next++;
    if (id >= this.#reservedUntil) {
      this.#reservedUntil = id + RESERVE;
      await this.#kv.set(COUNTER, utf8(String(this.#reservedUntil)));
    }
    return String(id);
  }

  /** Record a finished call. */
  async record(entry: HistoryEntry): Promise<void> {
    await this.#kv.set(PREFIX + entry.requestId.padStart(12, '0'), utf8(JSON.stringify(entry)));
    const seq = Number(entry.requestId);
    if (Number.isInteger(seq) && seq > this.#keep) await this.#kv.delete(PREFIX + String(seq - this.#keep).padStart(12, '0'));
  }

  /** One entry by request id. */
  async get(requestId: string): Promise<HistoryEntry | undefined> {
    const raw = await this.#kv.get(PREFIX + requestId.padStart(12, '0'));
    return raw ? (JSON.parse(fromUtf8(raw)) as HistoryEntry) : undefined;
  }

  /** Matching entries, newest first. */
  async query(filter: HistoryQuery = {}): Promise<HistoryEntry[]> {
    const keys = (await this.#kv.keys(PREFIX)).reverse();
    const out: HistoryEntry[] = [];
    const limit = filter.limit ?? 100;
    for (const key of keys) {
      if (out.length >= limit) break;
      const raw = await this.#kv.get(key);
      if (!raw) continue;
      const e = JSON.parse(fromUtf8(raw)) as HistoryEntry;
      if (filter.deploymentId && e.deploymentId !== filter.deploymentId) continue;
      if (filter.moduleName && e.moduleName !== filter.moduleName) continue;
      if (filter.functionName && e.functionName !== filter.functionName) continue;
      out.push(e);
    }
    return out;
  }
}
