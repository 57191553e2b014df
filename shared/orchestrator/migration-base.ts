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
 * @module
 */
import { sha256Hex } from '../bytes.ts';
import { HashMismatchError } from '../errors.ts';
import type { InstanceSnapshot } from '../ports/sandbox.ts';
import { SnapshotInvalidError } from '../sandbox/errors.ts';
import { decodeSnapshot, encodeSnapshot } from '../sandbox/snapshot.ts';
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

/** Parameters of `migration.part` (source → target): one part of the base snapshot. */
export interface MigrationPart {
  migrationId: string;
  deploymentId: string;
  /** From 0; part 0 is restored first (a whole snapshot of its pages), the others after it in order. */
  index: number;
  /** How many parts the base has. */
  parts: number;
  /** sha256 of `data`. */
  snapshot: string;
  /** The encoded part (snapshot.ts), compressed or not (snapshot-packing.ts). */
  data: Uint8Array;
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
export async function streamBase(send: Sending & { deploymentId: string }, snapshot: InstanceSnapshot): Promise<StreamedBase> {
  const parts = splitSnapshot(snapshot, BASE_PART_PAGES);
  const first = encodeSnapshot(parts[0]!);
  const firstWire = await packSnapshot(first);
  // Dense state: the first part's sample did not shrink, so no part is sampled.
  const pack = isPacked(firstWire);
  const result: StreamedBase = { parts: parts.length, bytes: 0, wireBytes: 0 };
  // A part is encoded and hashed ahead, while the ones before it travel, so that a lane
  // that frees sends at once: at most twice the lanes' parts are held ready.
  const ready = new Map<number, Promise<MigrationPart>>();
  const prepare = async (index: number): Promise<MigrationPart> => {
    const encoded = index === 0 ? first : encodeSnapshot(parts[index]!);
    const data = index === 0 ? firstWire : pack ? await packSnapshot(encoded) : encoded;
    result.bytes += encoded.byteLength;
    result.wireBytes += data.byteLength;
    return { migrationId: send.migrationId, deploymentId: send.deploymentId, index, parts: parts.length, snapshot: await sha256Hex(data), data };
  };
  const ahead = (index: number): Promise<MigrationPart> | undefined => {
    if (index >= parts.length) return undefined;
    let part = ready.get(index);
    if (!part) {
      ready.set(index, (part = prepare(index)));
      // Failures surface where the part is awaited.
      part.catch(() => undefined);
    }
    return part;
  };
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let index = next++; index < parts.length; index = next++) {
      const part = await ahead(index)!;
      ready.delete(index);
      ahead(index + BASE_PARTS_IN_FLIGHT);
      await send.peer.call(send.to, 'migration.part', part, { timeoutMs: send.left() });
    }
  };
  // One failed part fails the whole: the others' calls are left to end by themselves.
  await Promise.all(Array.from({ length: Math.min(BASE_PARTS_IN_FLIGHT, parts.length) }, lane));
  return result;
}

/**
 * The target's side of one base in transit: parts are checked as they arrive and handed
 * out in order ({@link next}), whatever order they came in.
 */
export class IncomingBase {
  #parts: number | undefined;
  readonly #arrived = new Set<number>();
  readonly #waiting = new Map<number, { resolve: (part: InstanceSnapshot) => void; reject: (error: Error) => void }>();
  readonly #ready = new Map<number, InstanceSnapshot>();
  #failed: Error | undefined;

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
      if (!(p.data instanceof Uint8Array)) throw new SnapshotInvalidError(`part ${p.index} carries no bytes`);
      this.#parts = p.parts;
      this.#arrived.add(p.index);
      const actual = await sha256Hex(p.data);
      if (actual !== p.snapshot) throw new HashMismatchError(`part ${p.index} of the base arrived as bytes that hash to ${actual}, not ${p.snapshot}`, { expected: p.snapshot, actual });
      const part = decodeSnapshot(await unpackSnapshot(p.data));
      if ((p.index === 0) === (part.part === true) || part.delta) throw new SnapshotInvalidError(`part ${p.index} is ${p.index === 0 ? 'not whole' : 'not a part'}`);
      if (this.#failed) throw this.#failed;
      const waiter = this.#waiting.get(p.index);
      this.#waiting.delete(p.index);
      if (waiter) waiter.resolve(part);
      else this.#ready.set(p.index, part);
    } catch (error) {
      this.fail(error as Error);
      throw error;
    }
  }

  /** Part `index`, once it has arrived and been checked; rejects when the base fails. */
  next(index: number): Promise<InstanceSnapshot> {
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
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }
}
