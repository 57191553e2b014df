/**
 * The source's pre-copy of a live migration (protocol in `migration.ts`): after the base,
 * rounds of the pages the module's calls wrote since the previous snapshot, shipped while
 * it still serves, until what remains is small — then the source holds calls and ships
 * only that. And how a snapshot travels: small ones inline in the request, large ones
 * offered from memory and fetched in ranges.
 * @module
 */
import type { InstanceSnapshot } from '../ports/sandbox.ts';
import { encodeSnapshot } from '../sandbox/snapshot.ts';
import { hashOf, type Sending } from './migration-base.ts';
import type { MigrationRound } from './migration-target.ts';

/** Snapshots up to this size travel inside the request instead of as a fetched blob. */
export const INLINE_DELTA_BYTES = 4 * 1024 * 1024;

/** At most this many pre-copy rounds before calls are held. */
export const PRECOPY_ROUNDS = 4;

/** A pre-copy round this small (encoded) is the last: what remains is shipped while calls are held. */
export const PRECOPY_SMALL_BYTES = 256 * 1024;

/**
 * Pre-copy rounds, the module serving: each ships the pages its calls wrote since the
 * previous snapshot (the base, or the last round), until a round is small, stops
 * shrinking, or {@link PRECOPY_ROUNDS} have gone. An untracked module answers with its
 * whole state: no rounds then (each would ship all of it).
 * When the sandbox can say how much was written since the last snapshot, a round that
 * would be small is not shipped at all: the hold ships those pages instead, and the move
 * saves a round trip and a worker's copy.
 * @param snapshot the instance's snapshot, within the migration's time limit
 * @param written bytes written since the last snapshot, when the sandbox tracks it
 */
export async function precopyRounds(
  send: Sending,
  snapshot: (options: { sinceLast: true }) => Promise<InstanceSnapshot>,
  written?: () => Promise<number>,
): Promise<{ rounds: number; bytes: number }> {
  let rounds = 0;
  let shipped = 0;
  let previous = Number.POSITIVE_INFINITY;
  while (rounds < PRECOPY_ROUNDS) {
    if (written && (await written()) <= PRECOPY_SMALL_BYTES) break;
    const delta = await snapshot({ sinceLast: true });
    // A whole state in the first round: the module is untracked. Later (its worker was
    // replaced and lost track), the whole state goes, and the rounds go on.
    if (!delta.delta && rounds === 0) break;
    const bytes = encodeSnapshot(delta);
    await send.peer.call(send.to, 'migration.round', await shipping(send, bytes), { timeoutMs: send.left() });
    rounds++;
    shipped += bytes.byteLength;
    if (!delta.delta) continue;
    if (bytes.byteLength <= PRECOPY_SMALL_BYTES || bytes.byteLength >= previous) break;
    previous = bytes.byteLength;
  }
  return { rounds, bytes: shipped };
}

/** How snapshot `bytes` travel: inline when small (checked against their sha256), else offered from memory. */
export async function shipping(send: Sending, bytes: Uint8Array): Promise<MigrationRound> {
  const { migrationId } = send;
  if (bytes.byteLength <= INLINE_DELTA_BYTES) return { migrationId, snapshot: await hashOf(bytes, send.peer.sha256), bytes: bytes.byteLength, data: bytes };
  const hash = await send.peer.offerBlob(bytes);
  send.offered.push(hash);
  return { migrationId, snapshot: hash, bytes: bytes.byteLength };
}
