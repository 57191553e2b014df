/**
 * lib0's `any` encoding (the wire format of every link message, see wire.ts), read and
 * written by hand for speed; the bytes are exactly those of lib0's `writeAny` and
 * `readAny`, which stay the reference (test/unit/any-codec.test.ts compares them).
 *
 * Why not lib0's own functions: on the RPC hot path they cost more than the rest of a
 * call's JavaScript. Each string there goes through a `subarray` and a native
 * TextDecoder call (an RPC frame has about ten short keys and names), and each encode
 * grows a list of buffers and copies them out. Here short ASCII strings are read with
 * `String.fromCharCode` and written byte by byte, and an encode writes into one buffer
 * sized from a first pass over the value. ADR 0035.
 * @module
 */

const TYPE_UNDEFINED = 127;
const TYPE_NULL = 126;
const TYPE_INT = 125;
const TYPE_FLOAT32 = 124;
const TYPE_FLOAT64 = 123;
const TYPE_BIGINT = 122;
const TYPE_FALSE = 121;
const TYPE_TRUE = 120;
const TYPE_STRING = 119;
const TYPE_OBJECT = 118;
const TYPE_ARRAY = 117;
const TYPE_BYTES = 116;

const BITS31 = 0x7fffffff;
/** Strings up to this many UTF-16 units are read and written without TextDecoder/TextEncoder when ASCII. */
const SHORT = 64;
/**
 * Nesting deeper than this is refused, not followed until the stack runs out. Far above
 * what any receiver accepts (call arguments: 32 levels), so those refuse too-deep values
 * with their own named errors.
 */
const MAX_DEPTH = 4096;

const utf8Encoder = new TextEncoder();
// As lib0's: malformed UTF-8 is an error, a leading BOM is kept.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const float32 = new DataView(new ArrayBuffer(4));

/** The value cannot be read: truncated, an unknown type tag, or nested too deep. */
export class AnyDecodeError extends Error {}

/** A value lib0's `writeAny` accepts. */
export type AnyValue = undefined | null | number | bigint | boolean | string | Uint8Array | AnyValue[] | { [key: string]: AnyValue };

// ---------------------------------------------------------------- encoding

function isFloat32(n: number): boolean {
  float32.setFloat32(0, n);
  return float32.getFloat32(0) === n;
}

function varUintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function varIntSize(n: number): number {
  // Six bits in the first byte (sign and continuation take two), seven in the others.
  let m = Math.floor(Math.abs(n) / 64);
  let size = 1;
  while (m > 0) {
    m = Math.floor(m / 128);
    size++;
  }
  return size;
}

/** Bytes of a string's length prefix and UTF-8 body; ASCII is counted without encoding. */
function stringSize(s: string): number {
  const n = s.length;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  const bytes = ascii ? n : utf8Encoder.encode(s).byteLength;
  return varUintSize(bytes) + bytes;
}

function sizeOf(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 1 + stringSize(value);
    case 'number':
      if (Number.isInteger(value) && Math.abs(value) <= BITS31) return 1 + varIntSize(value);
      return isFloat32(value) ? 5 : 9;
    case 'bigint':
      return 9;
    case 'boolean':
      return 1;
    case 'object': {
      if (value === null) return 1;
      if (Array.isArray(value)) {
        let size = 1 + varUintSize(value.length);
        for (let i = 0; i < value.length; i++) size += sizeOf(value[i]);
        return size;
      }
      if (value instanceof Uint8Array) return 1 + varUintSize(value.byteLength) + value.byteLength;
      const keys = Object.keys(value);
      let size = 1 + varUintSize(keys.length);
      for (let i = 0; i < keys.length; i++) size += stringSize(keys[i]!) + sizeOf((value as Record<string, unknown>)[keys[i]!]);
      return size;
    }
    default:
      return 1;
  }
}

class Writer {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos = 0;

