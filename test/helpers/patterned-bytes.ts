/** Test data whose bytes differ from position to position. */

/** `size` bytes from a linear congruential sequence seeded by `seed`, so a range put in the wrong place shows. */
export function patternedBytes(size: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}
