/**
 * Signatures on registry entries. In a mesh with roles every registry value is stored as
 * one Uint8Array (ContentAny bytes in the Yjs document):
 *
 *   signed entry      author's raw Ed25519 public key (32) | signature (64) | JSON text
 *   grant/redeemed/revoked in `trust`                                       JSON text
 *
 * The signature covers a context, the map and the key (length-prefixed) and the JSON
 * text's bytes exactly as stored: binding map and key means a signed entry cannot be
 * replayed under another device's id or into another map, and signing the stored bytes
 * means no reader re-serialises anything (no canonical JSON) to check a signature or to
 * compute the digest a checkpoint lists (`entry-digest.ts`). Yjs copies the bytes whole
 * where it would walk an object field by field, so a signed registry encodes and decodes
 * faster than the same records stored as objects; a reader parses the JSON when it opens
 * the entry.
 *
 * Grants, redemptions and revocations (`trust/grant/…`, `redeemed/…`, `revoked/…`) carry
 * no author bytes: the statement inside is signed by an owner or an invitation and proves
 * itself (`write-policy.ts`), so a member's signature around it would add bytes and prove
 * nothing. Their `id` is left out of the text (it is the map key).
 *
 * Verdicts are cached per stored object (Yjs hands back the same object until the entry
 * changes), so reading an entry twice checks it once.
 * @module
 */
import { concatBytes, fromUtf8, toHex, utf8 } from '../bytes.ts';
import { verifySync } from '../identity/ed25519-sync.ts';
import { entryDigestOf } from './entry-digest.ts';
import type { Signer } from './keys.ts';

const CONTEXT = 'liquidmesh-entry-v2';
/** Bytes in front of a signed entry's JSON text: the author's public key (32), then the signature (64). */
export const AUTH_BYTES = 96;
const KEY_BYTES = 32;
/**
 * Largest entry a peer accepts, in stored bytes: a module record with many functions is a
 * few KiB, a deployment with a large manifest well under this. Anything larger is junk and
 * is removed, not copied on.
 */
export const MAX_ENTRY_BYTES = 256 * 1024;

/** A deletion that keeps its author: the entry's value once an authorised writer removed it. */
export interface Tombstone {
  id: string;
  deleted: true;
}

/** Outcome of opening an entry: the value without its signature and its author, or why not. */
export type OpenedEntry =
  | {
      ok: true;
      value: Record<string, unknown>;
      author: string;
      tombstone: boolean;
      /** Opened on the word of an owner's checkpoint (`checkpoint.ts`) instead of its signature. */
      vouched: boolean;
    }
  | { ok: false; code: 'ERR_UNSIGNED_ENTRY' | 'ERR_BAD_SIGNATURE' | 'ERR_ENTRY_TOO_LARGE'; error: string; author?: string };

const verdicts = new WeakMap<object, { map: string; key: string; opened: OpenedEntry }>();

/**
 * True for a trust entry whose statement proves itself (grant, redemption, revocation):
 * stored without author bytes. Name claims and checkpoint pages are signed like any entry.
 */
export function isSelfProving(map: string, key: string): boolean {
  return map === 'trust' && !key.startsWith('name/') && !key.startsWith('checkpoint/');
}

/** What a signature covers: context, map and key (length-prefixed), then the stored JSON text. */
function signedData(map: string, key: string, text: Uint8Array): Uint8Array {
  return concatBytes([utf8(`${CONTEXT}\n${map.length}:${map}${key.length}:${key}\n`), text]);
}

/**
 * `value` signed by `signer` for `map`/`key`, in its stored form (see the module's
 * header); throws a RangeError when it would be larger than {@link MAX_ENTRY_BYTES}.
 */
export function sealEntry(map: string, key: string, value: object, signer: Signer): Uint8Array {
  if (isSelfProving(map, key)) {
    const { id: _id, ...rest } = value as Record<string, unknown>;
    const text = utf8(JSON.stringify(rest));
    if (text.byteLength > MAX_ENTRY_BYTES) throw new RangeError(`${map}/${key} is ${text.byteLength} bytes; an entry may be at most ${MAX_ENTRY_BYTES}`);
    return text;
  }
  const text = utf8(JSON.stringify(value));
  const size = AUTH_BYTES + text.byteLength;
  if (size > MAX_ENTRY_BYTES) throw new RangeError(`${map}/${key} is ${size} bytes; an entry may be at most ${MAX_ENTRY_BYTES}`);
  const out = new Uint8Array(size);
  out.set(signer.publicKey, 0);
  out.set(signer.signSync(signedData(map, key, text)), KEY_BYTES);
  out.set(text, AUTH_BYTES);
  return out;
}

