/**
 * The stored form of the trust entries that prove themselves (`grant/<key>`,
 * `redeemed/<invitation key>`, `revoked/<key>`): their statements' keys and signatures as
 * bytes (Uint8Array in the Yjs document) instead of hex, and no `id` (it is the map key).
 * A reader decodes them back to the statements `statements.ts` checks, whose signatures
 * cover the hex form: the bytes are only how the registry carries them, half as many,
 * and Yjs copies bytes where it walks strings one byte at a time.
 *
 * A field that should be bytes and is anything else (hex, an array, the wrong length)
 * decodes to nothing, so the statement fails its shape check and the entry is refused as
 * a forged grant or revocation would be.
 * @module
 */
import { fromHex, toHex } from '../bytes.ts';

const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
const HEX_KEY = /^[0-9a-f]{64}$/;
const HEX_SIGNATURE = /^[0-9a-f]{128}$/;

/** Statement fields holding a public key, and the one holding a signature. */
const KEY_FIELDS = ['subject', 'by', 'key'] as const;

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function packStatement(s: unknown): unknown {
  if (!isObject(s)) return s;
  const out: Obj = { ...s };
  for (const f of KEY_FIELDS) if (typeof out[f] === 'string' && HEX_KEY.test(out[f])) out[f] = fromHex(out[f]);
  if (typeof out.sig === 'string' && HEX_SIGNATURE.test(out.sig)) out.sig = fromHex(out.sig);
  if (isObject(out.invitation)) out.invitation = packStatement(out.invitation);
  return out;
}

function bytesToHex(v: unknown, length: number): string | undefined {
  return v instanceof Uint8Array && v.byteLength === length ? toHex(v) : undefined;
}

function unpackStatement(s: unknown): unknown {
  if (!isObject(s)) return s;
  const out: Obj = { ...s };
  for (const f of KEY_FIELDS) if (f in out) out[f] = bytesToHex(out[f], KEY_BYTES);
  if ('sig' in out) out.sig = bytesToHex(out.sig, SIGNATURE_BYTES);
  if (isObject(out.invitation)) out.invitation = unpackStatement(out.invitation);
  return out;
}

/** The stored form of a self-proving trust entry's value (`value.id` is left out: it is the key). */
export function packTrustStatements(value: Obj): Obj {
  const { id: _id, ...out } = value;
  if ('grant' in out) out.grant = packStatement(out.grant);
  if ('revocation' in out) out.revocation = packStatement(out.revocation);
  if (typeof out.subject === 'string' && HEX_KEY.test(out.subject)) out.subject = fromHex(out.subject);
  return out;
}

/** The value a reader checks, from the stored form at trust map key `key`. */
export function unpackTrustStatements(key: string, stored: Obj): Obj {
  const { id: _id, ...rest } = stored;
  const out: Obj = { id: key, ...rest };
  if ('grant' in out) out.grant = unpackStatement(out.grant);
  if ('revocation' in out) out.revocation = unpackStatement(out.revocation);
  if ('subject' in out) out.subject = bytesToHex(out.subject, KEY_BYTES);
  return out;
}
