/**
 * How the base snapshot of a live migration travels (protocol in `migration.ts`): in
 * parts of about 1 MiB that the source pushes as it encodes and hashes them, a few in
 * flight, and that the target checks and restores one after another as they arrive. The
 * source's encoding and hashing, the channel and the target's restore then overlap,
 * instead of running one after the other over the whole state (a 16 MiB base used to be
 * encoded, hashed, offered, fetched whole, hashed again and only then restored).
 *
 * Each part carries its sha256, checked on arrival (ERR_HASH_MISMATCH), its index and
 * how many parts there are; numbering that does not add up is ERR_SNAPSHOT_INVALID.
 * Either fails the migration, and the target drops what it staged. A part that never
 * arrives fails the source's call for it, and so the migration. Compression
 * (snapshot-packing.ts) is tried on the first part; when that part does not shrink, the
 * others travel as they are without a sample each.
 *
 * Over a direct link the parts' bytes travel as bulk pieces (ADR 0031, "The migration's
 * base on bulk streams"): the target opens one stream for the base (`migration.stream`),
 * part `i` is the run of that stream from `i × PART_STRIDE`, written by the target
 * straight into the part's buffer as its pieces arrive, and the `migration.part` request
 * that follows them on the link says how many bytes were sent instead of carrying them.
 * A piece out of its part's order, past the largest part, for a part that is complete
 * or not in the base, or a part whose count of bytes does not match what arrived, is
 * ERR_MALFORMED_MESSAGE and fails the base. A target reached through other peers, or of
 * an earlier build (which does not know `migration.stream`), takes the parts inline.
 * @module
 */
import { concatBytes, sha256Hex } from '../bytes.ts';
import { HashMismatchError, MalformedMessageError } from '../errors.ts';
import type { InstanceSnapshot } from '../ports/sandbox.ts';
import type { Deflate } from '../ports/deflate.ts';
import type { Sha256Factory, Sha256Stream } from '../ports/sha256.ts';
import { SnapshotInvalidError } from '../sandbox/errors.ts';
import { decodeSnapshot, encodeSnapshot, encodeSnapshotPieces } from '../sandbox/snapshot.ts';
import { isPacked, packSnapshot, unpackSnapshot } from '../sandbox/snapshot-packing.ts';
import { splitSnapshot } from '../sandbox/snapshot-parts.ts';
import type { Peer } from '../mesh/peer.ts';

/** Where and how the source sends one migration's snapshots. */
export interface Sending {
  peer: Peer;
  /** The target. */
  to: string;
  migrationId: string;
  /** What is left of the migration's time limit, ms. */
  left: () => number;
  /** Hashes offered from memory, withdrawn by the caller when the migration ends. */
  offered: string[];
}

/** Distinct 64 KiB pages per part of the base: 1 MiB, the blob path's range size. */
export const BASE_PART_PAGES = 16;

/** Parts of the base in flight from the source at once. */
export const BASE_PARTS_IN_FLIGHT = 3;

/** A base has at most one part per page of a 32-bit memory. */
const MAX_PARTS = 65536;

/**
 * Where part `i` starts in the base's bulk stream: `i × PART_STRIDE` (2^32). Parts then
 * never overlap, whatever their size, and the pieces of the parts in flight may
 * interleave on the link: each part's pieces follow each other in order.
 */
export const PART_STRIDE = 2 ** 32;

/** A part larger than this travels inline; a streamed one that grows past it fails the base. */
export const MAX_STREAMED_PART_BYTES = 64 * 1024 * 1024;

/**
 * Parts whose pieces a target buffers at once, not yet announced: a source sends
 * {@link BASE_PARTS_IN_FLIGHT}; more fails the base, so a source cannot make the target
 * hold more than this many parts' bytes.
 */
const MAX_STREAMING_PARTS = 8;

/** The first buffer of a streamed part: a dense part's 16 pages and its header, so it never grows. */
const PART_BUFFER_BYTES = BASE_PART_PAGES * 65536 + 64 * 1024;

/** Parameters of `migration.stream` (source → target): open a bulk stream for the base's parts. */
export interface MigrationStream {
  migrationId: string;
  deploymentId: string;
}

/** Parameters of `migration.part` (source → target): one part of the base snapshot. */
export interface MigrationPart {
  migrationId: string;
  deploymentId: string;
  /** From 0; part 0 is restored first (a whole snapshot of its pages), the others after it in order. */
  index: number;
  /** How many parts the base has. */
  parts: number;
  /** sha256 of the part's bytes. */
  snapshot: string;
  /** The encoded part (snapshot.ts), compressed or not (snapshot-packing.ts), when it travels inline. */
  data?: Uint8Array;
  /** Otherwise: how many bytes of the part the source sent as bulk pieces ahead of this request. */
  streamed?: number;
}