  /** Writes into `bytes` from `pos` on. */
  constructor(bytes: Uint8Array, pos: number) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = pos;
  }

  varUint(n: number): void {
    while (n > 0x7f) {
      this.bytes[this.pos++] = 0x80 | (n & 0x7f);
      n = Math.floor(n / 128);
    }
    this.bytes[this.pos++] = n;
  }

  varInt(n: number): void {
    const negative = n < 0 || Object.is(n, -0);
    if (negative) n = -n;
    this.bytes[this.pos++] = (n > 0x3f ? 0x80 : 0) | (negative ? 0x40 : 0) | (n & 0x3f);
    n = Math.floor(n / 64);
    while (n > 0) {
      this.bytes[this.pos++] = (n > 0x7f ? 0x80 : 0) | (n & 0x7f);
      n = Math.floor(n / 128);
    }
  }

  string(s: string): void {
    const n = s.length;
    if (n <= SHORT) {
      let ascii = true;
      for (let i = 0; i < n; i++) {
        if (s.charCodeAt(i) > 0x7f) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.varUint(n);
        for (let i = 0; i < n; i++) this.bytes[this.pos++] = s.charCodeAt(i);
        return;
      }
    }
    const encoded = utf8Encoder.encode(s);
    this.varUint(encoded.byteLength);
    this.bytes.set(encoded, this.pos);
    this.pos += encoded.byteLength;
  }

  any(value: unknown): void {
    switch (typeof value) {
      case 'string':
        this.bytes[this.pos++] = TYPE_STRING;
        this.string(value);
        return;
      case 'number':
        if (Number.isInteger(value) && Math.abs(value) <= BITS31) {
          this.bytes[this.pos++] = TYPE_INT;
          this.varInt(value);
        } else if (isFloat32(value)) {
          this.bytes[this.pos++] = TYPE_FLOAT32;
          this.view.setFloat32(this.pos, value);
          this.pos += 4;
        } else {
          this.bytes[this.pos++] = TYPE_FLOAT64;
          this.view.setFloat64(this.pos, value);
          this.pos += 8;
        }
        return;
      case 'bigint':
        this.bytes[this.pos++] = TYPE_BIGINT;
        this.view.setBigInt64(this.pos, value);
        this.pos += 8;
        return;
      case 'boolean':
        this.bytes[this.pos++] = value ? TYPE_TRUE : TYPE_FALSE;
        return;
      case 'object': {
        if (value === null) {
          this.bytes[this.pos++] = TYPE_NULL;
          return;
        }
        if (Array.isArray(value)) {
          this.bytes[this.pos++] = TYPE_ARRAY;
          this.varUint(value.length);
          for (let i = 0; i < value.length; i++) this.any(value[i]);
          return;
        }
        if (value instanceof Uint8Array) {
          this.bytes[this.pos++] = TYPE_BYTES;
          this.varUint(value.byteLength);
          this.bytes.set(value, this.pos);
          this.pos += value.byteLength;
          return;
        }
        const keys = Object.keys(value);
        this.bytes[this.pos++] = TYPE_OBJECT;
        this.varUint(keys.length);
        for (let i = 0; i < keys.length; i++) {
          this.string(keys[i]!);
          this.any((value as Record<string, unknown>)[keys[i]!]);
        }
        return;
      }
      default:
        this.bytes[this.pos++] = TYPE_UNDEFINED;
    }
  }
}

/**
 * `value` in lib0's `any` encoding, the same bytes `encoding.writeAny` produces, after
 * `headroom` bytes left zero for a transport's own header.
 */
export function encodeAny(value: unknown, headroom = 0): Uint8Array {
  const writer = new Writer(new Uint8Array(headroom + sizeOf(value)), headroom);
  writer.any(value);
  return writer.bytes;
}

/** Bytes the encoding of `value` takes (what {@link encodeAnyInto} writes). */
export function sizeOfAny(value: unknown): number {
  return sizeOf(value);
}

/**
 * Write the encoding of `value` into `target` from `offset` on: {@link sizeOfAny} bytes,
 * which must fit. For a caller that lays out a buffer of its own around the encoding.
 */
