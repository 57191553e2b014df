/**
 * The KeyValueStore port: small named records that are not content-addressed — the
 * peer's key pair, the persisted registry document, request history. Adapters:
 * in-memory (`shared/memory/memory-key-value-store.ts`), IndexedDB in `web/`, files in
 * `node-host/`. Every adapter passes `runKeyValueStoreTests` (test/acceptance).
 * @module
 */

/** Byte values under string keys. */
export interface KeyValueStore {
  /** The value, or undefined when the key is absent. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Create or replace. */
  set(key: string, value: Uint8Array): Promise<void>;
  /** Remove; resolves true if the key was there. */
  delete(key: string): Promise<boolean>;
  /** Keys starting with `prefix` (all keys without one), sorted. */
  keys(prefix?: string): Promise<string[]>;
}

/** The storage a peer is given: blobs plus small records. */
export interface PeerStore {
  blobs: import('./blob-store.ts').BlobStore;
  kv: KeyValueStore;
}
