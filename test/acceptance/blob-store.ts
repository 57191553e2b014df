/**
 * The acceptance suite every BlobStore adapter passes (in Node under vitest, in
 * Chromium under web-test-runner).
 */
import { expect } from 'chai';
import type { BlobStore } from '../../shared/ports/blob-store.ts';
import { rejectionOf } from './wait.ts';

/** How an adapter is set up for the suite. */
export interface BlobStoreHarness {
  name: string;
  /** A new, empty store. */
  create(): Promise<BlobStore>;
  /** Release it (close handles, remove files). */
  destroy?(store: BlobStore): Promise<void>;
  /** A second store over the same persistent data, if the adapter persists. */
  reopen?(store: BlobStore): Promise<BlobStore>;
}

const ABC = new TextEncoder().encode('abc');
// The FIPS 180-2 test vector for "abc".
const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Run the suite against `harness`. */
export function runBlobStoreTests(harness: BlobStoreHarness): void {
  describe(`BlobStore acceptance: ${harness.name}`, function () {
    let store: BlobStore;
    beforeEach(async () => {
      store = await harness.create();
    });
    afterEach(async () => {
      await harness.destroy?.(store);
    });

    it('stores bytes under their sha256 and returns them', async () => {
      expect(await store.put(ABC)).to.equal(ABC_SHA256);
      expect(await store.has(ABC_SHA256)).to.equal(true);
      expect(Array.from(await store.get(ABC_SHA256))).to.deep.equal(Array.from(ABC));
    });

    it('stores the empty blob and a 5 MiB blob', async () => {
      expect(await store.put(new Uint8Array(0))).to.equal(EMPTY_SHA256);
      expect((await store.get(EMPTY_SHA256)).byteLength).to.equal(0);
      const big = new Uint8Array(5 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
      const hash = await store.put(big);
      const back = await store.get(hash);
      expect(back.byteLength).to.equal(big.byteLength);
      expect(back[4096 * 3]).to.equal((4096 * 3) & 0xff);
    });

    it('reads ranges of a blob with its size, and nothing past the end', async () => {
      const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
      const hash = await store.put(bytes);
      const middle = await store.read(hash, 70_000, 1000);
      expect(middle.size).to.equal(100_000);
      expect(Array.from(middle.bytes)).to.deep.equal(Array.from(bytes.subarray(70_000, 71_000)));
      expect((await store.read(hash, 99_990, 1000)).bytes.byteLength).to.equal(10);
      expect((await store.read(hash, 200_000, 10)).bytes.byteLength).to.equal(0);
      expect((await rejectionOf(store.read(ABC_SHA256, 0, 1))).code).to.equal('ERR_BLOB_NOT_FOUND');
      expect((await rejectionOf(store.read('nope', 0, 1))).code).to.equal('ERR_INVALID_HASH');
    });

    it('accepts a put whose expected hash matches', async () => {
      expect(await store.put(ABC, ABC_SHA256)).to.equal(ABC_SHA256);
    });

    it('refuses a put whose bytes do not match the expected hash, storing nothing', async () => {
      const wrong = '0'.repeat(64);
      const error = await rejectionOf(store.put(ABC, wrong));
      expect(error.code).to.equal('ERR_HASH_MISMATCH');
      expect(await store.has(wrong)).to.equal(false);
      expect(await store.has(ABC_SHA256)).to.equal(false);
      expect(await store.list()).to.deep.equal([]);
    });

    it('fails get of a missing blob with ERR_BLOB_NOT_FOUND', async () => {
      expect((await rejectionOf(store.get(ABC_SHA256))).code).to.equal('ERR_BLOB_NOT_FOUND');
    });

    it('refuses malformed hashes with ERR_INVALID_HASH', async () => {
      for (const bad of ['', 'abc', ABC_SHA256.toUpperCase(), `${ABC_SHA256}0`, '../../etc/passwd']) {
        expect((await rejectionOf(store.has(bad))).code, bad).to.equal('ERR_INVALID_HASH');
        expect((await rejectionOf(store.get(bad))).code, bad).to.equal('ERR_INVALID_HASH');
        expect((await rejectionOf(store.delete(bad))).code, bad).to.equal('ERR_INVALID_HASH');
        expect((await rejectionOf(store.put(ABC, bad))).code, bad).to.equal('ERR_INVALID_HASH');
      }
    });

    it('is not affected when the caller mutates bytes it put or got', async () => {
      const bytes = new Uint8Array([1, 2, 3]);
      const hash = await store.put(bytes);
      bytes[0] = 99;
      const got = await store.get(hash);
      got[1] = 99;
      expect(Array.from(await store.get(hash))).to.deep.equal([1, 2, 3]);
    });

    it('stores bytes handed over, whole or as a view of a larger buffer, verified like any put', async () => {
      const whole = new Uint8Array([...ABC]);
      expect(await store.put(whole, ABC_SHA256, { handOver: true })).to.equal(ABC_SHA256);
      expect(Array.from(await store.get(ABC_SHA256))).to.deep.equal(Array.from(ABC));
      // A view keeps only its own bytes: the store reports its size, not the buffer's.
      const larger = new Uint8Array(64);
      larger.set([4, 5, 6], 10);
      const hash = await store.put(larger.subarray(10, 13), undefined, { handOver: true });
      expect((await store.list()).find((b) => b.hash === hash)?.size).to.equal(3);
      expect(Array.from(await store.get(hash))).to.deep.equal([4, 5, 6]);
      const wrong = new Uint8Array([7, 8, 9]);
      expect((await rejectionOf(store.put(wrong, ABC_SHA256.replace(/^./, (c) => (c === '0' ? '1' : '0')), { handOver: true }))).code).to.equal('ERR_HASH_MISMATCH');
    });

    it('lists every blob once with its size, however often it was put', async () => {
      await store.put(ABC);
      await store.put(ABC);
      const other = await store.put(new Uint8Array([9, 9]));
      const listed = (await store.list()).sort((a, b) => a.hash.localeCompare(b.hash));
      expect(listed).to.deep.equal([{ hash: ABC_SHA256, size: 3 }, { hash: other, size: 2 }].sort((a, b) => a.hash.localeCompare(b.hash)));
    });

    it('deletes, reporting whether the blob was there', async () => {
      await store.put(ABC);
      expect(await store.delete(ABC_SHA256)).to.equal(true);
      expect(await store.delete(ABC_SHA256)).to.equal(false);
      expect(await store.has(ABC_SHA256)).to.equal(false);
    });

    it('handles concurrent puts of different blobs', async () => {
      const blobs = Array.from({ length: 20 }, (_, i) => new Uint8Array([i, i, i]));
      const hashes = await Promise.all(blobs.map((b) => store.put(b)));
      expect(new Set(hashes).size).to.equal(20);
      expect((await store.list()).length).to.equal(20);
    });

    // Only adapters that persist have something to check here.
    const reopen = harness.reopen;
    if (reopen) {
      it('keeps blobs across a reopen', async () => {
        await store.put(ABC);
        store = await reopen(store);
        expect(await store.has(ABC_SHA256)).to.equal(true);
      });
    }
  });
}
