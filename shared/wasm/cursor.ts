/**
 * Cursors over WebAssembly binaries: a bounded reader whose every read checks the end
 * (malformed input fails with ERR_INVALID_WASM naming the section and offset) and a
 * growing writer. Shared by the module reader and rewriter (binary.ts) and the write
 * tracker (instrument.ts).
 * @module
 */
import { defineError } from '../errors.ts';

/** The bytes are not a WebAssembly module this code understands (data: `{ section, offset }`). */
export const InvalidWasmError = defineError('ERR_INVALID_WASM', 'InvalidWasmError');

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** A bounded cursor: every read checks the end, so malformed input fails with a named error. */
export class Reader {
  readonly #bytes: Uint8Array;
  readonly #end: number;
  #pos: number;
  #section: string;

  constructor(bytes: Uint8Array, pos: number, end: number, section: string) {
    this.#bytes = bytes;
    this.#pos = pos;
    this.#end = end;
    this.#section = section;
  }

  /** What error messages name as the place of the failure. */
  set section(section: string) {
    this.#section = section;
  }

  get pos(): number {
    return this.#pos;
  }

  atEnd(): boolean {
    return this.#pos >= this.#end;
  }

  fail(message: string, offset = this.#pos): never {
    throw new InvalidWasmError(`invalid wasm: ${this.#section}: ${message} at offset ${offset}`, { section: this.#section, offset });
  }

  byte(): number {
    if (this.#pos >= this.#end) this.fail('unexpected end');
    return this.#bytes[this.#pos++]!;
  }

  /** The next byte, not consumed. */
  peek(): number {
    if (this.#pos >= this.#end) this.fail('unexpected end');
    return this.#bytes[this.#pos]!;
  }

  /**
   * A vector length. Every entry takes at least one byte, so a count above the bytes
   * left is malformed; refusing it early keeps a bogus count from sizing an allocation.
   */
  count(): number {
    const at = this.#pos;
    const n = this.u32();
    if (n > this.#end - this.#pos) this.fail(`count ${n} is larger than the ${this.#end - this.#pos} bytes left`, at);
    return n;
  }

  skip(count: number): void {
    if (count > this.#end - this.#pos) this.fail(`unexpected end (${count} bytes needed, ${this.#end - this.#pos} left)`);
    this.#pos += count;
  }

  u32(): number {
    const start = this.#pos;
    const bytes = this.#bytes;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.#pos >= this.#end) this.fail('unexpected end inside a LEB128 number', start);
      const b = bytes[this.#pos++]!;
      // The fifth byte carries only bits 28-31; anything above them, or a sixth byte, is out of range.
      if (shift === 28 && (b & 0xf0) !== 0) this.fail('u32 LEB128 out of range', start);
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
    }
    return this.fail('u32 LEB128 out of range', start);
  }

  s32(): number {
    const start = this.#pos;
    const bytes = this.#bytes;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.#pos >= this.#end) this.fail('unexpected end inside a LEB128 number', start);
      const b = bytes[this.#pos++]!;
      if (shift === 28) {
        // Bits 4-6 of the fifth byte must repeat the sign bit (bit 3), and it must be the last byte.
        const high = b & 0xf8;
        if (high !== 0 && high !== 0x78) this.fail('s32 LEB128 out of range', start);
      }
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        if (shift < 25 && (b & 0x40) !== 0) result |= -1 << (shift + 7);
        return result | 0;
      }
    }
    return this.fail('s32 LEB128 out of range', start);
  }

  s64(): bigint {
    const start = this.#pos;
    let result = 0n;
    for (let shift = 0; shift < 70; shift += 7) {
      const b = this.#byteIn(start);
      if (shift === 63 && b !== 0x00 && b !== 0x7f) this.fail('s64 LEB128 out of range', start);
      result |= BigInt(b & 0x7f) << BigInt(shift);
      if ((b & 0x80) === 0) {
        if (shift < 63 && (b & 0x40) !== 0) result -= 1n << BigInt(shift + 7);
        return BigInt.asIntN(64, result);
      }
    }
    return this.fail('s64 LEB128 out of range', start);
  }

  /** A u64 that must fit a JS number exactly (memory64 limits, which validation caps at 2^48). */
  u64(): number {
    const start = this.#pos;
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const b = this.#byteIn(start);
      if (shift === 63 && (b & 0xfe) !== 0) this.fail('u64 LEB128 out of range', start);
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > Number.MAX_SAFE_INTEGER) this.fail('u64 too large', start);
        return result;
      }
    }
    return this.fail('u64 LEB128 out of range', start);
  }

  /** Skip a signed LEB128 of at most `maxBytes` bytes without decoding it. */
  skipLeb(maxBytes: number): void {
    const start = this.#pos;
    for (let i = 0; i < maxBytes; i++) if ((this.#byteIn(start) & 0x80) === 0) return;
    this.fail('LEB128 too long', start);
  }

  name(): string {
    const length = this.u32();
    const start = this.#pos;
    this.skip(length);
    try {
      return strictUtf8.decode(this.#bytes.subarray(start, start + length));
    } catch (error) {
      return this.fail(`name is not valid UTF-8 (${error instanceof Error ? error.message : String(error)})`, start);
    }
  }

  #byteIn(start: number): number {
    if (this.#pos >= this.#end) this.fail('unexpected end inside a LEB128 number', start);
    return this.#bytes[this.#pos++]!;
  }
}

/** A growable byte buffer with the binary format's encodings. */
export class Writer {
  #buf = new Uint8Array(64);
  #len = 0;

  get length(): number {
    return this.#len;
  }

  #reserve(extra: number): void {
    if (this.#len + extra <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + extra));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = b;
  }

  bytes(src: Uint8Array): void {
    this.#reserve(src.length);
    this.#buf.set(src, this.#len);
    this.#len += src.length;
  }

  u32(value: number): void {
    let v = value >>> 0;
    do {
      const b = v & 0x7f;
      v >>>= 7;
      this.byte(v === 0 ? b : b | 0x80);
    } while (v !== 0);
  }

  /** Unsigned LEB128 of a non-negative safe integer (memory64 limits). */
  u64(value: number): void {
    let v = value;
    do {
      const b = v % 128;
      v = Math.floor(v / 128);
      this.byte(v === 0 ? b : b | 0x80);
    } while (v !== 0);
  }

  /** Signed LEB128 of a 32-bit integer. */
  s32(value: number): void {
    let v = value | 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return;
    }
  }

  name(text: string): void {
    const encoded = utf8Encoder.encode(text);
    this.u32(encoded.length);
    this.bytes(encoded);
  }

  result(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}

