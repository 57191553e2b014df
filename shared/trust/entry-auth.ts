/**
 * Signatures on registry entries. Every value a member writes into the registry carries
 * `_a`: 96 bytes (a Uint8Array in the Yjs document) holding its author's raw Ed25519
 * public key (32) and a signature (64) over the map, the key and the value (canonical
 * JSON, `_a` left out). Binding map and key means a signed entry cannot be replayed under
 * another device's id or into another map. Binary rather than hex halves what every peer
 * stores, sends and decodes, and Yjs copies bytes where it walks strings byte by byte.
 *
 * Grants, redemptions and revocations (`trust/grant/…`, `redeemed/…`, `revoked/…`) carry
 * no `_a`: the statement inside is signed by an owner or an invitation and proves itself
 * (`write-policy.ts`), so a member's signature around it would add bytes and prove nothing.
 * Their statements' keys and signatures are stored as bytes too (`statement-codec.ts`); a
 * reader opens them to the hex statements `statements.ts` checks.
 *
 * Verdicts are cached per stored object (Yjs hands back the same object until the entry
 * changes), so reading an entry twice checks it once.
 * @module
 */
import { toHex } from '../bytes.ts';
import { verifySync } from '../identity/ed25519-sync.ts';
import { signedBytes } from './canonical.ts';
import { entryDigestOf } from './entry-digest.ts';
import type { Signer } from './keys.ts';
import { packTrustStatements, unpackTrustStatements } from './statement-codec.ts';

const CONTEXT = 'liquidmesh-entry-v1';
/** Field of an entry holding its author and signature. */
export const AUTH_FIELD = '_a';
/** Bytes of `_a`: the author's public key (32), then the signature (64). */
export const AUTH_BYTES = 96;
const KEY_BYTES = 32;
/**
 * Largest entry a peer accepts, as canonical JSON (bytes of UTF-16 code units, close to
 * UTF-8 for JSON): a module record with many functions is a few KiB, a deployment with a
 * large manifest well under this. Anything larger is junk and is removed, not copied on.
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
 * stored without `_a`. Name claims and checkpoint pages are signed like any entry.
 */
export function isSelfProving(map: string, key: string): boolean {
  return map === 'trust' && !key.startsWith('name/') && !key.startsWith('checkpoint/');
}

function withoutAuth(raw: Record<string, unknown>): Record<string, unknown> {
  if (!(AUTH_FIELD in raw)) return raw;
  const { [AUTH_FIELD]: _auth, ...value } = raw;
  return value;
}

/** `value` signed by `signer` for `map`/`key` (as stored: with `_a`, unless it proves itself). */
export function sealEntry<T extends object>(map: string, key: string, value: T, signer: Signer): T {
  const plain = withoutAuth(value as Record<string, unknown>);
  if (isSelfProving(map, key)) {
    const size = jsonSize(plain);
    if (size > MAX_ENTRY_BYTES) throw new RangeError(`${map}/${key} is ${size} bytes; an entry may be at most ${MAX_ENTRY_BYTES}`);
    return packTrustStatements(plain) as T;
  }
  const data = signedBytes(CONTEXT, { m: map, k: key, v: plain });
  if (data.byteLength > MAX_ENTRY_BYTES) throw new RangeError(`${map}/${key} is ${data.byteLength} bytes; an entry may be at most ${MAX_ENTRY_BYTES}`);
  const auth = new Uint8Array(AUTH_BYTES);
  auth.set(signer.publicKey, 0);
  auth.set(signer.signSync(data), KEY_BYTES);
  return { ...plain, [AUTH_FIELD]: auth } as T;
}

/**
 * Check the signature and size of a raw entry stored at `map`/`key`. With `covered` (the
 * digests of an owner's checkpoint), an entry whose digest it lists is opened without its
 * Ed25519 check: the owner checked signature and size over the same bytes.
 */
export function openEntry(map: string, key: string, raw: unknown, covered?: ReadonlySet<string>): OpenedEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: 'not a signed object' };
  const cached = verdicts.get(raw);
  if (cached && cached.map === map && cached.key === key) return cached.opened;
  const opened = openUncached(map, key, raw as Record<string, unknown>, covered);
  verdicts.set(raw, { map, key, opened });
  return opened;
}

