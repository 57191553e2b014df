/**
 * Fetching a blob from other peers: `Peer.fetchBlob` delegates here.
 *
 * The local store answers first. Otherwise every linked peer is asked `blob.has`, and the
 * blob is read range by range (`blob.read`) from one that has it, a few ranges in flight
 * at once so a link's round trip does not bound throughput. Ranges are fixed slices of the
 * blob, so when a source fails or leaves mid-transfer the next source is asked only for
 * the ranges still missing: the transfer resumes where it was, it never starts over. The
 * assembled bytes are stored with `BlobStore.put(bytes, hash)`, which verifies the sha256:
 * bytes that do not match are never stored. With `keep: false` they are verified the same
 * way and handed back without being stored (a snapshot in transit, say).
 * @module
 */
import { sha256Hex, vouchSha256 } from '../bytes.ts';
import { AbortedError, BlobNotFoundError, HashMismatchError, hasCode, InvalidParamsError, MalformedMessageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import type { Sha256Factory, Sha256Stream } from '../ports/sha256.ts';
import type { PeerId } from '../ports/transport.ts';
import type { MeshMethods } from '../rpc/methods.ts';
import type { Rpc } from '../rpc/rpc.ts';
import type { BulkSink, OpenStream } from './bulk-streams.ts';

/**
 * Default size of one `blob.read` range: 1 MiB. Two of them in flight keep as many bytes
 * moving as eight of 256 KiB did, with a quarter of the requests and answers; on the
 * WebRTC bench (10 MiB, Node peers on loopback) the process spent about a fifth less CPU
 * per fetch, and the transfers ended sooner.
 */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** Default number of `blob.read` requests in flight to the source. */
export const DEFAULT_IN_FLIGHT = 2;
/** Largest range a peer serves in one `blob.read` (see the handler in `peer.ts`). */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

/** Progress of a fetch, reported after each range arrives. */
export interface BlobFetchProgress {
  /** Bytes received so far (also those received from earlier sources). */
  received: number;
  /** Size of the blob. */
  total: number;
  /** The peer that sent the range just received. */
  from: PeerId;
}

/** Options of `Peer.fetchBlob`. */
export interface FetchBlobOptions {
  /** Called after each range arrives; received grows until it equals total. */
  onProgress?: (progress: BlobFetchProgress) => void;
  /** Bytes asked for in one `blob.read` (default {@link DEFAULT_CHUNK_BYTES}, at most 16 MiB). */
  chunkBytes?: number;
  /** `blob.read` requests kept in flight (default {@link DEFAULT_IN_FLIGHT}). */
  inFlight?: number;
  /** Aborting rejects the fetch with ERR_ABORTED and stores nothing. */
  signal?: AbortSignal;
  /**
   * Store the verified blob locally (default true). False hands the verified bytes back
   * and writes nothing: for bytes needed once, such as a snapshot, which would otherwise
   * cost a durable write and a delete.
   */
  keep?: boolean;
}

/** What a fetch needs from its peer. */
export interface BlobFetchContext {
  /** The local store: read first, written when the blob has arrived and verified. */
  blobs: BlobStore;
  /** Peers that may be asked (the linked ones); asked again when the known sources run out. */
  peers: () => PeerId[];
  /** The peer's RPC endpoint. */
  rpc: Pick<Rpc<MeshMethods>, 'call'>;
  logger: Logger;
  /**
   * Open a stream for `from`'s bulk pieces (see bulk-streams.ts), or undefined when
   * pieces cannot come from it (no direct link): a range is then answered inline.
   * Absent: every range is answered inline.
   */
  openStream?: (from: PeerId, sink: BulkSink) => OpenStream | undefined;
  /**
   * An incremental SHA-256: ranges are hashed as the ones before them have arrived, so
   * the fetch's end waits for the last range's hash only. Absent: the whole is digested
   * with WebCrypto after the last range.
   */
  sha256?: Sha256Factory;
}

/**
 * The blob `hash`, from the local store or else from the peers that have it; stored
 * locally once its sha256 has been verified. Rejects with ERR_INVALID_HASH for a malformed
 * hash, ERR_INVALID_PARAMS for bad options, ERR_BLOB_NOT_FOUND when no peer has it (or
 * every peer that has it failed to serve it; `data.failures` says how),
 * ERR_HASH_MISMATCH when the bytes served do not hash to `hash`, and ERR_ABORTED.
 * The bytes resolved may be the store's own (an in-memory store keeps what was fetched
 * as it is): read them, never write into them.
 */
export async function fetchBlob(context: BlobFetchContext, hash: string, options: FetchBlobOptions = {}): Promise<Uint8Array> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const inFlight = options.inFlight ?? DEFAULT_IN_FLIGHT;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) {
    throw new InvalidParamsError(`chunkBytes must be an integer from 1 to ${MAX_CHUNK_BYTES}`);
  }
  if (!Number.isInteger(inFlight) || inFlight < 1) throw new InvalidParamsError('inFlight must be a positive integer');
  throwIfAborted(options.signal, hash);
  const local = await localBlob(context.blobs, hash);
  if (local) return local;
  return new Transfer(context, hash, chunkBytes, inFlight, options).run();
}

