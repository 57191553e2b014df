/**
 * Which linked peers an anti-entropy round asks. A round asks a few of them, in turn, not
 * all: in a full mesh of twenty each peer asking all nineteen links every round made the
 * state-vector exchange a large part of what an idle peer did, and it repairs nothing the
 * floods did not already deliver unless something was lost. Asking in turn still reaches
 * every link within a bounded number of rounds, and what one peer repairs it floods on, so
 * a lost update spreads back to everyone as it does from a direct answer (ADR 0032, fourth
 * amendment).
 * @module
 */
import type { PeerId } from '../ports/transport.ts';

/** Linked peers asked per round: a peer with no more links than this asks them all every round. */
export const ANTI_ENTROPY_PEERS = 6;

/** Rotates the anti-entropy round over a peer's links. */
export class AntiEntropyRounds {
  readonly #perRound: number;
  /** The link after which the next round starts (links come and go, so a peer id, not an index). */
  #last: PeerId | undefined;

  constructor(perRound = ANTI_ENTROPY_PEERS) {
    this.#perRound = Math.max(1, perRound);
  }

  /**
   * The peers to ask this round, of `links`: all of them when they are few, else the next
   * `perRound` in id order after the last one asked, wrapping around.
   */
  next(links: readonly PeerId[]): PeerId[] {
    if (links.length <= this.#perRound) return [...links];
    const sorted = [...links].sort();
    const last = this.#last;
    let start = last === undefined ? 0 : sorted.findIndex((p) => p > last);
    if (start < 0) start = 0;
    const out: PeerId[] = [];
    for (let i = 0; i < this.#perRound; i++) out.push(sorted[(start + i) % sorted.length]!);
    this.#last = out[out.length - 1];
    return out;
  }
}
