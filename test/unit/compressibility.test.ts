// The quick look before a deflate sample (shared/sandbox/compressibility.ts): it rules out
// only what deflate could not halve, and never keeps a compressible state from shrinking.
import { describe, expect, it } from 'vitest';
import { mayHalve } from '../../shared/sandbox/compressibility.ts';
import { nodeDeflate } from '../../node-host/node-deflate.ts';
import { isPacked, MAX_SYNC_INFLATE_BYTES, packSnapshot, unpackSnapshot } from '../../shared/sandbox/snapshot-packing.ts';

/** `n` random bytes (getRandomValues fills at most 64 KiB a call). */
function random(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(n, i + 65536)));
  return bytes;
}

/** `n` bytes of `block` over and over. */
function repeating(block: Uint8Array, n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = block[i % block.byteLength]!;
  return bytes;
}

/** `bytes` through deflate. */
async function deflated(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('deflate'))).arrayBuffer());
}

const text = (n: number) => repeating(new TextEncoder().encode('sensor 17 reported 21.5 C at 2026-12-07T09:00:00Z; '), n);

describe('Compressibility at a glance', () => {
  it('rules out random bytes and random doubles, which deflate cannot halve', () => {
    expect(mayHalve(random(256 * 1024))).toBe(false);
    const doubles = new Uint8Array(new Float64Array(32 * 1024).map(() => Math.random()).buffer);
    expect(mayHalve(doubles)).toBe(false);
  });

  it('leaves to deflate bytes with few values, with runs that repeat, or that are mostly zero', () => {
    expect(mayHalve(text(256 * 1024)), 'text').toBe(true);
    expect(mayHalve(repeating(random(1000), 256 * 1024)), 'random 1000-byte records repeated').toBe(true);
    expect(mayHalve(new Uint8Array(new Int32Array(64 * 1024).map(() => Math.floor(Math.random() * 1000)).buffer)), 'small integers').toBe(true);
    const sparse = random(256 * 1024);
    for (let i = 0; i < sparse.byteLength; i += 2) sparse[i] = 0;
    expect(mayHalve(sparse), 'every other byte zero').toBe(true);
  });

  it('rules out random state behind a block of zeros (a memory\'s first page), which deflate cannot halve either, and leaves half zeros to deflate', async () => {
    const behindZeros = random(256 * 1024);
    behindZeros.fill(0, 0, 64 * 1024);
    behindZeros[8] = 1;
    expect(mayHalve(behindZeros)).toBe(false);
    expect((await deflated(behindZeros)).byteLength, 'deflate keeps more than half').toBeGreaterThan(behindZeros.byteLength / 2);
    const halfZeros = random(256 * 1024);
    halfZeros.fill(0, 0, 128 * 1024);
    expect(mayHalve(halfZeros), 'two blocks of zeros in four: deflate decides').toBe(true);
  });

  it('still compresses a state that repeats with a period no page divides, and passes random state through as it is', async () => {
    const records = repeating(random(1000), 320 * 1024);
    const packed = await packSnapshot(records);
    expect(isPacked(packed)).toBe(true);
    expect(packed.byteLength).toBeLessThan(records.byteLength / 4);
    expect(await unpackSnapshot(packed)).toEqual(records);
    const noise = random(320 * 1024);
    expect(await packSnapshot(noise)).toBe(noise);
  });

  it('inflates a packing that declares more than the synchronous bound through the streams, not on the calling thread, and still checks its length', async () => {
    // 80 MiB of one byte deflates to about 80 KiB: a small blob that expands past the bound.
    const big = new Uint8Array(MAX_SYNC_INFLATE_BYTES + 16 * 1024 * 1024).fill(7);
    const packed = await packSnapshot(big, nodeDeflate);
    expect(isPacked(packed)).toBe(true);
    let inflated = 0;
    const counting = { deflate: nodeDeflate.deflate, inflate: (bytes: Uint8Array, max: number) => (inflated++, nodeDeflate.inflate(bytes, max)) };
    const out = await unpackSnapshot(packed, counting);
    expect(out.byteLength).toBe(big.byteLength);
    expect(out[out.byteLength - 1]).toBe(7);
    expect(inflated).toBe(0);
    // A small packing takes the synchronous path.
    await unpackSnapshot(await packSnapshot(new Uint8Array(1024 * 1024).fill(3), nodeDeflate), counting);
    expect(inflated).toBe(1);
  });

  it('packs the same way with a synchronous zlib: either end reads what the other wrote, and a lying length is refused', async () => {
    const records = repeating(random(1000), 320 * 1024);
    const sync = await packSnapshot(records, nodeDeflate);
    expect(isPacked(sync)).toBe(true);
    expect(sync.byteLength).toBeLessThan(records.byteLength / 4);
    // A Node source to a browser target (streams), and a browser source to a Node target.
    expect(await unpackSnapshot(sync)).toEqual(records);
    expect(await unpackSnapshot(await packSnapshot(records), nodeDeflate)).toEqual(records);
    const noise = random(320 * 1024);
    expect(await packSnapshot(noise, nodeDeflate)).toBe(noise);
    // The header declares fewer bytes than the stream holds: refused, not inflated past it.
    const lying = sync.slice();
    new DataView(lying.buffer).setBigUint64(8, 1000n, true);
    await expect(unpackSnapshot(lying, nodeDeflate)).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_INVALID' });
    // More declared than the stream holds, and a corrupt stream.
    const longer = sync.slice();
    new DataView(longer.buffer).setBigUint64(8, BigInt(records.byteLength + 1), true);
    await expect(unpackSnapshot(longer, nodeDeflate)).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_INVALID' });
    const corrupt = sync.slice();
    corrupt.fill(0xff, 20, 60);
    await expect(unpackSnapshot(corrupt, nodeDeflate)).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_INVALID' });
  });
});
