/**
 * Output files of calls made through the gateway, kept in memory (bounded, oldest
 * dropped first) so the URLs handed to clients resolve: `GET /files/{sha256}/{name}`.
 * Like the reference supervisors' result files they are ephemeral; the request history
 * keeps their hashes and sizes for good.
 */
import { createHash } from 'node:crypto';

/** A kept file. */
export interface ResultFile {
  name: string;
  mediaType: string;
  bytes: Uint8Array;
}

/** Bounded store of result files by sha256. */
export class ResultFiles {
  readonly #files = new Map<string, ResultFile>();
  /** deployment, module, file name → sha256 of the newest such output. */
  readonly #latest = new Map<string, string>();
  readonly #maxBytes: number;
  #bytes = 0;

  /** @param maxBytes total size kept (default 64 MiB). */
  constructor(maxBytes = 64 * 1024 * 1024) {
    this.#maxBytes = maxBytes;
  }

  /** Keep a file; returns its sha256. */
  put(file: ResultFile): string {
    const hash = createHash('sha256').update(file.bytes).digest('hex');
    const known = this.#files.get(hash);
    if (known) {
      this.#files.delete(hash);
      this.#files.set(hash, known);
      return hash;
    }
    if (file.bytes.byteLength > this.#maxBytes) return hash;
    this.#files.set(hash, file);
    this.#bytes += file.bytes.byteLength;
    for (const [h, f] of this.#files) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#files.delete(h);
      this.#bytes -= f.bytes.byteLength;
    }
    return hash;
  }

  /** A kept file by sha256. */
  get(hash: string): ResultFile | undefined {
    return this.#files.get(hash);
  }

  /** Remember `hash` as the newest output `name` of `module` in `deployment` (the Rust supervisor's result paths). */
  index(deployment: string, module: string, name: string, hash: string): void {
    const key = `${deployment}\u0000${module}\u0000${name}`;
    this.#latest.delete(key);
    this.#latest.set(key, hash);
    // Bounded like the files: the oldest names go first.
    for (const k of this.#latest.keys()) {
      if (this.#latest.size <= 10_000) break;
      this.#latest.delete(k);
    }
  }

  /** The newest kept output `name` of `module` in `deployment`. */
  latest(deployment: string, module: string, name: string): ResultFile | undefined {
    const hash = this.#latest.get(`${deployment}\u0000${module}\u0000${name}`);
    return hash === undefined ? undefined : this.#files.get(hash);
  }
}

/** The path of a kept file. */
export function filePath(hash: string, name: string): string {
  return `/files/${hash}/${encodeURIComponent(name)}`;
}