/**
 * Check the form, size and signature of a raw entry stored at `map`/`key`. With `covered`
 * (the digests of an owner's checkpoint), an entry whose digest it lists is opened without
 * its Ed25519 check: the owner checked the signature over the same bytes.
 */
export function openEntry(map: string, key: string, raw: unknown, covered?: ReadonlySet<string>): OpenedEntry {
  if (!(raw instanceof Uint8Array)) return NOT_BYTES;
  const cached = verdicts.get(raw);
  if (cached && cached.map === map && cached.key === key) return cached.opened;
  const opened = openUncached(map, key, raw, covered);
  verdicts.set(raw, { map, key, opened });
  return opened;
}

/**
 * {@link openEntry} without its cache, for a caller that keeps verdicts of its own (the
 * registry's gate remembers every entry it accepted, so a second cache would only add a
 * weak reference per entry for the garbage collector to trace).
 */
export function openEntryUncached(map: string, key: string, raw: unknown, covered?: ReadonlySet<string>): OpenedEntry {
  return raw instanceof Uint8Array ? openUncached(map, key, raw, covered) : NOT_BYTES;
}

const NOT_BYTES: OpenedEntry = { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: 'not a signed entry (bytes)' };

function parseObject(text: Uint8Array): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(text));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function openUncached(map: string, key: string, raw: Uint8Array, covered: ReadonlySet<string> | undefined): OpenedEntry {
  if (raw.byteLength > MAX_ENTRY_BYTES) return { ok: false, code: 'ERR_ENTRY_TOO_LARGE', error: `${raw.byteLength} bytes, above ${MAX_ENTRY_BYTES}` };
  const vouched = covered !== undefined && covered.size > 0 && covered.has(entryDigestOf(map, key, raw));
  if (isSelfProving(map, key)) {
    const parsed = parseObject(raw);
    if (!parsed) return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: 'the entry is not a JSON object' };
    // The key is the id (a stored one is ignored); the parsed object is this reader's own.
    parsed.id = key;
    return { ok: true, value: parsed, author: statementAuthor(key, parsed), tombstone: parsed.deleted === true, vouched };
  }
  if (raw.byteLength < AUTH_BYTES) return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: `${raw.byteLength} bytes cannot hold an author key and signature` };
  const authorKey = raw.subarray(0, KEY_BYTES);
  const author = toHex(authorKey);
  const text = raw.subarray(AUTH_BYTES);
  const value = parseObject(text);
  // Bytes that are no JSON object: nobody can have signed them as an entry.
  if (!value) return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: 'the entry is not a JSON object', author };
  const tombstone = value.deleted === true;
  if (vouched) return { ok: true, value, author, tombstone, vouched: true };
  if (!verifySync(authorKey, raw.subarray(KEY_BYTES, AUTH_BYTES), signedData(map, key, text))) return { ok: false, code: 'ERR_BAD_SIGNATURE', error: `the signature of ${author.slice(0, 16)}… does not hold`, author };
  return { ok: true, value, author, tombstone, vouched: false };
}

/**
 * The digest of the raw entry stored at `map`/`key`, as a checkpoint lists it
 * (`entry-digest.ts`); '' for a value that cannot have one (not bytes, too short to be signed).
 */
export function entryDigest(map: string, key: string, raw: unknown): string {
  if (!(raw instanceof Uint8Array)) return '';
  if (!isSelfProving(map, key) && raw.byteLength < AUTH_BYTES) return '';
  return entryDigestOf(map, key, raw);
}

const s = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The key a self-proving entry's statement names as its maker (for logs and `authorOf`). */
function statementAuthor(key: string, value: Record<string, unknown>): string {
  const kind = key.slice(0, key.indexOf('/'));
  if (kind === 'grant') return s((value.grant as { subject?: unknown } | undefined)?.subject);
  if (kind === 'redeemed') return s(value.subject);
  if (kind === 'revoked') return s((value.revocation as { by?: unknown } | undefined)?.by);
  return '';
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
