/**
 * Compression of encoded snapshots for the wire, where it pays. A counter's megabytes of
 * repeated data or a table of small integers shrink tenfold under deflate, and a move of
 * such state is then bound by the compressor, not the channel; random or already
 * compressed state does not shrink, and compressing it would only add time. So a sample
 * of the bytes is looked at first (compressibility.ts: byte spread and repeats, one pass),
 * then deflated when it might shrink, and the whole only when the sample shrinks enough.
 *
 * ```
 * packed: "LMSZ" | version u8 (1) | 3 zero bytes | unpacked length u64 LE | deflate stream
 * ```
 * Anything else is passed through as it is (an "LMSN" snapshot decodes as before).
 * `CompressionStream` is web-standard (browsers, Node, Deno), so `shared/` may use it;
 * `deflate` rather than `deflate-raw`, which older engines lack. A peer with a synchronous
 * zlib (the Deflate port, ports/deflate.ts: Node) passes it in and the bytes are deflated
 * and inflated on the calling thread instead (the same format, so either end may use
 * either): no trip through a thread pool for a part that deflates in a millisecond.
 * @module
 */
import type { Deflate } from '../ports/deflate.ts';
import { mayHalve } from './compressibility.ts';
import { SnapshotInvalidError } from './errors.ts';

const MAGIC = [0x4c, 0x4d, 0x53, 0x5a]; // "LMSZ"
const VERSION = 1;
const PREFIX = 16;
/** Below this, compression saves less than it costs in round trips of the streams. */
export const PACK_MIN_BYTES = 256 * 1024;
const SAMPLE_BYTES = 64 * 1024;
const SAMPLES = 4;
/** The sample must shrink to this fraction for the whole to be compressed. */
const PAYS_BELOW = 0.5;
/** An unpacked snapshot never exceeds a full 32-bit memory plus its files' share. */
export const MAX_UNPACKED_BYTES = 2 ** 32 + 2 ** 30;
/**
 * The most a synchronous zlib inflates in one go (about 50–100 ms of the calling thread
 * here). A packing that declares more — a large module's state, or a member sending a small
 * blob that claims gigabytes — goes through `DecompressionStream`, which yields between
 * chunks, so it cannot hold the peer's thread for seconds.
 */
export const MAX_SYNC_INFLATE_BYTES = 64 * 1024 * 1024;
/**
 * The most a synchronous zlib deflates in one go (deflate is several times slower than
 * inflate: some tens of milliseconds of the calling thread at this size); a larger part goes
 * through `CompressionStream`, off the thread, as it did before the port.
 */
export const MAX_SYNC_DEFLATE_BYTES = 4 * 1024 * 1024;

/**
 * `bytes` (an encoded snapshot) compressed when a sample of it shrinks to under half,
 * else `bytes` itself. Either form is accepted by {@link unpackSnapshot}. With `zlib`, the
 * sample and a whole of at most {@link MAX_SYNC_DEFLATE_BYTES} are deflated by it, on this
 * thread.
 */
export async function packSnapshot(bytes: Uint8Array, zlib?: Deflate): Promise<Uint8Array> {
  if (bytes.byteLength < PACK_MIN_BYTES) return bytes;
  const sample = new Uint8Array(SAMPLE_BYTES * SAMPLES);
  const stride = Math.floor((bytes.byteLength - SAMPLE_BYTES) / (SAMPLES - 1));
  for (let i = 0; i < SAMPLES; i++) sample.set(bytes.subarray(i * stride, i * stride + SAMPLE_BYTES), i * SAMPLE_BYTES);
  // Random or compressed state is told apart at once, without a trip through deflate.
  const squeeze = (input: Uint8Array): Promise<Uint8Array> | Uint8Array => (zlib && input.byteLength <= MAX_SYNC_DEFLATE_BYTES ? zlib.deflate(input) : deflate(input));
  if (!mayHalve(sample) || (await squeeze(sample)).byteLength > sample.byteLength * PAYS_BELOW) return bytes;
  const body = await squeeze(bytes);
  if (body.byteLength + PREFIX >= bytes.byteLength) return bytes;
  const out = new Uint8Array(PREFIX + body.byteLength);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  new DataView(out.buffer).setBigUint64(8, BigInt(bytes.byteLength), true);
  out.set(body, PREFIX);
  return out;
}

/** True when `bytes` is a packed (compressed) snapshot. */
export function isPacked(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * The encoded snapshot inside `bytes`: decompressed when packed, else `bytes` itself.
 * Decompression stops as soon as the output passes the length the header declares, so
 * a small blob cannot expand into unbounded memory.
 * With `zlib`, inflated by it on this thread, bounded the same way, when the declared length
 * is at most {@link MAX_SYNC_INFLATE_BYTES}.
 * @throws SnapshotInvalidError (`ERR_SNAPSHOT_INVALID`) for a malformed or lying packing.
 */
export async function unpackSnapshot(bytes: Uint8Array, zlib?: Deflate): Promise<Uint8Array> {
  if (!isPacked(bytes)) return bytes;
  const bad = (why: string): never => {
    throw new SnapshotInvalidError(`invalid packed snapshot: ${why}`, { reason: why });
  };
  if (bytes.byteLength < PREFIX) bad('shorter than its header');
  if (bytes[4] !== VERSION) bad(`unsupported version ${bytes[4]}`);
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(8, true);
  if (declared > BigInt(MAX_UNPACKED_BYTES)) bad('declared length out of range');
  const length = Number(declared);
  if (zlib && length <= MAX_SYNC_INFLATE_BYTES) {
    let out: Uint8Array | undefined;
    try {
      out = zlib.inflate(bytes.subarray(PREFIX), length);
    } catch {
      bad('the deflate stream is corrupt or expands past its declared length');
    }
    if (out!.byteLength !== length) bad(`expands to ${out!.byteLength} bytes, not the declared ${length}`);
    return out!;
  }
  const reader = through(bytes.subarray(PREFIX), new DecompressionStream('deflate')).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > length) {
        await reader.cancel();
        bad('expands past its declared length');
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof SnapshotInvalidError) throw error;
    bad('the deflate stream is corrupt');
  }
  if (total !== length) bad(`expands to ${total} bytes, not the declared ${length}`);
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

async function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await new Response(through(bytes, new CompressionStream('deflate'))).arrayBuffer());
}

/** `bytes` written whole into `transform` (no copy into a Blob first); its readable side. */
function through(bytes: Uint8Array, transform: CompressionStream | DecompressionStream): ReadableStream<Uint8Array> {
  // The streams take only views of unshared buffers.
  const input = (bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice()) as Uint8Array<ArrayBuffer>;
  const writer = transform.writable.getWriter();
  // A corrupt stream fails the readable side too, which is where it is reported.
  writer.write(input).then(() => writer.close()).catch(() => undefined);
  return transform.readable as ReadableStream<Uint8Array>;
}