/** Resolves when `bytes` hash to `hash`; else rejects with ERR_HASH_MISMATCH, as a store's `put` does. */
async function verify(bytes: Uint8Array, hash: string): Promise<void> {
  const actual = await sha256Hex(bytes);
  if (actual !== hash) throw new HashMismatchError(`bytes hash to ${actual}, not ${hash}`, { expected: hash, actual });
}

/** The stored blob, or undefined when it is not stored (a malformed hash still rejects). */
async function localBlob(blobs: BlobStore, hash: string): Promise<Uint8Array | undefined> {
  if (!(await blobs.has(hash))) return undefined;
  try {
    return await blobs.get(hash);
  } catch (error) {
    // Deleted between the two calls: fetch it like any missing blob.
    if (hasCode(error, 'ERR_BLOB_NOT_FOUND')) return undefined;
    throw error;
  }
}

interface Source {
  peer: PeerId;
  size: number;
}

/** How one source failed, for the error of a fetch nobody could serve. */
interface Failure {
  peer: PeerId;
  code: string;
  message: string;
}

/** One fetch: sources found along the way, ranges still missing, bytes received. */
class Transfer {
  readonly #context: BlobFetchContext;
  readonly #hash: string;
  readonly #chunkBytes: number;
  readonly #inFlight: number;
  readonly #options: FetchBlobOptions;
  readonly #finder: SourceFinder;
  readonly #failures: Failure[] = [];
  readonly #servedBy = new Set<PeerId>();
  #total = 0;
  #buffer = new Uint8Array(0);
  #chunkCount = 0;
  /** Chunks handed out so far, in order; below it, only `#retry` holds missing ones. */
  #next = 0;
  /** Chunks that were handed out but not received (their source failed), ascending. */
  #retry: number[] = [];
  #received = 0;
  /** Which chunks have arrived whole (since the transfer began with its source's size). */
  #arrived: Uint8Array = new Uint8Array(0);
  /** The incremental hash over chunks 0 … #hashed - 1, when the peer has one. */
  #hasher: Sha256Stream | null = null;
  #hashed = 0;

  constructor(context: BlobFetchContext, hash: string, chunkBytes: number, inFlight: number, options: FetchBlobOptions) {
    this.#context = context;
    this.#hash = hash;
    this.#chunkBytes = chunkBytes;
    this.#inFlight = inFlight;
    this.#options = options;
    this.#finder = new SourceFinder(context, hash, options.signal);
  }

