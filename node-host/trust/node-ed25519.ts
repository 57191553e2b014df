/**
 * Node's native Ed25519 (OpenSSL through `node:crypto`) as the synchronous backend of
 * `shared/identity/ed25519-sync.ts`: about twenty times faster than the pure-JS default,
 * which matters when a peer joining a large mesh checks thousands of signed registry
 * entries. Installed once per process by {@link useNodeEd25519}, with native SHA-256 for
 * the digests a registry checkpoint lists.
 */
import { createPrivateKey, createPublicKey, type KeyObject, hash, sign, verify } from 'node:crypto';
import { type Ed25519Backend, setEd25519Backend } from '../../shared/identity/ed25519-sync.ts';
import { setSha256Backend, type Sha256Backend } from '../../shared/trust/entry-digest.ts';

// DER prefixes of an Ed25519 PKCS#8 private key and SPKI public key (RFC 8410): the raw
// 32 bytes follow them.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const MAX_CACHED = 10_000;

const publicKeys = new Map<string, KeyObject>();
const privateKeys = new Map<string, KeyObject>();

function cached(cache: Map<string, KeyObject>, raw: Uint8Array, make: (der: Buffer) => KeyObject, prefix: Buffer): KeyObject {
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex');
  let key = cache.get(id);
  if (!key) {
    key = make(Buffer.concat([prefix, raw]));
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(id, key);
  }
  return key;
}

/** The `node:crypto` backend. */
export const nodeEd25519: Ed25519Backend = {
  name: 'node:crypto',
  sign: (seed, data) => new Uint8Array(sign(null, data, cached(privateKeys, seed, (der) => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), PKCS8_PREFIX))),
  verify: (publicKey, signature, data) => {
    if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false;
    try {
      return verify(null, data, cached(publicKeys, publicKey, (der) => createPublicKey({ key: der, format: 'der', type: 'spki' }), SPKI_PREFIX), signature);
    } catch {
      // A point that is not on the curve: a failed verification, as WebCrypto reports it.
      return false;
    }
  },
};

const digestScratch = Buffer.allocUnsafeSlow(64 * 1024);

/** `node:crypto`'s SHA-256 for the digests of registry checkpoints (`shared/trust/entry-digest.ts`). */
export const nodeSha256: Sha256Backend = {
  name: 'node:crypto',
  // One-shot over one buffer, straight to a binary string: no Hash object per entry, and
  // the buffer reused (hashing is synchronous), since a join hashes thousands of entries.
  digest: (prefix, bytes) => {
    const size = prefix.length * 3 + bytes.byteLength;
    const buffer = size <= digestScratch.length ? digestScratch : Buffer.allocUnsafe(size);
    const head = buffer.write(prefix, 'utf8');
    buffer.set(bytes, head);
    return hash('sha256', buffer.subarray(0, head + bytes.byteLength), 'binary');
  },
};

/** Use the native backends (Ed25519 and the checkpoint digests' SHA-256) in this process. */
export function useNodeEd25519(): void {
  setEd25519Backend(nodeEd25519);
  setSha256Backend(nodeSha256);
}
