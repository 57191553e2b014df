/**
 * What a modified client does to a signed registry entry's stored bytes
 * (`shared/trust/entry-auth.ts`): keep its author key and signature and put other text
 * behind them.
 */
import { fromUtf8, utf8 } from '../../shared/bytes.ts';
import { AUTH_BYTES } from '../../shared/trust/entry-auth.ts';

/** `sealed` with its JSON text replaced by `value` (an object is written as JSON), the signature left as it was. */
export function withText(sealed: Uint8Array, value: object | string): Uint8Array {
  const text = utf8(typeof value === 'string' ? value : JSON.stringify(value));
  const out = new Uint8Array(AUTH_BYTES + text.byteLength);
  out.set(sealed.subarray(0, AUTH_BYTES), 0);
  out.set(text, AUTH_BYTES);
  return out;
}

/** The JSON text of a signed entry. */
export function storedText(sealed: Uint8Array): string {
  return fromUtf8(sealed.subarray(AUTH_BYTES));
}

/** The value inside a signed entry's stored bytes. */
export function storedValue(sealed: Uint8Array): Record<string, unknown> {
  return JSON.parse(storedText(sealed)) as Record<string, unknown>;
}