export function encodeAnyInto(value: unknown, target: Uint8Array, offset: number): void {
  new Writer(target, offset).any(value);
}

// ---------------------------------------------------------------- decoding

class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  byte(): number {
    if (this.pos >= this.bytes.byteLength) throw new AnyDecodeError('unexpected end of data');
    return this.bytes[this.pos++]!;
  }

  varUint(): number {
    let n = 0;
    let mult = 1;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * mult;
      if (b < 0x80) return n;
      mult *= 128;
      if (mult > Number.MAX_SAFE_INTEGER) throw new AnyDecodeError('integer out of range');
    }
  }

  varInt(): number {
    const first = this.byte();
    let n = first & 0x3f;
    let mult = 64;
    const negative = (first & 0x40) > 0;
    if ((first & 0x80) !== 0) {
      for (;;) {
        const b = this.byte();
        n += (b & 0x7f) * mult;
        if (b < 0x80) break;
        mult *= 128;
        if (mult > Number.MAX_SAFE_INTEGER) throw new AnyDecodeError('integer out of range');
      }
    }
    return negative ? -n : n;
  }

  need(n: number): void {
    if (this.pos + n > this.bytes.byteLength) throw new AnyDecodeError('unexpected end of data');
  }

  string(): string {
    const n = this.varUint();
    this.need(n);
    const start = this.pos;
    const end = start + n;
    if (n <= SHORT) {
      const bytes = this.bytes;
      let s = '';
      let i = start;
      for (; i < end; i++) {
        const c = bytes[i]!;
        if (c > 0x7f) break;
        s += String.fromCharCode(c);
      }
      if (i === end) {
        this.pos = end;
        return s;
      }
    }
    this.pos = end;
    return utf8Decoder.decode(this.bytes.subarray(start, end));
  }

  any(depth: number): unknown {
    const type = this.byte();
    switch (type) {
      case TYPE_STRING:
        return this.string();
      case TYPE_INT:
        return this.varInt();
      case TYPE_OBJECT: {
        if (depth >= MAX_DEPTH) throw new AnyDecodeError('nested too deep');
        const count = this.varUint();
        const out: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const key = this.string();
          const item = this.any(depth + 1);
          // A `__proto__` key is data like any other, never the object's prototype.
          if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
          else out[key] = item;
        }
        return out;
      }
      case TYPE_ARRAY: {
        if (depth >= MAX_DEPTH) throw new AnyDecodeError('nested too deep');
        const count = this.varUint();
        // Each item takes a byte at least: a count beyond the data is a lie, not an allocation.
        if (count > this.bytes.byteLength - this.pos) throw new AnyDecodeError('unexpected end of data');
        const out: unknown[] = [];
        for (let i = 0; i < count; i++) out.push(this.any(depth + 1));
        return out;
      }
      case TYPE_BYTES: {
        const n = this.varUint();
        this.need(n);
        const out = this.bytes.subarray(this.pos, this.pos + n);
        this.pos += n;
        return out;
      }
      case TYPE_UNDEFINED:
        return undefined;
      case TYPE_NULL:
        return null;
      case TYPE_TRUE:
        return true;
      case TYPE_FALSE:
        return false;
      case TYPE_FLOAT32: {
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case TYPE_FLOAT64: {
        this.need(8);
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      case TYPE_BIGINT: {
        this.need(8);
        const v = this.view.getBigInt64(this.pos);
        this.pos += 8;
        return v;
      }
      default:
        throw new AnyDecodeError(`unknown type tag ${type}`);
    }
  }
}

/**
 * Read one value in lib0's `any` encoding from the start of `bytes`, as `decoding.readAny`
 * does; byte arrays in it are views of `bytes`. Returns the value and how many bytes it took.
 * @throws AnyDecodeError for truncated data, an unknown type tag, or nesting deeper than
 *   4096; TypeError for a string that is not UTF-8 (as lib0).
 */
export function decodeAny(bytes: Uint8Array): { value: unknown; length: number } {
  const reader = new Reader(bytes);
  const value = reader.any(0);
  return { value, length: reader.pos };
}
