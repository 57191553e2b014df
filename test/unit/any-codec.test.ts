/**
 * The link messages' codec (shared/protocol/any-codec.ts) against lib0's `writeAny` and
 * `readAny`, its reference: the same bytes for every kind of value, the same values read
 * back, and hostile bytes refused with a named error instead of a crash or an allocation.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { describe, expect, it } from 'vitest';
import { AnyDecodeError, decodeAny, encodeAny } from '../../shared/protocol/any-codec.ts';
import { decodeMessage } from '../../shared/protocol/wire.ts';

const lib0Encode = (value: unknown): Uint8Array => {
  const e = encoding.createEncoder();
  encoding.writeAny(e, value as Parameters<typeof encoding.writeAny>[1]);
  return encoding.toUint8Array(e);
};
const lib0Decode = (bytes: Uint8Array): unknown => decoding.readAny(decoding.createDecoder(bytes));

const samples: unknown[] = [
  '', 'a', 'peer.ping', 'x'.repeat(64), 'y'.repeat(65), 'z'.repeat(20_000), 'één range', '日本語', '\u{1F600} emoji', 'tail é',
  0, -0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, 8192, 2 ** 31 - 1, -(2 ** 31 - 1), 2 ** 31, -(2 ** 31), 2 ** 53 - 1,
  0.5, -0.25, 0.1, 1e300, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3.4028234663852886e38,
  0n, -1n, 2n ** 63n - 1n, -(2n ** 63n),
  true, false, null, undefined,
  new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(7), new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 4),
  [], [1, 'two', null, [3, [4]]], {}, { t: 'rpc', f: { t: 'req', id: 'abc.1', m: 'peer.ping', p: { sentAt: 1 } } },
  { nested: { deeper: { list: [{ a: 1 }, { b: new Uint8Array([1]) }], 'ключ': 'значение' } }, u: undefined },
];

/** A random value of plain data, from a seeded generator. */
function randomValue(next: () => number, depth = 0): unknown {
  const kind = Math.floor(next() * (depth > 3 ? 6 : 9));
  switch (kind) {
    case 0: return Math.floor((next() - 0.5) * 2 ** (next() * 40));
    case 1: return (next() - 0.5) * 10 ** Math.floor(next() * 20);
    case 2: return Array.from({ length: Math.floor(next() * 12) }, () => String.fromCharCode(32 + Math.floor(next() * (next() < 0.8 ? 95 : 2000)))).join('');
    case 3: return next() < 0.5;
    case 4: return next() < 0.5 ? null : undefined;
    case 5: return new Uint8Array(Array.from({ length: Math.floor(next() * 20) }, () => Math.floor(next() * 256)));
    case 6: return Array.from({ length: Math.floor(next() * 5) }, () => randomValue(next, depth + 1));
    case 7: return BigInt(Math.floor((next() - 0.5) * 2 ** 50));
    default: return Object.fromEntries(Array.from({ length: Math.floor(next() * 5) }, (_, i) => [`k${i}${next() < 0.2 ? 'é' : ''}`, randomValue(next, depth + 1)]));
  }
}

function seeded(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

describe('the any codec', () => {
  it('writes exactly the bytes lib0 writes, for every kind of value', () => {
    for (const value of samples) expect(Buffer.from(encodeAny(value)).toString('hex'), String(value)).toBe(Buffer.from(lib0Encode(value)).toString('hex'));
  });

  it('reads back what lib0 reads, using every byte', () => {
    for (const value of samples) {
      const bytes = lib0Encode(value);
      const { value: ours, length } = decodeAny(bytes);
      expect(length).toBe(bytes.byteLength);
      const theirs = lib0Decode(bytes);
      if (typeof theirs === 'number') expect(Object.is(ours, theirs), String(value)).toBe(true);
      else expect(ours).toEqual(theirs);
    }
  });

  it('agrees with lib0 on a thousand random values', () => {
    const next = seeded(42);
    for (let i = 0; i < 1000; i++) {
      const value = randomValue(next);
      const bytes = encodeAny(value);
      expect(Buffer.from(bytes).equals(Buffer.from(lib0Encode(value)))).toBe(true);
      expect(decodeAny(bytes).value).toEqual(lib0Decode(bytes));
    }
  });

  it('refuses truncated data, unknown type tags and huge counts with AnyDecodeError', () => {
    const whole = encodeAny({ t: 'rpc', f: { t: 'req', id: 'abc.1', m: 'peer.ping', p: { bytes: new Uint8Array(10) } } });
    for (let cut = 0; cut < whole.byteLength; cut++) expect(() => decodeAny(whole.subarray(0, cut))).toThrow(AnyDecodeError);
    expect(() => decodeAny(new Uint8Array([3]))).toThrow(/unknown type tag 3/);
    // An array claiming 2^35 items in a few bytes: refused before anything is allocated.
    expect(() => decodeAny(new Uint8Array([117, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(AnyDecodeError);
  });

  it('refuses nesting deeper than 4096 levels rather than running out of stack, and reads 1000 levels', () => {
    const deep = new Uint8Array(100_000).fill(117);
    for (let i = 1; i < deep.length; i += 2) deep[i] = 1;
    expect(() => decodeAny(deep)).toThrow(/nested too deep/);
    const message = decodeMessage(deep);
    expect(message.ok).toBe(false);
    const thousand = new Uint8Array(2001).fill(126);
    for (let i = 0; i < 2000; i += 2) thousand.set([117, 1], i);
    let level = decodeAny(thousand).value;
    for (let i = 0; i < 1000; i++) level = (level as unknown[])[0];
    expect(level).toBeNull();
  });

  it('refuses a string that is not UTF-8, as lib0 does', () => {
    const bytes = new Uint8Array([119, 2, 0xc3, 0x28]);
    expect(() => lib0Decode(bytes)).toThrow(TypeError);
    expect(() => decodeAny(bytes)).toThrow(TypeError);
    expect(decodeMessage(new Uint8Array([118, 1, 1, 116, 119, 2, 0xc3, 0x28])).ok).toBe(false);
  });

  it('keeps a __proto__ key as data and never changes the prototype', () => {
    const bytes = new Uint8Array([118, 1, 9, ...new TextEncoder().encode('__proto__'), 118, 1, 1, 120, 120]);
    const { value } = decodeAny(bytes) as { value: Record<string, unknown> };
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect((value as { x?: unknown }).x).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toEqual({ x: true });
  });
});
