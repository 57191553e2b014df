/**
 * Node's incremental SHA-256 for the Sha256Stream port (shared/ports/sha256.ts): OpenSSL,
 * with the CPU's SHA extensions where it has them, on the calling thread.
 * @module
 */
import { createHash } from 'node:crypto';
import type { Sha256Stream } from '../shared/ports/sha256.ts';

/** A fresh incremental SHA-256. */
export function nodeSha256(): Sha256Stream {
  const hash = createHash('sha256');
  return {
    update: (bytes) => void hash.update(bytes),
    digestHex: () => hash.digest('hex'),
  };
}
