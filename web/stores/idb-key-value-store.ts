/**
 * {@link KeyValueStore} on IndexedDB: the `kv` object store of a LiquidMesh database
 * (schema and the one-database-two-stores choice are described in `idb-blob-store.ts`).
 * IndexedDB orders string keys by UTF-16 code unit, as `Array.prototype.sort` does, so
 * `keys` returns the index order unchanged and reads only the matching key range.
 * @module
 */
import { DEFAULT_DB_NAME, openMeshDatabase, type MeshDatabase } from './idb-blob-store.ts';
import type { KeyValueStore } from '../../shared/ports/key-value-store.ts';

/**
 * The key range holding exactly the strings that start with `prefix`, or undefined for
 * all keys. The upper bound is the smallest string above every such key: the prefix
 * with its last code unit incremented, after dropping trailing U+FFFF units, which
 * cannot be incremented (a prefix of only U+FFFF units has no upper bound).
 */
export function prefixRange(prefix: string): IDBKeyRange | undefined {
  if (prefix === '') return undefined;
  let stem = prefix;
  while (stem.length > 0 && stem.charCodeAt(stem.length - 1) === 0xffff) stem = stem.slice(0, -1);
  if (stem === '') return IDBKeyRange.lowerBound(prefix);
  const upper = stem.slice(0, -1) + String.fromCharCode(stem.charCodeAt(stem.length - 1) + 1);
  return IDBKeyRange.bound(prefix, upper, false, true);
}

/** Byte records in an IndexedDB object store; values are copied in and out. */
export class IdbKeyValueStore implements KeyValueStore {
  readonly #db: MeshDatabase;
  readonly #name: string;

  private constructor(db: MeshDatabase, name: string) {
    this.#db = db;
    this.#name = name;
  }

  /** Open the key-value store of database `dbName`. */
  static async open(dbName: string = DEFAULT_DB_NAME): Promise<IdbKeyValueStore> {
    return new IdbKeyValueStore(await openMeshDatabase(dbName), dbName);
  }

  /** Name of the database this store is in. */
  get dbName(): string {
    return this.#name;
  }

  /** Close the connection; the data stays. Later operations reject. */
  close(): void {
    this.#db.close();
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    // Each read is a fresh structured clone, so the caller owns what it gets.
    return this.#db.get('kv', key);
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    // slice: store only the view's bytes (a clone of a subarray would keep its whole
    // buffer) and accept SharedArrayBuffer-backed values, which cannot be cloned.
    await this.#db.put('kv', value.slice(), key);
  }

  async delete(key: string): Promise<boolean> {
    const tx = this.#db.transaction('kv', 'readwrite');
    // Awaiting tx.done alongside the work so an aborted transaction's rejection is handled.
    const [existed] = await Promise.all([
      (async () => {
        if ((await tx.store.getKey(key)) === undefined) return false;
        await tx.store.delete(key);
        return true;
      })(),
      tx.done,
    ]);
    return existed;
  }

  async keys(prefix = ''): Promise<string[]> {
    return this.#db.getAllKeys('kv', prefixRange(prefix));
  }
}