  async run(): Promise<Uint8Array> {
    const signal = this.#options.signal;
    for (;;) {
      throwIfAborted(signal, this.#hash);
      const source = await this.#finder.next();
      throwIfAborted(signal, this.#hash);
      if (!source) throw this.#notFound();
      if (this.#received === 0) {
        // Nothing received yet: this source defines the size.
        const problem = this.#begin(source.size);
        if (problem !== null) {
          this.#failures.push({ peer: source.peer, code: 'ERR_PAYLOAD_TOO_LARGE', message: problem });
          continue;
        }
      } else if (source.size !== this.#total) {
        this.#context.logger.debug(`skipping ${source.peer} for blob ${this.#hash}: it reports ${source.size} bytes, the transfer has ${this.#total}`);
        this.#failures.push({ peer: source.peer, code: 'ERR_MALFORMED_MESSAGE', message: `reports size ${source.size}, others ${this.#total}` });
        continue;
      }
      const failure = await this.#readFrom(source.peer);
      if (failure === null) return this.#store();
      throwIfAborted(signal, this.#hash);
      this.#context.logger.debug(`source ${source.peer} failed at ${this.#received} of ${this.#total} bytes of ${this.#hash}: ${failure.message}`);
      this.#failures.push({ peer: source.peer, code: typeof failure.code === 'string' ? failure.code : 'ERR_REMOTE_INTERNAL', message: failure.message });
    }
  }

  /** Prepare to receive `size` bytes; null when ready, else why not (it cannot be held). */
  #begin(size: number): string | null {
    try {
      this.#buffer = new Uint8Array(size);
    } catch (error) {
      // A size no memory can hold (a peer may claim anything): not this source's blob.
      return `cannot hold ${size} bytes: ${(error as Error).message}`;
    }
    this.#total = size;
    this.#chunkCount = Math.ceil(size / this.#chunkBytes);
    this.#next = 0;
    this.#retry = [];
    this.#arrived = new Uint8Array(this.#chunkCount);
    this.#hasher = this.#context.sha256?.() ?? null;
    this.#hashed = 0;
    return null;
  }

  #take(): number | undefined {
    if (this.#retry.length > 0) return this.#retry.shift();
    return this.#next < this.#chunkCount ? this.#next++ : undefined;
  }

  #giveBack(chunk: number): void {
    let i = this.#retry.length;
    while (i > 0 && this.#retry[i - 1]! > chunk) i--;
    this.#retry.splice(i, 0, chunk);
  }

  /** Read every missing range from `peer`; null when done, else why the source failed. */
  async #readFrom(peer: PeerId): Promise<(Error & { code?: unknown }) | null> {
    const controller = new AbortController();
    const outer = this.#options.signal;
    const onAbort = (): void => controller.abort();
    outer?.addEventListener('abort', onAbort, { once: true });
    let failure: (Error & { code?: unknown }) | null = null;
    const worker = async (): Promise<void> => {
      for (let chunk = this.#take(); chunk !== undefined; chunk = this.#take()) {
        if (failure !== null) {
          this.#giveBack(chunk);
          return;
        }
        try {
          await this.#readChunk(peer, chunk, controller.signal);
        } catch (error) {
          this.#giveBack(chunk);
          if (failure === null) {
            failure = error instanceof Error ? error : new Error(String(error));
            // The source is given up: its other reads go back to the queue for the next one.
            controller.abort();
          }
          return;
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: this.#inFlight }, worker));
    } finally {
      outer?.removeEventListener('abort', onAbort);
    }
    return failure;
  }

  async #readChunk(peer: PeerId, chunk: number, signal: AbortSignal): Promise<void> {
    const offset = chunk * this.#chunkBytes;
    const length = Math.min(this.#chunkBytes, this.#total - offset);
    const end = offset + length;
    // Pieces are written where they belong as they arrive, in order, each exactly once;
    // anything else (out of the range, a gap, an overlap) spoils the range.
    let next = offset;
    let spoiled: string | null = null;
    const buffer = this.#buffer;
    const stream = this.#context.openStream?.(peer, (at, data) => {
      if (spoiled !== null) return;
      if (at !== next || data.byteLength > end - at) {
        spoiled = `a piece of ${data.byteLength} bytes at ${at}, expected the bytes from ${next} to ${end}`;
        return;
      }
      buffer.set(data, at);
      next += data.byteLength;
    });
    let answer: Awaited<ReturnType<BlobFetchContext['rpc']['call']>> & { bytes?: Uint8Array; size: number; streamed?: number };
    try {
      answer = await this.#context.rpc.call(peer, 'blob.read', stream ? { hash: this.#hash, offset, length, stream: stream.stream } : { hash: this.#hash, offset, length }, { signal });
    } finally {
      stream?.close();
    }
    if (answer.size !== this.#total) {
      throw new MalformedMessageError(`blob.read at ${offset} answered for a ${String(answer.size)}-byte blob, this one has ${this.#total}`);
    }
    if (answer.bytes instanceof Uint8Array) {
      if (answer.bytes.byteLength !== length) throw new MalformedMessageError(`blob.read at ${offset} answered ${answer.bytes.byteLength} bytes, wanted ${length}`);
      buffer.set(answer.bytes, offset);
    } else if (stream === undefined || answer.streamed !== length || next !== end || spoiled !== null) {
      throw new MalformedMessageError(`blob.read at ${offset} of ${length} bytes: ${spoiled ?? `the answer says ${String(answer.streamed)} bytes were streamed, ${next - offset} arrived`}`);
    }
    this.#received += length;
    this.#arrived[chunk] = 1;
    this.#hashArrived();
    this.#servedBy.add(peer);
    this.#report({ received: this.#received, total: this.#total, from: peer });
  }

  /** Feed the hash the chunks that arrived in order from where it stands. */
  #hashArrived(): void {
    const hasher = this.#hasher;
    if (!hasher) return;
    while (this.#hashed < this.#chunkCount && this.#arrived[this.#hashed] === 1) {
      const offset = this.#hashed * this.#chunkBytes;
      hasher.update(this.#buffer.subarray(offset, Math.min(offset + this.#chunkBytes, this.#total)));
      this.#hashed++;
    }
  }

  #report(progress: BlobFetchProgress): void {
    const onProgress = this.#options.onProgress;
    if (!onProgress) return;
    try {
      onProgress(progress);
    } catch (error) {
      // A failing listener is the caller's bug, not the source's: the transfer goes on.
      this.#context.logger.error('blob fetch progress listener failed', error);
    }
  }