/** What the source's stream of the base came to. */
export interface StreamedBase {
  parts: number;
  /** Encoded bytes of all parts. */
  bytes: number;
  /** Bytes on the wire (less when compressed). */
  wireBytes: number;
}

/**
 * Push `snapshot` (a whole one) to the target in parts, {@link BASE_PARTS_IN_FLIGHT} at
 * a time, each encoded and hashed while the ones before it travel; resolves when the target has taken every part (checked, not necessarily
 * restored yet: its prepare answers once they are).
 */
export async function streamBase(send: Sending & { deploymentId: string }, snapshot: InstanceSnapshot, opening?: Promise<number | undefined>): Promise<StreamedBase> {
  const parts = splitSnapshot(snapshot, BASE_PART_PAGES);
  const first = encodeSnapshot(parts[0]!);
  const firstWire = await packSnapshot(first, send.peer.deflate);
  // Dense state: the first part's sample did not shrink, so no part is sampled.
  const pack = isPacked(firstWire);
  const result: StreamedBase = { parts: parts.length, bytes: 0, wireBytes: 0 };
  // A part is encoded and hashed ahead, while the ones before it travel, so that a lane
  // that frees sends at once: at most twice the lanes' parts are held ready.
  const ready = new Map<number, Promise<ReadyPart>>();
  const sha256 = send.peer.sha256;
  const prepare = async (index: number): Promise<ReadyPart> => {
    const numbered = { migrationId: send.migrationId, deploymentId: send.deploymentId, index, parts: parts.length };
    if (index > 0 && !pack && sha256) {
      // Dense parts after the first are neither joined nor copied: their header and
      // then their pages straight from the snapshot's buffer, hashed piece by piece.
      const { chunks, byteLength } = encodeSnapshotPieces(parts[index]!);
      const hash = sha256();
      for (const chunk of chunks) hash.update(chunk);
      result.bytes += byteLength;
      result.wireBytes += byteLength;
      return { ...numbered, snapshot: hash.digestHex(), chunks, byteLength };
    }
    const encoded = index === 0 ? first : encodeSnapshot(parts[index]!);
    const data = index === 0 ? firstWire : pack ? await packSnapshot(encoded, send.peer.deflate) : encoded;
    result.bytes += encoded.byteLength;
    result.wireBytes += data.byteLength;
    return { ...numbered, snapshot: await hashOf(data, sha256), data, chunks: [data], byteLength: data.byteLength };
  };
  const ahead = (index: number): Promise<ReadyPart> | undefined => {
    if (index >= parts.length) return undefined;
    let part = ready.get(index);
    if (!part) {
      ready.set(index, (part = prepare(index)));
      // Failures surface where the part is awaited.
      part.catch(() => undefined);
    }
    return part;
  };
  ahead(0);
  ahead(1);
  const stream = await (opening ?? openBaseStream(send));
  // Streamed parts go on the link one after another, in order: the target then has
  // part 0 whole after its own bytes, not after the pieces of every part in flight
  // (which would interleave), and restores it while the next ones travel.
  const onWire = parts.map(() => {
    const turn = {} as { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void };
    turn.promise = new Promise<void>((resolve, reject) => Object.assign(turn, { resolve, reject }));
    // A failure surfaces in the lane whose part failed.
    turn.promise.catch(() => undefined);
    return turn;
  });
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let index = next++; index < parts.length; index = next++) {
      const { chunks, byteLength, ...part } = await ahead(index)!;
      ready.delete(index);
      ahead(index + BASE_PARTS_IN_FLIGHT);
      if (stream === undefined || byteLength > MAX_STREAMED_PART_BYTES) {
        onWire[index]!.resolve();
        await send.peer.call(send.to, 'migration.part', { ...part, data: part.data ?? concatBytes(chunks) }, { timeoutMs: send.left() });
        continue;
      }
      try {
        if (index > 0) await onWire[index - 1]!.promise;
        let at = index * PART_STRIDE;
        for (const chunk of chunks) {
          await send.peer.sendBulk(send.to, stream, at, chunk);
          at += chunk.byteLength;
        }
        onWire[index]!.resolve();
      } catch (error) {
        onWire[index]!.reject(error as Error);
        throw error;
      }
      // The request follows the pieces on the same link, so it finds them all in.
      const { data: _sent, ...announced } = part;
      await send.peer.call(send.to, 'migration.part', { ...announced, streamed: byteLength }, { timeoutMs: send.left() });
    }
  };
  // One failed part fails the whole: the others' calls are left to end by themselves.
  await Promise.all(Array.from({ length: Math.min(BASE_PARTS_IN_FLIGHT, parts.length) }, lane));
  return result;
}

/** A part ready to go: its bytes as pieces sent one after another (one piece when encoded whole). */
type ReadyPart = MigrationPart & { chunks: Uint8Array[]; byteLength: number };


