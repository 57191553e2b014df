/**
 * In-memory {@link KeyValueStore}.
 * @module
 */
import type { KeyValueStore } from '../ports/key-value-store.ts';

/** Byte records held in a Map; values are copied in and out. */
export class MemoryKeyValueStore implements KeyValueStore {
  readonly #map = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#map.get(key)?.slice();
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    this.#map.set(key, value.slice());
  }

  async delete(key: string): Promise<boolean> {
    return this.#map.delete(key);
  }

  async keys(prefix = ''): Promise<string[]> {
    return [...this.#map.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
