/**
 * Byte helpers used across the core: hashing, hex, UTF-8, sizes for people. Web-standard
 * APIs only.
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A size for people: `512 B`, `64 MiB`, `1.5 GiB` (one decimal at most; `0 B` for nothing or nonsense). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(1))} ${units[unit]}`;
}

/** UTF-8 encode a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** UTF-8 decode bytes. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** The two ASCII codes of each byte's hex digits, low byte first. */
const HEX_CODES = Uint16Array.from({ length: 256 }, (_, b) => {
  const digits = b.toString(16).padStart(2, '0');
  return digits.charCodeAt(0) | (digits.charCodeAt(1) << 8);
});
/** Reused for keys, signatures and digests; longer input gets a buffer of its own (not kept). */
const hexScratch = new Uint8Array(4096);

/** Lowercase hex of the bytes. */
export function toHex(bytes: Uint8Array): string {
  // ASCII codes into a reused buffer, then one string: the registry turns an author key
  // into hex for each entry it opens, and appending two digits at a time left a chain of
  // intermediate strings per key for the garbage collector.
  const length = bytes.length * 2;
  const out = length <= hexScratch.length ? hexScratch : new Uint8Array(length);
  for (let i = 0; i < bytes.length; i++) {
    const codes = HEX_CODES[bytes[i]!]!;
    out[2 * i] = codes & 0xff;
    out[2 * i + 1] = codes >> 8;
  }
  return decoder.decode(out.subarray(0, length));
}

/** Parse lowercase or uppercase hex; throws a TypeError on odd length or a non-hex digit. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('not a hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Matches a content address: 64 lowercase hex digits of a sha256. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * View bytes as backed by a plain ArrayBuffer, as WebCrypto's typings require; bytes on
 * a SharedArrayBuffer are copied first (WebCrypto refuses shared memory).
 */
export function plainBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return (bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice()) as Uint8Array<ArrayBuffer>;
}

/**
 * Digests computed over exactly these bytes by code that then gave them away unchanged
 * (a fetch that hashed its ranges as they arrived hands its buffer to a store): the store
 * takes the digest instead of hashing the same bytes again. Keyed by the object itself,
 * so no other bytes can claim it, and taken once.
 */
const vouched = new WeakMap<Uint8Array, string>();

/** Record that `bytes` hash to `hex`: only right after hashing them, and before handing them over unchanged. */
export function vouchSha256(bytes: Uint8Array, hex: string): void {
  vouched.set(bytes, hex);
}

/** The digest vouched for these exact bytes (see {@link vouchSha256}), once; undefined when none. */
export function takeVouchedSha256(bytes: Uint8Array): string | undefined {
  const hex = vouched.get(bytes);
  if (hex !== undefined) vouched.delete(bytes);
  return hex;
}

/** sha256 of the bytes as 64 lowercase hex digits. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', plainBytes(bytes))));
}

/** Concatenate byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Cryptographically random bytes. */
export function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}