/**
 * The sha256 of `data`: with the peer's incremental hash where it has one (Node: native,
 * on this thread, no copy and no hop through the thread pool, which a loaded machine
 * makes slow to come back), else WebCrypto.
 */
export async function hashOf(data: Uint8Array, sha256: Sha256Factory | undefined): Promise<string> {
  if (!sha256) return sha256Hex(data);
  const hash = sha256();
  hash.update(data);
  return hash.digestHex();
}

/**
 * The target's bulk stream for the base, when it is linked directly and knows one; else
 * undefined and the parts travel inline (a target of an earlier build answers that it
 * does not know the method). Never rejects. Asked right behind `migration.prepare`, on
 * the same link, the request finds the prepare registered (its handler does so before
 * anything else), and its round trip passes while the source takes the snapshot.
 */
export async function openBaseStream(send: Sending & { deploymentId: string }): Promise<number | undefined> {
  if (!send.peer.linked().includes(send.to)) return undefined;
  try {
    const answer = await send.peer.call(send.to, 'migration.stream', { migrationId: send.migrationId, deploymentId: send.deploymentId }, { timeoutMs: send.left() });
    return Number.isSafeInteger(answer.stream) && answer.stream! >= 0 ? answer.stream : undefined;
  } catch {
    // Whatever went wrong, the inline parts still can go (or fail by themselves).
    return undefined;
  }
}

/** A part of the base as the target restores it. */
export interface ArrivedPart {
  part: InstanceSnapshot;
  /** The buffers under its pages are the base's alone: the restore may take them (`handOver`). */
  handOver: boolean;
}

/**
 * The target's side of one base in transit: parts are checked as they arrive and handed
 * out in order ({@link next}), whatever order they came in.
 */
export class IncomingBase {
  #parts: number | undefined;
  readonly #arrived = new Set<number>();
  readonly #waiting = new Map<number, { resolve: (part: ArrivedPart) => void; reject: (error: Error) => void }>();
  readonly #ready = new Map<number, ArrivedPart>();
  /**
   * Streamed parts whose pieces are arriving: their buffer, how much of it is filled and,
   * with an incremental hash, the sha256 of that much.
   */
  readonly #streaming = new Map<number, { buffer: Uint8Array; length: number; hash: Sha256Stream | null }>();
  readonly #sha256: Sha256Factory | undefined;
  readonly #deflate: Deflate | undefined;
  #failed: Error | undefined;

  /**
   * `sha256`: an incremental hash (Node), with which streamed parts are hashed piece by
   * piece as they arrive; `deflate`: a synchronous zlib (Node), with which compressed
   * parts are inflated.
   */
  constructor(options: { sha256?: Sha256Factory; deflate?: Deflate } = {}) {
    this.#sha256 = options.sha256;
    this.#deflate = options.deflate;
  }

  /** How many parts the base has, once the first part (any index) has arrived. */
  get parts(): number | undefined {
    return this.#parts;
  }