  async #store(): Promise<Uint8Array> {
    throwIfAborted(this.#options.signal, this.#hash);
    const bytes = this.#buffer;
    try {
      let verified = false;
      if (this.#hasher) {
        // Every chunk is in and hashed (#hashArrived ran after the last one).
        const actual = this.#hasher.digestHex();
        this.#hasher = null;
        if (actual !== this.#hash) throw new HashMismatchError(`bytes hash to ${actual}, not ${this.#hash}`, { expected: this.#hash, actual });
        // The store need not hash the same bytes again: they go to it unchanged.
        if (this.#options.keep !== false) vouchSha256(bytes, actual);
        verified = true;
      }
      if (this.#options.keep === false) {
        if (!verified) await verify(bytes, this.#hash);
      }
      // The buffer is this transfer's own and goes nowhere else: a store may keep it as is.
      else await this.#context.blobs.put(bytes, this.#hash, { handOver: true });
    } catch (error) {
      if (!hasCode(error, 'ERR_HASH_MISMATCH')) throw error;
      const sources = [...this.#servedBy];
      const detail = (error as { data?: unknown }).data;
      throw new HashMismatchError(`blob ${this.#hash} served by ${sources.join(', ')} does not match its hash; nothing stored`, {
        ...(typeof detail === 'object' && detail !== null ? detail : {}),
        sources,
      });
    }
    return bytes;
  }

  #notFound(): Error {
    if (this.#failures.length === 0) {
      return new BlobNotFoundError(`no linked peer has blob ${this.#hash}`, { hash: this.#hash, asked: this.#finder.asked });
    }
    return new BlobNotFoundError(`no peer could serve blob ${this.#hash}: ${this.#failures.map((f) => `${f.peer}: ${f.code}`).join('; ')}`, {
      hash: this.#hash,
      asked: this.#finder.asked,
      failures: this.#failures,
    });
  }
}

/**
 * Asks peers `blob.has` and hands out the ones that have the blob, in the order they
 * answered (the quickest first). A transfer can start on the first answer while the
 * others are still coming in.
 */
class SourceFinder {
  readonly #context: BlobFetchContext;
  readonly #hash: string;
  readonly #signal: AbortSignal | undefined;
  readonly #asked = new Set<PeerId>();
  readonly #found: Source[] = [];
  #outstanding = 0;
  #wake: (() => void) | null = null;

  constructor(context: BlobFetchContext, hash: string, signal: AbortSignal | undefined) {
    this.#context = context;
    this.#hash = hash;
    this.#signal = signal;
  }

  /** How many peers were asked. */
  get asked(): number {
    return this.#asked.size;
  }

  /** The next peer that has the blob, or undefined once every reachable peer said no. */
  async next(): Promise<Source | undefined> {
    for (;;) {
      throwIfAborted(this.#signal, this.#hash);
      const found = this.#found.shift();
      if (found) return found;
      // Peers that linked since the last round may have it: ask them before giving up.
      if (this.#outstanding === 0) this.#ask(this.#context.peers().filter((p) => !this.#asked.has(p)));
      if (this.#outstanding === 0) return undefined;
      await this.#answered();
    }
  }

  #ask(peers: PeerId[]): void {
    for (const peer of peers) {
      this.#asked.add(peer);
      this.#outstanding++;
      const options = this.#signal ? { signal: this.#signal } : {};
      this.#context.rpc.call(peer, 'blob.has', { hash: this.#hash }, options).then(
        ({ has, size }) => {
          if (has && Number.isSafeInteger(size) && size >= 0) this.#found.push({ peer, size });
          else if (has) this.#context.logger.debug(`${peer} has blob ${this.#hash} with an impossible size ${String(size)}`);
        },
        (error: unknown) => this.#context.logger.debug(`blob.has to ${peer}: ${(error as Error).message}`),
      ).finally(() => {
        this.#outstanding--;
        this.#wake?.();
      });
    }
  }

  /** Resolves on the next answer, or when the fetch is aborted. */
  #answered(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.#wake = null;
        this.#signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#wake = done;
      this.#signal?.addEventListener('abort', done, { once: true });
    });
  }
}

function throwIfAborted(signal: AbortSignal | undefined, hash: string): void {
  if (signal?.aborted) throw new AbortedError(`fetch of blob ${hash} aborted`);
}
