/**
 * Signatures on registry entries. Every value a member writes into the registry carries
 * `_auth: { by, sig }`: its author's public key and an Ed25519 signature over the map,
 * the key and the value (canonical JSON, `_auth` left out). Binding map and key means a
 * signed entry cannot be replayed under another device's id or into another map.
 * Verdicts are cached per stored object (Yjs hands back the same object until the entry
 * changes), so reading an entry twice checks it once.
 * @module
 */
import { signedBytes } from './canonical.ts';
import { keyHex, PUBLIC_KEY_HEX, signHex, type Signer, verifyHex } from './keys.ts';

const CONTEXT = 'liquidmesh-entry-v1';
/** Field of an entry holding its signature. */
export const AUTH_FIELD = '_auth';
/**
 * Largest entry a peer accepts, as canonical JSON (bytes of UTF-16 code units, close to
 * UTF-8 for JSON): a module record with many functions is a few KiB, a deployment with a
 * large manifest well under this. Anything larger is junk and is removed, not copied on.
 */
export const MAX_ENTRY_BYTES = 256 * 1024;

/** The signature part of an entry. */
export interface EntryAuth {
  /** Author's public key (hex). */
  by: string;
  sig: string;
}

/** A deletion that keeps its author: the entry's value once an authorised writer removed it. */
export interface Tombstone {
  id: string;
  deleted: true;
}

/** Outcome of opening an entry: the value without its signature and its author, or why not. */
export type OpenedEntry =
  | { ok: true; value: Record<string, unknown>; author: string; tombstone: boolean }
  | { ok: false; code: 'ERR_UNSIGNED_ENTRY' | 'ERR_BAD_SIGNATURE' | 'ERR_ENTRY_TOO_LARGE'; error: string; author?: string };

const verdicts = new WeakMap<object, { map: string; key: string; opened: OpenedEntry }>();

function withoutAuth(raw: Record<string, unknown>): Record<string, unknown> {
  const { [AUTH_FIELD]: _auth, ...value } = raw;
  return value;
}

/** `value` signed by `signer` for `map`/`key`. */
export function sealEntry<T extends object>(map: string, key: string, value: T, signer: Signer): T & { _auth: EntryAuth } {
  const plain = withoutAuth(value as Record<string, unknown>);
  const data = signedBytes(CONTEXT, { m: map, k: key, v: plain });
  if (data.byteLength > MAX_ENTRY_BYTES) throw new RangeError(`${map}/${key} is ${data.byteLength} bytes; an entry may be at most ${MAX_ENTRY_BYTES}`);
  return { ...(plain as T), [AUTH_FIELD]: { by: keyHex(signer), sig: signHex(signer, data) } } as T & { _auth: EntryAuth };
}

/**
 * Check the signature and size of a raw entry stored at `map`/`key`. With
 * `selfProving`, the value proves itself (a grant or revocation signed inside): only its
 * size and shape are checked, saving a verification per member when a peer joins.
 */
export function openEntry(map: string, key: string, raw: unknown, selfProving = false): OpenedEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: 'not a signed object' };
  const cached = verdicts.get(raw);
  if (cached && cached.map === map && cached.key === key) return cached.opened;
  const opened = openUncached(map, key, raw as Record<string, unknown>, selfProving);
  verdicts.set(raw, { map, key, opened });
  return opened;
}

/**
 * Open a raw entry whose signature an owner-signed checkpoint vouches for
 * (`checkpoint.ts`): its shape is checked, its signature and size are not (the owner
 * checked both over the same bytes). The verdict is cached like a verified one.
 */
export function openVouchedEntry(map: string, key: string, raw: unknown): OpenedEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: 'not a signed object' };
  const cached = verdicts.get(raw);
  if (cached && cached.map === map && cached.key === key) return cached.opened;
  const auth = (raw as Record<string, unknown>)[AUTH_FIELD] as Partial<EntryAuth> | undefined;
  if (typeof auth !== 'object' || auth === null || typeof auth.by !== 'string' || typeof auth.sig !== 'string' || !PUBLIC_KEY_HEX.test(auth.by)) {
    return openEntry(map, key, raw);
  }
  const value = withoutAuth(raw as Record<string, unknown>);
  const opened: OpenedEntry = { ok: true, value, author: auth.by, tombstone: value.deleted === true };
  verdicts.set(raw, { map, key, opened });
  return opened;
}

function openUncached(map: string, key: string, raw: Record<string, unknown>, selfProving: boolean): OpenedEntry {
  const auth = raw[AUTH_FIELD] as Partial<EntryAuth> | undefined;
  if (typeof auth !== 'object' || auth === null || typeof auth.by !== 'string' || typeof auth.sig !== 'string' || !PUBLIC_KEY_HEX.test(auth.by)) {
    return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: 'the entry carries no author signature' };
  }
  const value = withoutAuth(raw);
  let data: Uint8Array;
  try {
    data = signedBytes(CONTEXT, { m: map, k: key, v: value });
  } catch (error) {
    // A value JSON cannot write (a BigInt a modified client stored): nobody can have signed it.
    return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: `the entry is not JSON: ${(error as Error).message}`, author: auth.by };
  }
  if (data.byteLength > MAX_ENTRY_BYTES) return { ok: false, code: 'ERR_ENTRY_TOO_LARGE', error: `${data.byteLength} bytes, above ${MAX_ENTRY_BYTES}`, author: auth.by };
  if (!selfProving && !verifyHex(auth.by, auth.sig, data)) return { ok: false, code: 'ERR_BAD_SIGNATURE', error: `the signature of ${auth.by.slice(0, 16)}… does not hold`, author: auth.by };
  return { ok: true, value, author: auth.by, tombstone: value.deleted === true };
}

/**
 * The author (public key, hex) of the entry stored at `map`/`key`, when its signature
 * holds; undefined for an unsigned or forged entry. Whether that author was allowed to
 * write it is the registry's question (`Registry.authorOf` answers both).
 */
export function entryAuthor(map: string, key: string, raw: unknown): string | undefined {
  const opened = openEntry(map, key, raw);
  return opened.ok ? opened.author : undefined;
}
