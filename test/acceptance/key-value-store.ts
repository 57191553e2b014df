/**
 * The acceptance suite every KeyValueStore adapter passes.
 */
import { expect } from 'chai';
import type { KeyValueStore } from '../../shared/ports/key-value-store.ts';

/** How an adapter is set up for the suite. */
export interface KeyValueStoreHarness {
  name: string;
  create(): Promise<KeyValueStore>;
  destroy?(store: KeyValueStore): Promise<void>;
  /** A second store over the same persistent data, if the adapter persists. */
  reopen?(store: KeyValueStore): Promise<KeyValueStore>;
}

/** Run the suite against `harness`. */
export function runKeyValueStoreTests(harness: KeyValueStoreHarness): void {
  describe(`KeyValueStore acceptance: ${harness.name}`, function () {
    let store: KeyValueStore;
    beforeEach(async () => {
      store = await harness.create();
    });
    afterEach(async () => {
      await harness.destroy?.(store);
    });

    it('returns undefined for a missing key', async () => {
      expect(await store.get('nope')).to.equal(undefined);
    });

    it('stores, replaces and deletes values', async () => {
      await store.set('a', new Uint8Array([1]));
      expect(Array.from((await store.get('a'))!)).to.deep.equal([1]);
      await store.set('a', new Uint8Array([2, 3]));
      expect(Array.from((await store.get('a'))!)).to.deep.equal([2, 3]);
      expect(await store.delete('a')).to.equal(true);
      expect(await store.delete('a')).to.equal(false);
      expect(await store.get('a')).to.equal(undefined);
    });

    it('lists keys by prefix, sorted', async () => {
      for (const k of ['history/2', 'history/1', 'identity/v1', 'history/10']) await store.set(k, new Uint8Array([0]));
      expect(await store.keys('history/')).to.deep.equal(['history/1', 'history/10', 'history/2']);
      expect(await store.keys()).to.deep.equal(['history/1', 'history/10', 'history/2', 'identity/v1']);
    });

    it('copies values in and out', async () => {
      const v = new Uint8Array([1, 2]);
      await store.set('k', v);
      v[0] = 9;
      const got = (await store.get('k'))!;
      got[1] = 9;
      expect(Array.from((await store.get('k'))!)).to.deep.equal([1, 2]);
    });

    it('accepts keys with slashes, dots and unicode', async () => {
      for (const k of ['a/b/c', '..', 'ü/日本']) {
        await store.set(k, new Uint8Array([7]));
        expect(Array.from((await store.get(k))!)).to.deep.equal([7]);
      }
    });

    // Only adapters that persist have something to check here.
    const reopen = harness.reopen;
    if (reopen) {
      it('keeps values across a reopen', async () => {
        await store.set('identity/v1', new Uint8Array([4, 2]));
        store = await reopen(store);
        expect(Array.from((await store.get('identity/v1'))!)).to.deep.equal([4, 2]);
      });
    }
  });
}
