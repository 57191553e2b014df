/**
 * {@link BlobStore} on a directory: one file per blob, named by its sha256 and sharded
 * into subfolders by the hash's first two hex digits (`ab/abcd…`), so that no single
 * directory grows to hundreds of thousands of entries.
 *
 * Writes are atomic: the bytes go to a temp file in the blob's own shard folder, are
 * fsynced, and only then renamed to the hash. A crash can leave a stray `tmp-*` file
 * behind, never a partial file under a hash; `list` and `has` see only names that are
 * content addresses. Every read is re-verified against its hash, because the directory
 * is outside this process's control and the port promises nothing unverified is served.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SHA256_HEX } from '../../shared/bytes.ts';
import { BlobNotFoundError } from '../../shared/errors.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { assertHash, verifiedHash } from '../../shared/memory/memory-blob-store.ts';
import type { BlobInfo, BlobStore } from '../../shared/ports/blob-store.ts';

/** Prefix of in-progress writes; never a valid hash, so readers skip such files. */
export const TEMP_PREFIX: string = 'tmp-';

const SHARD = /^[0-9a-f]{2}$/;

/** True when `error` is a Node system error with the given `code`. */
export function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === code;
}

/**
 * Write `bytes` to `target` atomically: temp file beside it, fsync, rename. The fsync
 * matters: without it some filesystems (ext4 with delayed allocation) can persist the
 * rename before the data, leaving an empty file under the final name after a crash.
 */
export async function writeFileAtomic(target: string, dir: string, bytes: Uint8Array, log: Logger): Promise<void> {
  const temp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    // The caller sees the original failure; a temp file we cannot remove is only litter.
    await rm(temp, { force: true }).catch((cleanup: unknown) => log.warn(`could not remove ${temp}: ${(cleanup as Error).message}`));
    throw error;
  }
}

/**
 * Bytes read from disk as a plain Uint8Array that the caller owns outright: Node's
 * Buffer has a `slice` that aliases instead of copying, which would surprise callers
 * written against the port, and a small Buffer may share a pooled ArrayBuffer with
 * unrelated data, in which case it is copied out.
 */
export function plainView(buffer: Buffer): Uint8Array {
  const owned = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
  return owned ? new Uint8Array(buffer.buffer, 0, buffer.byteLength) : new Uint8Array(buffer);
}

/** Content-addressed blobs stored as files under one directory. */
export class FileBlobStore implements BlobStore {
  readonly #dir: string;
  readonly #log: Logger = createLogger('stores:file-blob');

  /** Use (and create, if missing) `dir`; blobs already in it are served as they are. */
  constructor(dir: string) {
    this.#dir = dir;
    // Synchronous once, so a constructed store is usable and a bad path fails here.
    mkdirSync(dir, { recursive: true });
  }

  /** The directory this store keeps its blobs in. */
  get dir(): string {
    return this.#dir;
  }

  async has(hash: string): Promise<boolean> {
    assertHash(hash);
    try {
      return (await stat(this.#path(hash))).isFile();
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  async get(hash: string): Promise<Uint8Array> {
    assertHash(hash);
    let bytes: Uint8Array;
    try {
      bytes = plainView(await readFile(this.#path(hash)));
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new BlobNotFoundError(`no blob ${hash}`);
      throw error;
    }
    try {
      await verifiedHash(bytes, hash);
    } catch (error) {
      // Someone or something changed the file behind our back; say which one.
      this.#log.error(`blob file ${this.#path(hash)} does not match its name`);
      throw error;
    }
    return bytes;
  }

  /**
   * A range straight from the file. Unlike `get` it does not re-hash (it cannot, from a
   * part): whoever assembles the ranges verifies the whole, as Peer.fetchBlob does.
   */
  async read(hash: string, offset: number, length: number): Promise<{ bytes: Uint8Array; size: number }> {
    assertHash(hash);
    let handle;
    try {
      handle = await open(this.#path(hash), 'r');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new BlobNotFoundError(`no blob ${hash}`);
      throw error;
    }
    try {
      const { size } = await handle.stat();
      const start = Math.min(Math.max(0, offset), size);
      const bytes = new Uint8Array(Math.max(0, Math.min(length, size - start)));
      if (bytes.byteLength > 0) await handle.read(bytes, 0, bytes.byteLength, start);
      return { bytes, size };
    } finally {
      await handle.close();
    }
  }

  async put(bytes: Uint8Array, expectedHash?: string): Promise<string> {
    // Copy first and hash the copy, so a caller mutating `bytes` while we await cannot
    // make the stored file differ from the hash it is stored under.
    const copy = bytes.slice();
    const hash = await verifiedHash(copy, expectedHash);
    if (await this.has(hash)) return hash;
    // Two concurrent puts of one blob both get here; each renames identical bytes over
    // the other's, which is harmless, so no locking is needed.
    const shard = join(this.#dir, hash.slice(0, 2));
    await mkdir(shard, { recursive: true });
    await writeFileAtomic(this.#path(hash), shard, copy, this.#log);
    return hash;
  }

  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const shard of await readdir(this.#dir)) {
      if (!SHARD.test(shard)) continue;
      let names: string[];
      try {
        names = await readdir(join(this.#dir, shard));
      } catch (error) {
        // A plain file with a shard-like name is not ours; anything else is a real fault.
        if (isErrno(error, 'ENOTDIR')) continue;
        throw error;
      }
      for (const name of names) {
        if (!SHA256_HEX.test(name) || !name.startsWith(shard)) continue;
        try {
          const info = await stat(join(this.#dir, shard, name));
          if (info.isFile()) out.push({ hash: name, size: info.size });
        } catch (error) {
          // Deleted between readdir and stat: it is simply no longer listed.
          if (!isErrno(error, 'ENOENT')) throw error;
        }
      }
    }
    return out;
  }

  async delete(hash: string): Promise<boolean> {
    assertHash(hash);
    try {
      await unlink(this.#path(hash));
      return true;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  #path(hash: string): string {
    return join(this.#dir, hash.slice(0, 2), hash);
  }
}
