/**
 * Synchronous Ed25519, for the places that cannot wait for WebCrypto's promises: signing
 * a registry entry as it is written and checking one as it is read (the registry's
 * accessors are synchronous because Yjs is). The default backend is @noble/curves
 * (audited, pure JS, works in every browser and worker); a Node host installs its native
 * `node:crypto` backend, about twenty times faster, with {@link setEd25519Backend}.
 * The backend is a process-wide choice of implementation, not peer state: every peer in
 * a realm signs and verifies the same bytes the same way.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519';

/** An Ed25519 implementation working on raw keys: 32-byte seed, 32-byte public key. */
export interface Ed25519Backend {
  /** Which implementation this is (for logs and benchmarks). */
  readonly name: string;
  /** 64-byte signature of `data` by the key with this seed. */
  sign(seed: Uint8Array, data: Uint8Array): Uint8Array;
  /** True when `signature` is `publicKey`'s over `data`; false (never a throw) on bad input. */
  verify(publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array): boolean;
}

/** The pure-JS backend every runtime has. */
export const nobleEd25519: Ed25519Backend = {
  name: 'noble',
  sign: (seed, data) => ed25519.sign(data, seed),
  verify: (publicKey, signature, data) => {
    if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false;
    try {
      // Strict RFC 8032 verification, as WebCrypto and node:crypto do it.
      return ed25519.verify(signature, data, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
};

let backend: Ed25519Backend = nobleEd25519;

/** Use `next` for every synchronous Ed25519 operation in this realm. */
export function setEd25519Backend(next: Ed25519Backend): void {
  backend = next;
}

/** The backend in use. */
export function ed25519Backend(): Ed25519Backend {
  return backend;
}

/** Sign with the backend in use. */
export function signSync(seed: Uint8Array, data: Uint8Array): Uint8Array {
  return backend.sign(seed, data);
}

/** Verify with the backend in use. */
export function verifySync(publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array): boolean {
  return backend.verify(publicKey, signature, data);
}

/** The 32-byte seed inside an Ed25519 PKCS#8 key (RFC 8410: the last 32 bytes of 48). */
export function seedFromPkcs8(pkcs8: Uint8Array): Uint8Array {
  if (pkcs8.byteLength !== 48) throw new RangeError(`an Ed25519 PKCS#8 key is 48 bytes, got ${pkcs8.byteLength}`);
  return pkcs8.slice(16);
}

/** Raw public key of a seed. */
export function publicKeyOfSeed(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}