  /**
   * A part from the source: its numbering checked (ERR_SNAPSHOT_INVALID), its bytes
   * against its sha256 (ERR_HASH_MISMATCH), then decoded. Any of these failing fails the
   * whole base too.
   */
  async receive(p: MigrationPart): Promise<void> {
    if (this.#failed) throw this.#failed;
    try {
      if (!Number.isInteger(p.parts) || p.parts < 1 || p.parts > MAX_PARTS) throw new SnapshotInvalidError(`a base of ${String(p.parts)} parts`);
      if (this.#parts !== undefined && p.parts !== this.#parts) throw new SnapshotInvalidError(`part ${String(p.index)} says the base has ${p.parts} parts, an earlier one ${this.#parts}`);
      if (!Number.isInteger(p.index) || p.index < 0 || p.index >= p.parts) throw new SnapshotInvalidError(`part ${String(p.index)} of ${p.parts}`);
      if (this.#arrived.has(p.index)) throw new SnapshotInvalidError(`part ${p.index} arrived twice`);
      const { data, digest, owned } = this.#bytesOf(p);
      this.#parts = p.parts;
      this.#arrived.add(p.index);
      for (const index of this.#streaming.keys()) if (index >= p.parts) throw new MalformedMessageError(`bulk pieces arrived for part ${index} of a base of ${p.parts} parts`);
      const actual = digest ?? (await sha256Hex(data));
      if (actual !== p.snapshot) throw new HashMismatchError(`part ${p.index} of the base arrived as bytes that hash to ${actual}, not ${p.snapshot}`, { expected: p.snapshot, actual });
      const packed = isPacked(data);
      const part = decodeSnapshot(await unpackSnapshot(data, this.#deflate));
      if ((p.index === 0) === (part.part === true) || part.delta) throw new SnapshotInvalidError(`part ${p.index} is ${p.index === 0 ? 'not whole' : 'not a part'}`);
      if (this.#failed) throw this.#failed;
      // The pages are views of a buffer this base alone holds (a streamed part's, or what
      // inflating made): the restore may move it to the sandbox's thread.
      const arrived: ArrivedPart = { part, handOver: owned || packed };
      const waiter = this.#waiting.get(p.index);
      this.#waiting.delete(p.index);
      if (waiter) waiter.resolve(arrived);
      else this.#ready.set(p.index, arrived);
    } catch (error) {
      this.fail(error as Error);
      throw error;
    }
  }

  /**
   * The bytes of part `p`: inline, or the pieces streamed for it, which must be exactly
   * `streamed` bytes — then with their sha256 when it was taken as they arrived, and
   * `owned`: the buffer is this base's alone.
   */
  #bytesOf(p: MigrationPart): { data: Uint8Array; digest?: string; owned: boolean } {
    const streamed = this.#streaming.get(p.index);
    this.#streaming.delete(p.index);
    if (p.data !== undefined) {
      if (!(p.data instanceof Uint8Array)) throw new SnapshotInvalidError(`part ${p.index} carries no bytes`);
      if (streamed) throw new MalformedMessageError(`part ${p.index} arrived inline after ${streamed.length} bytes of it were streamed`);
      return { data: p.data, owned: false };
    }
    if (!Number.isSafeInteger(p.streamed) || p.streamed! < 0) throw new SnapshotInvalidError(`part ${p.index} carries no bytes`);
    const arrived = streamed?.length ?? 0;
    if (arrived !== p.streamed) throw new MalformedMessageError(`part ${p.index} says ${String(p.streamed)} bytes were streamed, ${arrived} arrived`);
    if (!streamed) return { data: new Uint8Array(0), owned: false };
    const data = streamed.buffer.subarray(0, arrived);
    return streamed.hash ? { data, digest: streamed.hash.digestHex(), owned: true } : { data, owned: true };
  }

  /**
   * A bulk piece of the base's stream (from the source: the stream is opened for it
   * alone): written to its part's buffer, which it must continue exactly. Anything else
   * fails the base (ERR_MALFORMED_MESSAGE).
   */
  piece(at: number, data: Uint8Array): void {
    if (this.#failed) return;
    const index = Math.floor(at / PART_STRIDE);
    const offset = at - index * PART_STRIDE;
    const refuse = (why: string): void => this.fail(new MalformedMessageError(`a bulk piece of ${data.byteLength} bytes at ${offset} of part ${index}: ${why}`));
    if (index >= (this.#parts ?? MAX_PARTS)) return refuse(`the base has ${this.#parts ?? MAX_PARTS} parts`);
    if (this.#arrived.has(index)) return refuse('that part is complete');
    let entry = this.#streaming.get(index);
    const filled = entry?.length ?? 0;
    if (offset !== filled) return refuse(`expected the bytes from ${filled}`);
    const length = filled + data.byteLength;
    if (length > MAX_STREAMED_PART_BYTES) return refuse(`a part has at most ${MAX_STREAMED_PART_BYTES} bytes`);
    if (!entry) {
      if (this.#streaming.size >= MAX_STREAMING_PARTS) return refuse(`more than ${MAX_STREAMING_PARTS} parts are arriving at once`);
      entry = { buffer: new Uint8Array(Math.max(PART_BUFFER_BYTES, length)), length: 0, hash: this.#sha256?.() ?? null };
      this.#streaming.set(index, entry);
    }
    if (length > entry.buffer.byteLength) {
      // A part larger than a dense one (many globals, files): rare, so grown by copying.
      const grown = new Uint8Array(Math.min(MAX_STREAMED_PART_BYTES, Math.max(length, entry.buffer.byteLength * 2)));
      grown.set(entry.buffer.subarray(0, entry.length));
      entry.buffer = grown;
    }
    entry.buffer.set(data, entry.length);
    entry.hash?.update(data);
    entry.length = length;
  }

  /** Part `index` if it has arrived and been checked already (then it is taken), else undefined. */
  take(index: number): ArrivedPart | undefined {
    if (this.#failed) throw this.#failed;
    const ready = this.#ready.get(index);
    this.#ready.delete(index);
    return ready;
  }

  /** Part `index`, once it has arrived and been checked; rejects when the base fails. */
  next(index: number): Promise<ArrivedPart> {
    if (this.#failed) return Promise.reject(this.#failed);
    const ready = this.#ready.get(index);
    if (ready) {
      this.#ready.delete(index);
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => this.#waiting.set(index, { resolve, reject }));
  }

  /** Give up: every wait rejects with `error`, and later parts are refused with it. */
  fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    this.#ready.clear();
    this.#streaming.clear();
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }
}
