/**
 * The bytes a signature covers: a context string, then the canonical JSON of the signed
 * value (keys sorted, no whitespace), so that two peers that hold the same value — after
 * a Yjs round trip that may reorder keys — check the same bytes.
 * @module
 */
import stringify from 'fast-json-stable-stringify';
import { utf8 } from '../bytes.ts';

/** Canonical JSON text of a plain JSON value. */
export function canonicalJson(value: unknown): string {
  return stringify(value);
}

/** `context` + newline + canonical JSON of `value`, as UTF-8: what is signed. */
export function signedBytes(context: string, value: unknown): Uint8Array {
  return utf8(`${context}\n${canonicalJson(value)}`);
}
