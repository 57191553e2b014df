/**
 * The registry's gate in a mesh with roles: seals what this peer writes, opens what it
 * reads. An entry is valid when its signature holds, it is not too large, and its author
 * was allowed to write it (`write-policy.ts`, with the author's role from
 * {@link MeshTrust}). The gate remembers the last valid value of every entry it opened,
 * so that a reader falls back to it when a member overwrites or deletes what it may not,
 * and so that the registry can write it back (`Registry` repairs; the signature is the
 * original author's, so any peer may restore it). An entry whose digest an owner-signed
 * checkpoint lists (`checkpoint.ts`) is opened without checking its signature again.
 * @module
 */
import { type MeshError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { CoveredDigests, isCheckpointKey } from './checkpoint.ts';
import { isSelfProving, MAX_ENTRY_BYTES, type OpenedEntry, openEntry, openEntryUncached, sealEntry } from './entry-auth.ts';
import { keyHex, type Signer } from './keys.ts';
import { type MeshTrust, type TrustLookup } from './mesh-trust.ts';
import { EntryTooLargeError, ExpiredGrantError, type Role } from './roles.ts';
import { vouchStatements } from './statements.ts';
import { refuseWrite } from './write-policy.ts';

/** A valid entry as the gate last saw it. */
export interface ValidEntry {
  /** The stored object (with its signature), to write back when repairing. */
  raw: unknown;
  /** The value without its signature. */
  value: Record<string, unknown>;
  author: string;
  tombstone: boolean;
  /** When this peer first read it as valid (its wall clock, ms). */
  seenAt: number;
}

/** Verdict on one stored entry. */
export type GateVerdict =
  | { ok: true; entry: ValidEntry }
  | {
      ok: false;
      error: MeshError | { code: string; message: string };
      /** The last valid value, to read instead and to restore. */
      fallback?: ValidEntry;
      /** Whether the entry is plainly bad (unsigned, forged, too large, a member overstepping) rather than possibly early (an author whose grant has not arrived). */
      definite: boolean;
    };

/**
 * The verdict accepting an entry, with the generation of the `trust` map it was last
 * judged under: a revocation, a demotion or an expiry moves the generation, and the
 * entry is judged again before it is read again.
 */
type AcceptedVerdict = Extract<GateVerdict, { ok: true }> & { at?: number };

/** Options of an {@link EntryGate}. */
export interface EntryGateOptions {
  trust: MeshTrust;
  /** This peer's signing key. */
  signer: Signer;
  /** Values of the registry's `trust` map, as the gate reads them. */
  lookup: TrustLookup;
  /** Stored (raw) values of the registry's `trust` map: tells cheaply whether a checkpoint page changed. */
  stored?: TrustLookup;
  logger: Logger;
  /** Wall clock (default Date.now): when a claim was first seen decides whether it is settled. */
  now?: () => number;
  /** Generation of the `trust` map (`trust-generation.ts`): lets the gate keep roles and checkpoint digests while it stays the same. */
  trustGeneration?: { current(): number | undefined };
}

/** Seals local writes and checks everything read. */
export class EntryGate {
  readonly trust: MeshTrust;
  readonly #signer: Signer;
  readonly #self: string;
  readonly #lookup: TrustLookup;
  readonly #stored: TrustLookup | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  /**
   * The last valid entry per map, then key, held as the verdict that accepted it: a reader
   * asks for every entry again on each read, and neither the lookup nor the answer makes a
   * new string or object.
   */
  readonly #last = new Map<string, Map<string, AcceptedVerdict>>();
  readonly #reported = new Set<string>();
  readonly #checkpoint = new CoveredDigests();
  #vouched = 0;
  /** Signature verdicts on stored objects the gate refused (accepted ones are in `#last`), so junk read again is not checked again. */
  readonly #refused = new WeakMap<object, { map: string; key: string; opened: OpenedEntry }>();
  #readingCheckpoint = false;
  readonly #generation: { current(): number | undefined } | undefined;
  /** Roles of authors as of {@link #rolesAt} (a generation of the trust map): most entries of a registry are by a few hundred keys. */
  readonly #roles = new Map<string, Role | undefined>();
  #rolesAt: number | undefined;
  #coveredAt: number | undefined;
  #covered: ReadonlySet<string> = new Set();

  constructor(options: EntryGateOptions) {
    this.trust = options.trust;
    this.#signer = options.signer;
    this.#self = keyHex(options.signer);
    this.#lookup = options.lookup;
    this.#stored = options.stored;
    this.#log = options.logger;
    this.#now = options.now ?? (() => Date.now());
    this.#generation = options.trustGeneration;
  }

  /** This peer's public key (hex). */
  get self(): string {
    return this.#self;
  }

  /**
   * `value` signed for `map`/`key`; throws ERR_WRITE_FORBIDDEN when this peer's role does
   * not allow the write (every other peer would skip it), ERR_ENTRY_TOO_LARGE when it is
   * too large.
   */
  seal(map: string, key: string, value: object): Uint8Array {
    let sealed: Uint8Array;
    try {
      sealed = sealEntry(map, key, value, this.#signer);
    } catch (error) {
      if (error instanceof RangeError) throw new EntryTooLargeError(error.message, { map, key, max: MAX_ENTRY_BYTES });
      throw error;
    }
    const previous = this.#lastIn(map).get(key)?.entry;
    const refused = refuseWrite({
      map, key, value: value as Record<string, unknown>, author: this.#self, role: this.#roleFor(map, key, this.#self),
      previous: previous && !previous.tombstone ? previous : undefined, trust: this.trust, lookup: this.#lookup, now: this.#now(),
    });
    if (refused) throw refused;
    // What this peer wrote is valid here at once: it is the value to restore if a member overwrites it.
    const plain = value as Record<string, unknown>;
    this.#lastIn(map).set(key, { ok: true, entry: { raw: sealed, value: plain, author: this.#self, tombstone: plain.deleted === true, seenAt: this.#now() } });
    return sealed;
  }

  /** Open the raw entry stored at `map`/`key` (undefined: absent). */
  open(map: string, key: string, raw: unknown): GateVerdict {
    const last = this.#lastIn(map);
    const accepted = last.get(key);
    const generation = this.#generation?.current();
    const current = accepted !== undefined && generation !== undefined && accepted.at === generation;
    if (accepted && accepted.entry.raw === raw) {
      if (current) return accepted;
      if (this.stillValid(map, key, accepted.entry)) {
        accepted.at = generation;
        return accepted;
      }
      // Its author no longer stands as it did when the entry was accepted (revoked,
      // demoted, a grant expired): the entry stops counting, and nothing of that author's
      // is read in its place.
      last.delete(key);
      return this.#refuse(map, key, { code: 'ERR_WRITE_FORBIDDEN', message: `its author ${accepted.entry.author.slice(0, 16)}… may no longer write it` }, undefined, false, undefined, undefined);
    }
    // The last valid value is read instead of a refused one only while its author still stands.
    const previous = accepted && (current || this.stillValid(map, key, accepted.entry)) ? accepted.entry : undefined;
    if (raw === undefined) return { ok: false, error: { code: 'ERR_ENTRY_DELETED', message: 'deleted without a signed tombstone' }, fallback: previous, definite: true };
    const known = typeof raw === 'object' && raw !== null ? this.#refused.get(raw) : undefined;
    const opened = known && known.map === map && known.key === key ? known.opened : this.#openSigned(map, key, raw);
    if (!opened.ok) return this.#refuse(map, key, { code: opened.code, message: opened.error }, previous, true, raw, opened);
    const role = this.#roleFor(map, key, opened.author);
    const refused = refuseWrite({
      map, key, value: opened.value, author: opened.author, role,
      previous: previous && !previous.tombstone ? previous : undefined, trust: this.trust, lookup: this.#lookup, now: this.#now(), reader: this.#self,
    });
    if (refused) return this.#refuse(map, key, refused, previous, role !== undefined || (map === 'trust' && !key.startsWith('name/')) || isCheckpointKey(map, key), raw, opened);
    const verdict: AcceptedVerdict = { ok: true, entry: { raw, value: opened.value, author: opened.author, tombstone: opened.tombstone, seenAt: this.#now() }, at: generation };
    last.set(key, verdict);
    return verdict;
  }

  /**
   * Whether a remembered entry would still be accepted now (its author's role and name may
   * have changed since): restoring one that would be refused only starts a quarrel.
   */
  stillValid(map: string, key: string, entry: ValidEntry): boolean {
    return refuseWrite({ map, key, value: entry.value, author: entry.author, role: this.#roleFor(map, key, entry.author), trust: this.trust, lookup: this.#lookup, now: this.#now() }) === undefined;
  }

  /** The last valid entry at `map`/`key`, if any. */
  lastValid(map: string, key: string): ValidEntry | undefined {
    return this.#last.get(map)?.get(key)?.entry;
  }

  /** Forget what was remembered of an entry (it was deleted by a valid tombstone's author). */
  forget(map: string, key: string): void {
    this.#last.get(map)?.delete(key);
  }

  /** Entries opened so far on the word of a checkpoint instead of their signatures (for tests and logs). */
  get vouched(): number {
    return this.#vouched;
  }

  #lastIn(map: string): Map<string, AcceptedVerdict> {
    let last = this.#last.get(map);
    if (!last) this.#last.set(map, (last = new Map()));
    return last;
  }

  #openSigned(map: string, key: string, raw: unknown): OpenedEntry {
    if (isCheckpointKey(map, key) || this.#readingCheckpoint) return openEntry(map, key, raw);
    const opened = openEntryUncached(map, key, raw, this.#coveredDigests());
    if (opened.ok && opened.vouched) {
      this.#vouched++;
      // Grants, redemptions and revocations carry their own signatures (checked by the policy).
      if (isSelfProving(map, key)) vouchStatements(opened.value, this.trust);
    }
    return opened;
  }

  /** The digests the owners' checkpoint pages list, read again only when the trust map may have changed. */
  #coveredDigests(): ReadonlySet<string> {
    const generation = this.#generation?.current();
    if (generation !== undefined && generation === this.#coveredAt) return this.#covered;
    // Opening the pages reads the trust map, which must not consult them in turn.
    this.#readingCheckpoint = true;
    try {
      this.#covered = this.#checkpoint.read(this.#lookup, this.#stored);
    } finally {
      this.#readingCheckpoint = false;
    }
    this.#coveredAt = generation;
    return this.#covered;
  }

  /** Grants, redemptions and revocations prove themselves: asking their author's role would recurse. */
  #roleFor(map: string, key: string, author: string): Role | undefined {
    // Checkpoints are a root key's alone (`checkpoint.ts`): no role to look up.
    if (map === 'trust' && !key.startsWith('name/')) return undefined;
    const generation = this.#generation?.current();
    if (generation === undefined) return this.trust.roleOf(author, this.#lookup);
    if (generation !== this.#rolesAt) {
      this.#roles.clear();
      this.#rolesAt = generation;
    } else if (this.#roles.has(author)) {
      return this.#roles.get(author);
    }
    const standing = this.trust.standing(author, this.#lookup);
    // A standing that time alone can change (a grant that expires) is asked again every time.
    const timeless = standing.role === undefined ? !(standing.error instanceof ExpiredGrantError) : (standing.grant?.expires ?? 0) === 0;
    // Reading the grant may have opened a trust entry that moved the generation (it cannot, but a cache must not guess).
    if (timeless && this.#generation?.current() === generation) this.#roles.set(author, standing.role);
    return standing.role;
  }

  #refuse(map: string, key: string, error: MeshError | { code: string; message: string }, fallback: ValidEntry | undefined, definite: boolean, raw: unknown, opened: OpenedEntry | undefined): GateVerdict {
    if (opened && typeof raw === 'object' && raw !== null) this.#refused.set(raw, { map, key, opened });
    const line = `${map}\u0000${key}: ${error.code}`;
    if (!this.#reported.has(line)) {
      if (this.#reported.size > 10_000) this.#reported.clear();
      this.#reported.add(line);
      this.#log.warn(`skipping ${map} entry ${key}: ${error.message} (${error.code})`);
    }
    return { ok: false, error, fallback, definite };
  }
}
