// The IndexedDB stores of web/ in real Chromium: the acceptance suites on a uniquely
// named database per test (deleted afterwards, reopened by name to check persistence),
// then what only IndexedDB can get wrong — prefix ranges, the shared database.
import { expect } from 'chai';
import { deleteDB } from 'idb';
import type { BlobStore } from '../../shared/ports/blob-store.ts';
import type { KeyValueStore } from '../../shared/ports/key-value-store.ts';
import { IdbBlobStore } from '../../web/stores/idb-blob-store.ts';
import { IdbKeyValueStore, prefixRange } from '../../web/stores/idb-key-value-store.ts';
import { runBlobStoreTests } from '../acceptance/blob-store.ts';
import { runKeyValueStoreTests } from '../acceptance/key-value-store.ts';

function uniqueName(): string {
  return `liquidmesh-test-${crypto.randomUUID()}`;
}

runBlobStoreTests({
  name: 'IdbBlobStore',
  create: () => IdbBlobStore.open(uniqueName()),
  destroy: async (store: BlobStore) => {
    const idb = store as IdbBlobStore;
    idb.close();
    await deleteDB(idb.dbName);
  },
  reopen: async (store: BlobStore) => {
    const idb = store as IdbBlobStore;
    idb.close();
    return IdbBlobStore.open(idb.dbName);
  },
});

runKeyValueStoreTests({
  name: 'IdbKeyValueStore',
  create: () => IdbKeyValueStore.open(uniqueName()),
  destroy: async (store: KeyValueStore) => {
    const idb = store as IdbKeyValueStore;
    idb.close();
    await deleteDB(idb.dbName);
  },
  reopen: async (store: KeyValueStore) => {
    const idb = store as IdbKeyValueStore;
    idb.close();
    return IdbKeyValueStore.open(idb.dbName);
  },
});

describe('IndexedDB stores', () => {
  let name: string;
  let kv: IdbKeyValueStore;

  beforeEach(async () => {
    name = uniqueName();
    kv = await IdbKeyValueStore.open(name);
  });
  afterEach(async () => {
    kv.close();
    await deleteDB(name);
  });

  it('bounds a prefix range so that exactly the matching keys fall inside it', () => {
    const inside = (prefix: string, key: string): boolean => prefixRange(prefix)?.includes(key) ?? true;
    expect(prefixRange('')).to.equal(undefined);
    expect(inside('ab', 'ab')).to.equal(true);
    expect(inside('ab', 'ab\uffff\uffff')).to.equal(true);
    expect(inside('ab', 'ac')).to.equal(false);
    expect(inside('ab', 'aa\uffff')).to.equal(false);
    expect(inside('a\uffff', 'a\uffff\uffffz')).to.equal(true);
    expect(inside('a\uffff', 'b')).to.equal(false);
    expect(inside('\uffff', '\uffff\uffff')).to.equal(true);
    expect(inside('\uffff', '\ufffe')).to.equal(false);
  });

  it('lists by prefix at the edges of the key space', async () => {
    const keys = ['a', 'a\uffff', 'a\uffff\uffff', 'b', '\uffff', '\uffffz', 'ü/日本', 'ü0', '😀', '\uD83D\uDE01'];
    for (const key of keys) await kv.set(key, new Uint8Array([1]));
    expect(await kv.keys()).to.deep.equal([...keys].sort());
    for (const prefix of ['a', 'a\uffff', '\uffff', 'ü/', '\uD83D', 'c']) {
      expect(await kv.keys(prefix), JSON.stringify(prefix)).to.deep.equal(keys.filter((k) => k.startsWith(prefix)).sort());
    }
  });

  it('stores only the bytes of a view, not its whole buffer', async () => {
    const buffer = new Uint8Array(1024).fill(7);
    await kv.set('view', buffer.subarray(10, 13));
    const got = (await kv.get('view'))!;
    expect(got.byteLength).to.equal(3);
    expect(got.buffer.byteLength).to.equal(3);
  });

  it('holds blobs and records in one database, each store opened on its own', async () => {
    const blobs = await IdbBlobStore.open(name);
    try {
      const hash = await blobs.put(new Uint8Array([1, 2, 3]));
      await kv.set('identity/v1', new Uint8Array([4, 2]));
      expect(await blobs.list()).to.deep.equal([{ hash, size: 3 }]);
      expect(await kv.keys()).to.deep.equal(['identity/v1']);
    } finally {
      blobs.close();
    }
  });

  it('gives way when another context deletes the database', async () => {
    // deleteDB waits for open connections; ours closes itself instead of blocking it.
    await deleteDB(name);
    kv = await IdbKeyValueStore.open(name);
    expect(await kv.keys()).to.deep.equal([]);
  });
});
