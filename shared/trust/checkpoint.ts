/**
 * Owner-signed registry checkpoints (ADR 0025). An owner key of the mesh vouches that the
 * signatures of a set of registry entries hold, by listing their digests
 * (`entry-digest.ts`) in pages stored in the `trust` map:
 *
 *   checkpoint/<n>   { mesh, at, page, pages, digests }   signed by a root owner key
 *
 * A reader that finds an entry's digest in a checkpoint skips that entry's Ed25519 check
 * (and the checks of the grant, invitation or revocation inside a trust entry), and runs
 * every other check as before: the author's role now, revocation, names, size of what is
 * new. An entry absent from the checkpoint, or changed since, has another digest and is
 * verified the slow way. Only the signature check is ever skipped, and only for bytes an
 * owner saw verified, so a stale or replayed checkpoint speeds up less, never accepts more.
 * @module
 */
import type { MeshError } from '../errors.ts';
import { DIGEST_BYTES, unpackDigests } from './entry-digest.ts';
import type { MeshTrust, TrustLookup } from './mesh-trust.ts';
import { WriteForbiddenError } from './roles.ts';

/** Prefix of checkpoint pages in the `trust` map. */
export const CHECKPOINT_PREFIX = 'checkpoint/';
/**
 * Digests per page: 4,096 digests are 128 KiB, 171 KiB as base64, under the 256 KiB
 * limit of an entry; a registry of 4,000 entries fits one page, so one signature.
 */
export const DIGESTS_PER_PAGE = 4096;
/** Pages a reader looks at (a registry of up to 262,144 entries). */
export const MAX_PAGES = 64;

/** Trust map key of checkpoint page `n`. */
export const checkpointKey = (n: number): string => `${CHECKPOINT_PREFIX}${n}`;

/** True for the trust map key of a checkpoint page. */
export function isCheckpointKey(map: string, key: string): boolean {
  return map === 'trust' && key.startsWith(CHECKPOINT_PREFIX);
}

/** A checkpoint page as stored (before its `_a`). */
export interface CheckpointPage {
  id: string;
  mesh: string;
  /** When the owner made the checkpoint (its wall clock, ms). */
  at: number;
  page: number;
  pages: number;
  /** The page's digests, concatenated, base64. */
  digests: string;
}

/** Why a checkpoint page written by `author` is refused, or undefined when it is allowed. */
export function refuseCheckpoint(key: string, value: Record<string, unknown>, author: string, trust: MeshTrust): MeshError | undefined {
  // A root key only: a checkpoint vouches for other keys' signatures, which no grant delegates.
  if (!trust.isOwner(author)) return new WriteForbiddenError(`${author.slice(0, 16)}… is not an owner key of mesh ${trust.mesh} and may not sign checkpoints`);
  if (value.deleted === true) return undefined;
  const n = Number(key.slice(CHECKPOINT_PREFIX.length));
  if (!Number.isInteger(n) || n < 0 || n >= MAX_PAGES || checkpointKey(n) !== key) return new WriteForbiddenError(`${key} is not a checkpoint page`);
  if (value.mesh !== trust.mesh || value.page !== n || typeof value.digests !== 'string' || typeof value.at !== 'number') return new WriteForbiddenError(`${key} is not a checkpoint page of mesh ${trust.mesh}`);
  if (value.digests.length > Math.ceil((DIGESTS_PER_PAGE * DIGEST_BYTES) / 3) * 4) return new WriteForbiddenError(`${key} lists more than ${DIGESTS_PER_PAGE} digests`);
  return undefined;
}

/**
 * The digests the current checkpoint pages cover, rebuilt only when a page changed. The
 * pages come through `lookup` (the registry's `trust` map as the gate read it), so a page
 * that is not a root owner's is never seen here.
 */
export class CoveredDigests {
  #seen: unknown[] = [];
  #stored: unknown[] = [];
  #covered = new Set<string>();

  /**
   * The covered digests now. With `stored` (the raw values of the `trust` map), pages that
   * are the same objects as last time are not opened again: a reader asks for every entry.
   */
  read(lookup: TrustLookup, stored?: TrustLookup): ReadonlySet<string> {
    if (stored && this.#stored.length > 0 && this.#sameStored(stored)) return this.#covered;
    const pages: unknown[] = [];
    for (let n = 0; n < MAX_PAGES; n++) {
      const page = lookup(checkpointKey(n));
      if (typeof page !== 'object' || page === null) break;
      pages.push(page);
    }
    if (pages.length !== this.#seen.length || pages.some((p, i) => p !== this.#seen[i])) this.#rebuild(pages);
    if (stored) {
      this.#stored = [];
      for (let n = 0; n <= pages.length && n < MAX_PAGES; n++) this.#stored.push(stored(checkpointKey(n)));
    }
    return this.#covered;
  }

  #sameStored(stored: TrustLookup): boolean {
    for (let n = 0; n < this.#stored.length; n++) if (stored(checkpointKey(n)) !== this.#stored[n]) return false;
    return true;
  }

  #rebuild(pages: unknown[]): void {
    this.#seen = pages;
    this.#covered = new Set();
    for (const page of pages) {
      const digests = (page as { digests?: unknown }).digests;
      if (typeof digests !== 'string') continue;
      try {
        for (const d of unpackDigests(digests)) this.#covered.add(d);
      } catch {
        // An owner-signed page that is not whole digests vouches for nothing.
      }
    }
  }
}