function openUncached(map: string, key: string, raw: Record<string, unknown>, covered: ReadonlySet<string> | undefined): OpenedEntry {
  const auth = raw[AUTH_FIELD];
  if (isSelfProving(map, key)) {
    const value = unpackTrustStatements(key, withoutAuth(raw));
    const tombstone = value.deleted === true;
    if (covered !== undefined && covered.size > 0) {
      const digest = digestOfValue(map, key, value, undefined);
      if (digest !== '' && covered.has(digest)) return { ok: true, value, author: statementAuthor(key, value), tombstone, vouched: true };
    }
    let size: number;
    try {
      size = jsonSize(value);
    } catch (error) {
      return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: `the entry is not JSON: ${(error as Error).message}` };
    }
    if (size > MAX_ENTRY_BYTES) return { ok: false, code: 'ERR_ENTRY_TOO_LARGE', error: `${size} bytes, above ${MAX_ENTRY_BYTES}` };
    return { ok: true, value, author: statementAuthor(key, value), tombstone, vouched: false };
  }
  const value = withoutAuth(raw);
  const tombstone = value.deleted === true;
  if (!(auth instanceof Uint8Array)) return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: 'the entry carries no author signature' };
  if (auth.byteLength !== AUTH_BYTES) return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: `the author signature is ${auth.byteLength} bytes, not ${AUTH_BYTES}` };
  const authorKey = auth.subarray(0, KEY_BYTES);
  const author = toHex(authorKey);
  if (covered !== undefined && covered.size > 0) {
    const digest = digestOfValue(map, key, value, auth);
    if (digest !== '' && covered.has(digest)) return { ok: true, value, author, tombstone, vouched: true };
  }
  let data: Uint8Array;
  try {
    data = signedBytes(CONTEXT, { m: map, k: key, v: value });
  } catch (error) {
    // A value JSON cannot write (a BigInt a modified client stored): nobody can have signed it.
    return { ok: false, code: 'ERR_UNSIGNED_ENTRY', error: `the entry is not JSON: ${(error as Error).message}`, author };
  }
  if (data.byteLength > MAX_ENTRY_BYTES) return { ok: false, code: 'ERR_ENTRY_TOO_LARGE', error: `${data.byteLength} bytes, above ${MAX_ENTRY_BYTES}`, author };
  if (!verifySync(authorKey, auth.subarray(KEY_BYTES), data)) return { ok: false, code: 'ERR_BAD_SIGNATURE', error: `the signature of ${author.slice(0, 16)}… does not hold`, author };
  return { ok: true, value, author, tombstone, vouched: false };
}

/**
 * The digest of the raw object stored at `map`/`key`, as a checkpoint lists it
 * (`entry-digest.ts`); '' for a value that cannot have one (not an object, not JSON, a
 * malformed `_a`).
 */
export function entryDigest(map: string, key: string, raw: unknown): string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return '';
  const r = raw as Record<string, unknown>;
  const auth = r[AUTH_FIELD];
  if (isSelfProving(map, key)) return digestOfValue(map, key, unpackTrustStatements(key, withoutAuth(r)), undefined);
  if (!(auth instanceof Uint8Array) || auth.byteLength !== AUTH_BYTES) return '';
  return digestOfValue(map, key, withoutAuth(r), auth);
}

function digestOfValue(map: string, key: string, value: Record<string, unknown>, auth: Uint8Array | undefined): string {
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    return '';
  }
  return entryDigestOf(map, key, json, auth);
}

/** The key a self-proving entry's statement names as its maker (for logs and `authorOf`). */
function statementAuthor(key: string, value: Record<string, unknown>): string {
  const kind = key.slice(0, key.indexOf('/'));
  const s = (v: unknown): string => (typeof v === 'string' ? v : '');
  if (kind === 'grant') return s((value.grant as { subject?: unknown } | undefined)?.subject);
  if (kind === 'redeemed') return s(value.subject);
  if (kind === 'revoked') return s((value.revocation as { by?: unknown } | undefined)?.by);
  return '';
}

function jsonSize(value: unknown): number {
  return (JSON.stringify(value) ?? '').length;
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
