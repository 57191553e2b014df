/**
 * A quick look at whether deflate could shrink some bytes to under half, before asking
 * it. Deflate's output is at least what its literals cost — about their order-0 entropy
 * per byte — over the bytes that no earlier run within its 32 KiB window repeats. So
 * bytes whose values are spread evenly (entropy near 8 bits) and of which few positions
 * start a 4-byte run seen shortly before cannot halve; random or already compressed
 * state looks so. Counting both takes a pass over the bytes on the calling thread —
 * well under a millisecond for a 256 KiB sample — where a deflate sample goes through a
 * stream and, in Node, the thread pool, which a loaded machine is slow to give back (a
 * migration's first part waited 50–150 ms on it). Hand-written: a histogram and a hash
 * table of 4-byte runs, far less than any compressor library would bring in.
 *
 * The look errs towards "may": a run missed because another one took its slot in the
 * table makes the count smaller, so the bound below keeps a wide margin, and a "may"
 * only means deflate is asked, as before.
 * @module
 */

/** Deflate looks back this far for a run to repeat. */
const WINDOW = 32 * 1024;
/** Repeats are counted in the first quarter of each block of this size. */
const BLOCK = 64 * 1024;
/** Slots of the table of 4-byte runs (a power of two). */
const TABLE_BITS = 16;
/** Below this entropy, bits per byte, deflate may shrink the literals alone to under half (with margin). */
const SPREAD_BITS = 7;
/** At or above this share of positions starting a repeated 4-byte run, deflate is asked. */
const REPEATS = 0.1;

/** A block at or above this entropy, bits per byte, with few repeats, is taken as noise. */
const NOISE_BITS = 7.9;
/** …when under this share of its positions start a repeated 4-byte run. */
const NOISE_REPEATS = 0.01;
/**
 * What deflate leaves of a noise block at the least, as a share of it (with margin: its
 * literals are at least 99 % of it and cost at least 7.9 bits each).
 */
const NOISE_KEEPS = 0.8;
/** Bytes of which noise blocks would keep at least this share are not sampled: they cannot halve. */
const NOISE_BOUND = 0.55;

/**
 * False when deflate cannot shrink `bytes` to under half: byte values spread evenly and
 * few repeats within deflate's window, over the bytes as a whole or — so that a block of
 * zeros (the first page of a memory, usually) does not send random state to deflate —
 * in enough of its 64 KiB blocks that those alone would keep more than half. True
 * otherwise — then only deflate can tell.
 */
export function mayHalve(bytes: Uint8Array): boolean {
  const n = bytes.byteLength;
  if (n < 1024) return true;
  // Both are counted over the first quarter of every 64 KiB: a sample of the sample,
  // which a state of any kind fills alike.
  const counts = new Uint32Array(256);
  const blockCounts = new Uint32Array(256);
  const table = new Int32Array(1 << TABLE_BITS).fill(-1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  let looked = 0;
  let scanned = 0;
  let repeats = 0;
  /** The least share of `bytes` deflate leaves of its noise blocks. */
  let kept = 0;
  for (let block = 0; block < n; block += BLOCK) {
    const end = Math.min(n, block + BLOCK / 4);
    blockCounts.fill(0);
    for (let i = block; i < end; i++) blockCounts[bytes[i]!]!++;
    for (let v = 0; v < 256; v++) counts[v]! += blockCounts[v]!;
    looked += end - block;
    let blockRepeats = 0;
    const runsEnd = Math.min(n - 3, end);
    for (let i = block; i < runsEnd; i++) {
      const run = view.getUint32(i, true);
      const slot = Math.imul(run, 0x9e3779b1) >>> (32 - TABLE_BITS);
      const seen = table[slot]!;
      if (seen >= 0 && i - seen <= WINDOW && view.getUint32(seen, true) === run) blockRepeats++;
      table[slot] = i;
    }
    const blockScanned = Math.max(0, runsEnd - block);
    repeats += blockRepeats;
    scanned += blockScanned;
    if (entropyOf(blockCounts, end - block) >= NOISE_BITS && blockRepeats < blockScanned * NOISE_REPEATS) {
      kept += (NOISE_KEEPS * Math.min(BLOCK, n - block)) / n;
    }
  }
  if (kept > NOISE_BOUND) return false;
  if (entropyOf(counts, looked) < SPREAD_BITS) return true;
  return repeats >= scanned * REPEATS;
}

/** Order-0 entropy, bits per byte, of `looked` bytes counted by value in `counts`. */
function entropyOf(counts: Uint32Array, looked: number): number {
  let entropy = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / looked;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}
