// The file-backed stores of node-host/: the acceptance suites over fresh temp
// directories (with reopen on the same directory), then what only files can get wrong —
// keys escaping the directory, interrupted writes, case-insensitive names, long keys.
import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { FileBlobStore, TEMP_PREFIX } from '../../node-host/stores/file-blob-store.ts';
import { FileKeyValueStore, HEX_CHUNK } from '../../node-host/stores/file-key-value-store.ts';
import type { BlobStore } from '../../shared/ports/blob-store.ts';
import type { KeyValueStore } from '../../shared/ports/key-value-store.ts';
import { runBlobStoreTests } from '../acceptance/blob-store.ts';
import { runKeyValueStoreTests } from '../acceptance/key-value-store.ts';
import { rejectionOf } from '../acceptance/wait.ts';

const ABC = new TextEncoder().encode('abc');
const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

function freshDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'liquidmesh-stores-'));
}

/** Every file under `dir`, relative to it, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

runBlobStoreTests({
  name: 'FileBlobStore',
  create: async () => new FileBlobStore(await freshDir()),
  destroy: async (store: BlobStore) => rm((store as FileBlobStore).dir, { recursive: true, force: true }),
  reopen: async (store: BlobStore) => new FileBlobStore((store as FileBlobStore).dir),
});

runKeyValueStoreTests({
  name: 'FileKeyValueStore',
  create: async () => new FileKeyValueStore(await freshDir()),
  destroy: async (store: KeyValueStore) => rm((store as FileKeyValueStore).dir, { recursive: true, force: true }),
  reopen: async (store: KeyValueStore) => new FileKeyValueStore((store as FileKeyValueStore).dir),
});

describe('FileBlobStore on disk', () => {
  let parent: string;
  let dir: string;
  let store: FileBlobStore;

  beforeEach(async () => {
    parent = await freshDir();
    dir = join(parent, 'nested', 'blobs');
    store = new FileBlobStore(dir);
  });
  afterEach(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('creates its directory and keeps one file per blob, named by its hash', async () => {
    await store.put(ABC);
    await store.put(ABC);
    expect(await filesUnder(dir)).to.deep.equal([join(ABC_SHA256.slice(0, 2), ABC_SHA256)]);
    expect(Array.from(await readFile(join(dir, ABC_SHA256.slice(0, 2), ABC_SHA256)))).to.deep.equal(Array.from(ABC));
  });

  it('ignores an interrupted write (a stray temp file) in list and has', async () => {
    await store.put(ABC);
    const shard = join(dir, ABC_SHA256.slice(0, 2));
    await writeFile(join(shard, `${TEMP_PREFIX}0123456789abcdef`), ABC.subarray(0, 1));
    await writeFile(join(dir, `${TEMP_PREFIX}fedcba9876543210`), ABC.subarray(0, 2));
    // Not ours either: a file with a shard-like name, and a hash filed in the wrong shard.
    await writeFile(join(dir, 'ff'), 'x');
    await mkdir(join(dir, '00'));
    await writeFile(join(dir, '00', ABC_SHA256), ABC);
    expect(await store.list()).to.deep.equal([{ hash: ABC_SHA256, size: 3 }]);
    const reopened = new FileBlobStore(dir);
    expect(await reopened.list()).to.deep.equal([{ hash: ABC_SHA256, size: 3 }]);
    expect(Array.from(await reopened.get(ABC_SHA256))).to.deep.equal(Array.from(ABC));
  });

  it('refuses to serve a blob file whose bytes no longer match its name', async () => {
    await store.put(ABC);
    await writeFile(join(dir, ABC_SHA256.slice(0, 2), ABC_SHA256), 'abd');
    expect((await rejectionOf(store.get(ABC_SHA256))).code).to.equal('ERR_HASH_MISMATCH');
  });

  it('returns plain Uint8Arrays, not Buffers whose slice would alias', async () => {
    await store.put(ABC);
    expect(Object.getPrototypeOf(await store.get(ABC_SHA256))).to.equal(Uint8Array.prototype);
  });

  it('leaves one file and no temp files after concurrent puts of the same blob', async () => {
    const hashes = await Promise.all(Array.from({ length: 10 }, () => store.put(ABC)));
    expect(new Set(hashes)).to.deep.equal(new Set([ABC_SHA256]));
    expect(await filesUnder(dir)).to.deep.equal([join(ABC_SHA256.slice(0, 2), ABC_SHA256)]);
  });

  it('stores the bytes as they were when put was called', async () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const pending = store.put(bytes);
    bytes[0] = 9;
    const hash = await pending;
    expect(Array.from(await store.get(hash))).to.deep.equal([1, 2, 3]);
  });
});

describe('FileKeyValueStore on disk', () => {
  let parent: string;
  let dir: string;
  let store: FileKeyValueStore;

  beforeEach(async () => {
    parent = await freshDir();
    dir = join(parent, 'kv');
    store = new FileKeyValueStore(dir);
  });
  afterEach(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('keeps keys like ../../etc/passwd inside its directory', async () => {
    const evil = ['../../etc/passwd', '..', '.', '/abs/path', '..\\..\\win', 'a/../../b', '\0nul'];
    for (const key of evil) await store.set(key, new Uint8Array([1]));
    expect(await readdir(parent)).to.deep.equal(['kv']);
    const files = await filesUnder(dir);
    expect(files).to.have.length(evil.length);
    for (const file of files) expect(file).to.match(/^v[0-9a-f]*$/);
    expect(await store.keys()).to.deep.equal([...evil].sort());
    for (const key of evil) expect(Array.from((await store.get(key))!)).to.deep.equal([1]);
  });

  it('ignores an interrupted write (a stray temp file) and foreign files in keys', async () => {
    await store.set('identity/v1', new Uint8Array([4, 2]));
    await writeFile(join(dir, `${TEMP_PREFIX}0123456789abcdef`), new Uint8Array([9]));
    await writeFile(join(dir, 'README'), 'not a record');
    await writeFile(join(dir, 'vff'), 'not UTF-8 once decoded');
    await writeFile(join(dir, 'vABCD'), 'uppercase hex is never written');
    const reopened = new FileKeyValueStore(dir);
    expect(await reopened.keys()).to.deep.equal(['identity/v1']);
    expect(Array.from((await reopened.get('identity/v1'))!)).to.deep.equal([4, 2]);
  });

  it('keeps keys that differ only in case apart, even on case-insensitive filesystems', async () => {
    await store.set('Key', new Uint8Array([1]));
    await store.set('key', new Uint8Array([2]));
    expect(await store.keys()).to.deep.equal(['Key', 'key']);
    expect(Array.from((await store.get('Key'))!)).to.deep.equal([1]);
    expect(Array.from((await store.get('key'))!)).to.deep.equal([2]);
    // Lowercase hex only: no two file names differ only in case.
    const lower = (await filesUnder(dir)).map((f) => f.toLowerCase());
    expect(new Set(lower).size).to.equal(2);
  });

  it('stores keys longer than a file name can be, and lists them by prefix', async () => {
    const long = `history/${'x'.repeat(300)}/日本/${'ü'.repeat(100)}`;
    const exact = 'y'.repeat(HEX_CHUNK / 2);
    const overByOne = 'y'.repeat(HEX_CHUNK / 2 + 1);
    for (const key of [long, exact, overByOne, 'history/1']) await store.set(key, new Uint8Array([5]));
    expect(Array.from((await store.get(long))!)).to.deep.equal([5]);
    expect(await store.keys('history/')).to.deep.equal(['history/1', long]);
    expect(await store.keys('yy')).to.deep.equal([exact, overByOne]);
    expect(await store.keys()).to.deep.equal(['history/1', long, exact, overByOne].sort());
    for (const file of await filesUnder(dir)) {
      for (const segment of file.split('/')) expect(segment.length).to.be.at.most(HEX_CHUNK + 1);
    }
    expect(await store.delete(long)).to.equal(true);
    expect(await store.get(long)).to.equal(undefined);
    expect(await store.keys('history/')).to.deep.equal(['history/1']);
  });

  it('round-trips the empty key, a leading byte-order mark and a prefix that is a lone surrogate', async () => {
    const keys = ['', '\uFEFFbom', '😀'];
    for (const key of keys) await store.set(key, new Uint8Array([3]));
    expect(await store.keys()).to.deep.equal([...keys].sort());
    expect(Array.from((await store.get('\uFEFFbom'))!)).to.deep.equal([3]);
    expect(await store.get('bom')).to.equal(undefined);
    // Half of the emoji's surrogate pair is a valid prefix to search by.
    expect(await store.keys('\uD83D')).to.deep.equal(['😀']);
  });

  it('refuses keys with lone surrogates, which have no UTF-8 form', async () => {
    expect((await rejectionOf(store.set('a\uD800', new Uint8Array([1])))).code).to.equal('ERR_INVALID_PARAMS');
    expect((await rejectionOf(store.get('\uDC00'))).code).to.equal('ERR_INVALID_PARAMS');
    expect(await store.keys()).to.deep.equal([]);
  });

  it('runs operations on one key in call order', async () => {
    const writes = [store.set('k', new Uint8Array([1])), store.set('k', new Uint8Array([2])), store.set('k', new Uint8Array([3]))];
    const read = store.get('k');
    const removed = store.delete('k');
    const after = store.get('k');
    await Promise.all(writes);
    expect(Array.from((await read)!)).to.deep.equal([3]);
    expect(await removed).to.equal(true);
    expect(await after).to.equal(undefined);
  });
});
