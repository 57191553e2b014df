/**
 * {@link BlobStore} on IndexedDB, and the LiquidMesh database schema it shares with
 * `idb-key-value-store.ts`.
 *
 * One database holds both object stores, so a peer's storage is one name to open, back
 * up or delete, and either store can be opened on any LiquidMesh database without
 * finding the other's object store missing (which separate per-store schemas at the
 * same version would cause). The schema lives here, not in a third module, only
 * because the stores are the sole users; both classes open it through
 * {@link openMeshDatabase}, each with its own connection.
 *
 * Schema, version 1:
 * - `blobs`: keyPath `hash`, records `{ hash, size, bytes }`, with an index on `size` so
 *   `list` reads hashes and sizes from the index without loading any blob's bytes.
 * - `kv`: out-of-line string keys, `Uint8Array` values.
 *
 * IndexedDB structured-clones every value it stores and returns, so bytes are copied
 * in and out by the database itself; the explicit `slice` on the way in is there to
 * hash exactly what is stored, to store a view's bytes rather than its whole backing
 * buffer, and to accept bytes on a SharedArrayBuffer, which IndexedDB cannot clone.
 * @module
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { BlobNotFoundError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { assertHash, verifiedHash } from '../../shared/memory/memory-blob-store.ts';
import type { BlobInfo, BlobStore } from '../../shared/ports/blob-store.ts';

/** The database name peers use unless told otherwise. */
export const DEFAULT_DB_NAME: string = 'liquidmesh';

/** Current schema version; bump it, and extend the upgrade, when the schema changes. */
export const DB_VERSION: number = 1;

/** A stored blob: its content address, its length, its bytes. */
export interface BlobRecord {
  hash: string;
  size: number;
  bytes: Uint8Array;
}

/** The typed shape of a LiquidMesh database, for `idb`. */
export interface MeshDatabaseSchema extends DBSchema {
  blobs: { key: string; value: BlobRecord; indexes: { size: number } };
  kv: { key: string; value: Uint8Array };
}

/** An open connection to a LiquidMesh database. */
export type MeshDatabase = IDBPDatabase<MeshDatabaseSchema>;

const log = createLogger('stores:idb');

/**
 * Open (creating or upgrading as needed) the LiquidMesh database `name`. If another
 * page or worker later needs to upgrade or delete it, this connection closes itself
 * instead of blocking that page; operations on it then fail with InvalidStateError.
 */
export async function openMeshDatabase(name: string): Promise<MeshDatabase> {
  const db = await openDB<MeshDatabaseSchema>(name, DB_VERSION, {
    upgrade(database, oldVersion) {
      if (oldVersion < 1) {
        database.createObjectStore('blobs', { keyPath: 'hash' }).createIndex('size', 'size');
        database.createObjectStore('kv');
      }
    },
    blocked(currentVersion) {
      log.warn(`opening ${name} waits for other connections to version ${currentVersion} to close`);
    },
    blocking() {
      log.warn(`closing ${name}: another context is upgrading or deleting it`);
      db.close();
    },
    terminated() {
      log.warn(`${name} was closed by the browser (storage cleared or evicted)`);
    },
  });
  return db;
}

/** Content-addressed blobs in an IndexedDB object store. */
export class IdbBlobStore implements BlobStore {
  readonly #db: MeshDatabase;
  readonly #name: string;

  private constructor(db: MeshDatabase, name: string) {
    this.#db = db;
    this.#name = name;
  }

  /** Open the blob store of database `dbName`. */
  static async open(dbName: string = DEFAULT_DB_NAME): Promise<IdbBlobStore> {
    return new IdbBlobStore(await openMeshDatabase(dbName), dbName);
  }

  /** Name of the database this store is in. */
  get dbName(): string {
    return this.#name;
  }

  /** Close the connection; the data stays. Later operations reject. */
  close(): void {
    this.#db.close();
  }

  async has(hash: string): Promise<boolean> {
    assertHash(hash);
    return (await this.#db.getKey('blobs', hash)) !== undefined;
  }

  async get(hash: string): Promise<Uint8Array> {
    assertHash(hash);
    const record = await this.#db.get('blobs', hash);
    if (!record) throw new BlobNotFoundError(`no blob ${hash}`);
    return record.bytes;
  }

  /** IndexedDB cannot read part of a value: the record is loaded and sliced. */
  async read(hash: string, offset: number, length: number): Promise<{ bytes: Uint8Array; size: number }> {
    const bytes = await this.get(hash);
    return { bytes: bytes.slice(offset, offset + length), size: bytes.byteLength };
  }

  async put(bytes: Uint8Array, expectedHash?: string): Promise<string> {
    const copy = bytes.slice();
    const hash = await verifiedHash(copy, expectedHash);
    const tx = this.#db.transaction('blobs', 'readwrite');
    // Awaiting tx.done alongside the work: if the work fails, the aborted transaction's
    // rejection is then handled here instead of surfacing as an unhandled rejection.
    await Promise.all([
      (async () => {
        // Same bytes under the same hash: skip rewriting megabytes that are already there.
        if ((await tx.store.getKey(hash)) === undefined) await tx.store.put({ hash, size: copy.byteLength, bytes: copy });
      })(),
      tx.done,
    ]);
    return hash;
  }

  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    let cursor = await this.#db.transaction('blobs').store.index('size').openKeyCursor();
    while (cursor) {
      out.push({ hash: cursor.primaryKey, size: cursor.key });
      cursor = await cursor.continue();
    }
    return out;
  }

  async delete(hash: string): Promise<boolean> {
    assertHash(hash);
    const tx = this.#db.transaction('blobs', 'readwrite');
    const [existed] = await Promise.all([
      (async () => {
        if ((await tx.store.getKey(hash)) === undefined) return false;
        await tx.store.delete(hash);
        return true;
      })(),
      tx.done,
    ]);
    return existed;
  }
}
