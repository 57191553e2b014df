/**
 * The BlobStore port: content-addressed bytes (sha256, 64 lowercase hex digits).
 * Wasm binaries, data files and snapshots live here. `put` verifies the hash, so
 * nothing unverified is ever stored — and so nothing unverified is ever instantiated.
 * Adapters: in-memory (`shared/memory/memory-blob-store.ts`), IndexedDB in `web/`, files
 * in `node-host/`. Every adapter passes `runBlobStoreTests` (test/acceptance).
 * @module
 */

/** What `list` reports of each blob. */
export interface BlobInfo {
  hash: string;
  size: number;
}

/** Options of {@link BlobStore.put}. */
export interface PutOptions {
  /**
   * The caller hands `bytes` over: it will never write into them again, and reads them
   * from now on as it would the store's own. A store in memory may then keep them as they
   * are instead of a copy of its own (a fetched blob is not copied once more to be
   * stored); other stores ignore it.
   */
  handOver?: boolean;
}

/** Content-addressed byte storage. */
export interface BlobStore {
  /** True when the blob is stored. Rejects with ERR_INVALID_HASH for a malformed hash. */
  has(hash: string): Promise<boolean>;
  /** The blob's bytes; rejects with ERR_BLOB_NOT_FOUND or ERR_INVALID_HASH. */
  get(hash: string): Promise<Uint8Array>;
  /**
   * Up to `length` bytes from `offset`, and the blob's whole size — how peers serve a
   * blob range by range without loading it whole each time. Past the end gives fewer (or
   * no) bytes. Rejects like `get`. The bytes may be a view of the store's own (an
   * in-memory store gives one): read them, never write into them.
   */
  read(hash: string, offset: number, length: number): Promise<{ bytes: Uint8Array; size: number }>;
  /**
   * Store bytes and return their sha256. With `expectedHash`, rejects with
   * ERR_HASH_MISMATCH (storing nothing) when the bytes hash to something else.
   */
  put(bytes: Uint8Array, expectedHash?: string, options?: PutOptions): Promise<string>;
  /** Every stored blob with its size, in no particular order. */
  list(): Promise<BlobInfo[]>;
  /** Remove a blob; resolves true if it was there. */
  delete(hash: string): Promise<boolean>;
}
