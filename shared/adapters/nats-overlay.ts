/**
 * The bounded overlay of the NATS transport: which announced peers a peer with a bound on
 * its links dials, which it keeps away from for a while (they refused), and whether a
 * peer at its bound answers an announcement at all. Pure bookkeeping, no I/O, so the
 * choices are testable with a seeded random source (ADR 0023, "A bounded overlay").
 * @module
 */
import type { PeerId } from '../ports/transport.ts';

/** An announced session of a peer that this peer may dial. */
export interface NatsCandidate {
  id: PeerId;
  session: string;
  /** When the session began, by its own wall clock. */
  started: number;
  /** Its ECDH public key (raw P-256). */
  pk: Uint8Array;
  /** When we last heard its announcement (ms, our clock). */
  heardAt: number;
  /** When we first heard this session. */
  firstHeard: number;
  /** It had no link when it last announced. */
  lonely: boolean;
}

/** Candidates kept at most; beyond this the least recently heard goes (memory stays bounded on a huge mesh). */
const MAX_CANDIDATES = 4096;

/** Announced peers a bounded transport may dial, and the ones that refused it lately. */
export class NatsCandidates {
  readonly #bySession = new Map<string, NatsCandidate>();
  readonly #refusedUntil = new Map<PeerId, number>();
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** How many candidates are known. */
  get size(): number {
    return this.#bySession.size;
  }

  /** The candidate of a session, if known. */
  get(session: string): NatsCandidate | undefined {
    return this.#bySession.get(session);
  }

  /** Record (or refresh) an announced session. */
  heard(candidate: NatsCandidate): void {
    // Re-inserted so that the map's order is least recently heard first.
    this.#bySession.delete(candidate.session);
    this.#bySession.set(candidate.session, candidate);
    if (this.#bySession.size > MAX_CANDIDATES) this.#bySession.delete(this.#bySession.keys().next().value!);
  }

  /** Forget a session (it said goodbye, or dialing it went unanswered). */
  forget(session: string): void {
    this.#bySession.delete(session);
  }

  /** `peer` refused a link (at its bound): do not dial it again before `until`. */
  refused(peer: PeerId, until: number): void {
    this.#refusedUntil.set(peer, until);
  }

  /** True while `peer` is kept away from after a refusal. */
  isRefused(peer: PeerId, now: number): boolean {
    const until = this.#refusedUntil.get(peer);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#refusedUntil.delete(peer);
    return false;
  }

  /**
   * A candidate to dial, chosen at random among those not excluded (already linked or
   * being dialled) and not kept away from: random, so that a crowd of peers joining at
   * once spreads its dials instead of all dialling the first peer they heard.
   */
  pick(now: number, exclude: (candidate: NatsCandidate) => boolean): NatsCandidate | undefined {
    const open: NatsCandidate[] = [];
    for (const c of this.#bySession.values()) if (!exclude(c) && !this.isRefused(c.id, now)) open.push(c);
    return open.length === 0 ? undefined : open[Math.floor(this.#random() * open.length)];
  }

  /** Forget candidates not heard since `before` (they announce at least that often while alive). */
  expire(before: number): void {
    for (const [session, c] of this.#bySession) {
      if (c.heardAt >= before) break;
      this.#bySession.delete(session);
    }
  }

  /**
   * Whether this peer, at its bound, should make room for an unknown peer it heard
   * announcing: every member of the mesh hears the announcement, and about `responders`
   * of them should answer, not all (each answer costs a link elsewhere).
   */
  lottery(responders: number): boolean {
    return this.#random() < responders / Math.max(1, this.#bySession.size);
  }
}
