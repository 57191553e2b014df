/**
 * The digest of a stored registry entry, as an owner-signed checkpoint lists it
 * (`checkpoint.ts`): SHA-256 over the map, the key and the entry's stored bytes
 * (`entry-auth.ts`: author key, signature and the JSON text the author signed). The bytes
 * are what every peer holds (Yjs carries them unchanged), so the digest needs no
 * serialisation at all: a joiner hashes what it received.
 *
 * SHA-256 runs synchronously because the registry's gate does (Yjs observers read
 * inline; `crypto.subtle.digest` is promise-only). The default is @noble/hashes; a Node
 * host installs `node:crypto`'s, several times faster, with {@link setSha256Backend}.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2';
import { utf8 } from '../bytes.ts';

/** Length of a digest in bytes. */
export const DIGEST_BYTES = 32;

/** A synchronous SHA-256 of UTF-8 text followed by bytes. */
export interface Sha256Backend {
  readonly name: string;
  /** The 32-byte digest of `prefix` (as UTF-8) then `bytes`, as a binary string (one character per byte). */
  digest(prefix: string, bytes: Uint8Array): string;
}

/** The pure-JS backend every runtime has. */
export const nobleSha256: Sha256Backend = { name: 'noble', digest: (prefix, bytes) => binary(sha256.create().update(utf8(prefix)).update(bytes).digest()) };

let backend: Sha256Backend = nobleSha256;

/** Use `next` for every entry digest in this realm. */
export function setSha256Backend(next: Sha256Backend): void {
  backend = next;
}

/**
 * The digest of the entry stored at `map`/`key` as `stored` (its bytes as the registry
 * holds them), as a 32-character binary string (one character per byte: cheap to keep in
 * a Set and to compare). Map and key are length-prefixed so that no key can pose as
 * another key followed by bytes.
 */
export function entryDigestOf(map: string, key: string, stored: Uint8Array): string {
  return backend.digest(`${map.length}:${map}${key.length}:${key}`, stored);
}

/** Bytes as a binary string, one character (0–255) per byte. */
export function binary(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]!);
  return out;
}

/** Concatenated digests (binary strings) as base64: what a checkpoint page stores. */
export function packDigests(digests: Iterable<string>): string {
  let all = '';
  for (const d of digests) all += d;
  return btoa(all);
}

/** The digests of a page's base64 text; throws a TypeError on text that is not a whole number of digests. */
export function unpackDigests(text: string): string[] {
  const all = atob(text);
  if (all.length % DIGEST_BYTES !== 0) throw new TypeError(`${all.length} bytes is not a whole number of digests`);
  const out: string[] = [];
  for (let i = 0; i < all.length; i += DIGEST_BYTES) out.push(all.slice(i, i + DIGEST_BYTES));
  return out;
}
