import { expect } from 'chai';
import { describe, it } from 'vitest';
import { fromHex, toHex } from '../../shared/bytes.ts';

describe('toHex', () => {
  it('writes lowercase hex of any length, the same as Node writes it, and reads back', () => {
    // Keys and signatures, a digest, nothing, and lengths past the reused buffer.
    for (const length of [0, 1, 32, 64, 2047, 2048, 2049, 100_000]) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + length) & 0xff);
      const hex = toHex(bytes);
      expect(hex).to.equal(Buffer.from(bytes).toString('hex'));
      expect(fromHex(hex)).to.deep.equal(bytes);
    }
  });

  it('gives each call its own string: a later call does not change an earlier answer', () => {
    const first = toHex(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    toHex(new Uint8Array(64).fill(0xff));
    expect(first).to.equal('deadbeef');
    expect(toHex(new Uint8Array([0, 1, 0x0f, 0x10, 0xa0, 0xff]))).to.equal('00010f10a0ff');
  });
});
