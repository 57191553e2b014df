/**
 * In-memory {@link BlobStore}: a Map of verified bytes. Used by unit tests, the
 * simulator and peers that must not touch disk.
 * @module
 */
import { SHA256_HEX, sha256Hex, takeVouchedSha256 } from '../bytes.ts';
import { BlobNotFoundError, HashMismatchError, InvalidHashError } from '../errors.ts';
import type { BlobInfo, BlobStore, PutOptions } from '../ports/blob-store.ts';

/** Throw ERR_INVALID_HASH unless `hash` is 64 lowercase hex digits. */
export function assertHash(hash: string): void {
  if (typeof hash !== 'string' || !SHA256_HEX.test(hash)) {
    throw new InvalidHashError(`not a sha256 content address: ${String(hash).slice(0, 80)}`);
  }
}

/**
 * Hash `bytes` and check them against `expectedHash` when given; shared by every
 * BlobStore adapter so that verification is done one way only.
 */
export async function verifiedHash(bytes: Uint8Array, expectedHash?: string): Promise<string> {
  if (expectedHash !== undefined) assertHash(expectedHash);
  // Hashed already, range by range as it arrived, by the fetch that hands it over (ADR 0031).
  const hash = takeVouchedSha256(bytes) ?? (await sha256Hex(bytes));
  if (expectedHash !== undefined && hash !== expectedHash) {
    throw new HashMismatchError(`bytes hash to ${hash}, expected ${expectedHash}`, { expected: expectedHash, actual: hash });
  }
  return hash;
}

/** Content-addressed blobs held in memory. */
export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, Uint8Array>();

  async has(hash: string): Promise<boolean> {
    assertHash(hash);
    return this.#blobs.has(hash);
  }

  async get(hash: string): Promise<Uint8Array> {
    assertHash(hash);
    const bytes = this.#blobs.get(hash);
    if (!bytes) throw new BlobNotFoundError(`no blob ${hash}`);
    return bytes.slice();
  }

  async read(hash: string, offset: number, length: number): Promise<{ bytes: Uint8Array; size: number }> {
    assertHash(hash);
    const bytes = this.#blobs.get(hash);
    if (!bytes) throw new BlobNotFoundError(`no blob ${hash}`);
    // A view, not a copy: ranges are read to be sent, and a copy per range was a tenth of
    // the garbage a blob transfer made (see the port: callers do not write into them).
    return { bytes: bytes.subarray(offset, offset + length), size: bytes.byteLength };
  }

  async put(bytes: Uint8Array, expectedHash?: string, options: PutOptions = {}): Promise<string> {
    const hash = await verifiedHash(bytes, expectedHash);
    // Handed over whole, the bytes are kept as they are: a 10 MiB fetch copied once more
    // here was a sixth of the garbage its transfer made (ADR 0031). A view of a larger
    // buffer is still copied, so that the store never holds memory it does not use.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    if (!this.#blobs.has(hash)) this.#blobs.set(hash, options.handOver === true && whole ? bytes : bytes.slice());
    return hash;
  }

  async list(): Promise<BlobInfo[]> {
    return [...this.#blobs].map(([hash, bytes]) => ({ hash, size: bytes.byteLength }));
  }

  async delete(hash: string): Promise<boolean> {
    assertHash(hash);
    return this.#blobs.delete(hash);
  }
}
