/**
 * {@link KeyValueStore} on a directory: one file per key.
 *
 * Keys may hold any characters (`/`, `..`, NUL, unicode), so a key is never used as a
 * path. Its UTF-8 bytes are written as lowercase hex, which is safe on every filesystem
 * we may run on: no separators or dot-names to escape the directory, no reserved
 * Windows names, and no collisions on case-insensitive filesystems (macOS, Windows)
 * where `A` and `a` would otherwise share a file. The value file is `v<hex>`. File names
 * are capped near 255 bytes, so hex longer than {@link HEX_CHUNK} digits is split:
 * every full leading chunk becomes a directory `c<chunk>` and the rest names the file
 * inside it; keys of any practical length fit (up to the OS path limit).
 *
 * Writes are atomic (temp file beside the target, fsync, rename), so a reader or a
 * restart sees either the old value or the new one; a crash leaves at most a stray
 * `tmp-*` file, which `keys` ignores.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHex, toHex, utf8 } from '../../shared/bytes.ts';
import { InvalidParamsError } from '../../shared/errors.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import type { KeyValueStore } from '../../shared/ports/key-value-store.ts';
import { isErrno, plainView, writeFileAtomic } from './file-blob-store.ts';

/** Hex digits per path segment: 100 key bytes, well under the 255-byte name limit. */
export const HEX_CHUNK: number = 200;

const VALUE_FILE = new RegExp(`^v(?:[0-9a-f]{2}){0,${HEX_CHUNK / 2}}$`);
const CHUNK_DIR = new RegExp(`^c[0-9a-f]{${HEX_CHUNK}}$`);
// A lone surrogate has no UTF-8 form: TextEncoder would turn it into U+FFFD and two
// different keys would share one file.
const LONE_SURROGATE = /\p{Cs}/u;
// Strict, and keeping a leading U+FEFF: a key may legitimately start with one.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Where `key` lives, relative to the store's directory, as path segments: zero or
 * more `c<chunk>` directories, then the `v<hex>` file. Throws ERR_INVALID_PARAMS for a
 * key that is not well-formed UTF-16 (it contains a lone surrogate).
 */
export function keyPath(key: string): string[] {
  if (typeof key !== 'string' || LONE_SURROGATE.test(key)) {
    throw new InvalidParamsError('a key must be a string without lone surrogates');
  }
  let hex = toHex(utf8(key));
  const segments: string[] = [];
  while (hex.length > HEX_CHUNK) {
    segments.push(`c${hex.slice(0, HEX_CHUNK)}`);
    hex = hex.slice(HEX_CHUNK);
  }
  segments.push(`v${hex}`);
  return segments;
}

/** The key whose UTF-8 bytes are `hex`, or undefined if they are not valid UTF-8. */
function decodeKey(hex: string): string | undefined {
  try {
    return decoder.decode(fromHex(hex));
  } catch (error) {
    if (error instanceof TypeError) return undefined;
    throw error;
  }
}

/**
 * Runs operations on the same key one after another, in call order; operations on
 * different keys run concurrently. Gives the file store the ordering
 * the in-memory store has for free.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Run `op` once every earlier operation on `key` has settled. */
  run<T>(key: string, op: () => Promise<T>): Promise<T> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(op);
    // The tail only orders operations; each failure reaches its own caller via `result`.
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

/** Byte records stored as files under one directory; values are copied in and out. */
export class FileKeyValueStore implements KeyValueStore {
  readonly #dir: string;
  readonly #log: Logger = createLogger('stores:file-kv');
  // Operations on one key run in call order, as they do on the in-memory store: two
  // unawaited `set`s of the same key must leave the second value, not whichever
  // rename happened to land last.
  readonly #queue: KeyedQueue = new KeyedQueue();

  /** Use (and create, if missing) `dir`; records already in it are served as they are. */
  constructor(dir: string) {
    this.#dir = dir;
    // Synchronous once, so a constructed store is usable and a bad path fails here.
    mkdirSync(dir, { recursive: true });
  }

  /** The directory this store keeps its records in. */
  get dir(): string {
    return this.#dir;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const file = join(this.#dir, ...keyPath(key));
    return this.#queue.run(key, async () => {
      try {
        return plainView(await readFile(file));
      } catch (error) {
        if (isErrno(error, 'ENOENT')) return undefined;
        throw error;
      }
    });
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    const segments = keyPath(key);
    // Copied now: the write happens after awaits, when the caller may have reused `value`.
    const copy = value.slice();
    const dir = join(this.#dir, ...segments.slice(0, -1));
    const file = join(this.#dir, ...segments);
    await this.#queue.run(key, async () => {
      if (segments.length > 1) await mkdir(dir, { recursive: true });
      await writeFileAtomic(file, dir, copy, this.#log);
    });
  }

  async delete(key: string): Promise<boolean> {
    const file = join(this.#dir, ...keyPath(key));
    return this.#queue.run(key, async () => {
      try {
        await unlink(file);
        return true;
      } catch (error) {
        if (isErrno(error, 'ENOENT')) return false;
        throw error;
      }
    });
  }

  async keys(prefix = ''): Promise<string[]> {
    // Hex of a well-formed prefix is a prefix of the hex of every key it matches, which
    // lets the walk skip chunk directories that cannot hold a match.
    const prefixHex = LONE_SURROGATE.test(prefix) ? '' : toHex(utf8(prefix));
    const out: string[] = [];
    const walk = async (dir: string, hexSoFar: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (VALUE_FILE.test(entry.name) && entry.isFile()) {
          const key = decodeKey(hexSoFar + entry.name.slice(1));
          if (key === undefined) this.#log.debug(`ignoring ${join(dir, entry.name)}: not a UTF-8 key`);
          else if (key.startsWith(prefix)) out.push(key);
        } else if (CHUNK_DIR.test(entry.name) && entry.isDirectory()) {
          const hex = hexSoFar + entry.name.slice(1);
          if (hex.startsWith(prefixHex) || prefixHex.startsWith(hex)) {
            try {
              await walk(join(dir, entry.name), hex);
            } catch (error) {
              // Removed by another process since we listed its parent: nothing in it to list.
              if (!isErrno(error, 'ENOENT')) throw error;
            }
          }
        }
      }
    };
    await walk(this.#dir, '');
    return out.sort();
  }
}
