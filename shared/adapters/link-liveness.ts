/**
 * Deciding that a link is dead from its silence, quickly but not rashly. A killed process
 * or a tab that lost its network says no goodbye, so a transport can only notice that
 * nothing arrives. A fixed, long timeout makes failover slow; a fixed, short one declares
 * healthy peers dead whenever a loaded machine delays their keepalives. Two things make a
 * short timeout safe:
 *
 * - **Adaptive per link.** Each link learns how far apart its frames arrive (a maximum that
 *   jumps up at once and decays slowly) and is declared dead only after several such gaps
 *   of silence, never less than a floor and never more than a ceiling. A quick peer on an
 *   idle machine is judged on the floor; a throttled background tab, or a peer on a loaded
 *   machine whose keepalives come late, earns a longer timeout from its own history.
 * - **Our own stalls are not their silence.** When this process itself was stalled (a long
 *   task, a GC pause, a starved CPU) the timer that checks the links fires late, and the
 *   frames that arrived meanwhile still wait in the event loop behind it. The lateness of
 *   the check is forgiven to every link, so a stall here never reads as a death there.
 *
 * A third thing makes failover short without shortening the floor: a **departure hint**.
 * A killed process's sockets are closed by its kernel at once, so the signaling server
 * sees its socket close and publishes the will that the peer left there (see
 * webrtc-transport.ts). A hint is not proof — the peer may only have lost the signaling
 * server — so it only makes the link *suspect*: a suspect link is dead after two of its
 * usual gaps of silence (never less than two heartbeats), and any frame heard clears the
 * suspicion. A living peer keeps talking over the link and is never dropped for a hint
 * unless it also falls silent; a dead one is dropped about half a second after its death
 * instead of after the floor.
 * @module
 */

/** How a transport judges the silence of its links. */
export interface LivenessOptions {
  /** The period at which the remote sends keepalives when it has nothing else to send. */
  heartbeatMs: number;
  /** Never declare a link dead before this much silence. */
  floorMs: number;
  /** Always declare a link dead after this much silence. */
  ceilingMs: number;
}

/** Silence is judged against this many of the link's usual gaps between frames. */
const GAP_FACTOR = 3;
/** Time constant of the decay of the gap estimate, ms: a slow patch is remembered for about this long. */
const MEMORY_MS = 10_000;
/** A suspect link is judged against this many of its usual gaps. */
const SUSPECT_GAP_FACTOR = 2;

/** The silence of one link. */
export class LinkSilence {
  readonly #o: LivenessOptions;
  #last: number;
  #gap: number;
  #suspect = false;

  constructor(now: number, options: LivenessOptions) {
    this.#o = options;
    this.#last = now;
    this.#gap = options.heartbeatMs;
  }

  /** A frame arrived at `now`. */
  heard(now: number): void {
    const gap = now - this.#last;
    this.#last = now;
    this.#suspect = false;
    // Up at once (a slow patch is believed immediately), down slowly and by elapsed time,
    // not by frame count (a quick burst of data must not make the next slow keepalive look
    // like a death).
    this.#gap = gap > this.#gap ? gap : gap + (this.#gap - gap) * Math.exp(-gap / MEMORY_MS);
  }

  /** This process was stalled for `ms`: that time does not count as the link's silence. */
  forgive(ms: number): void {
    this.#last += ms;
  }

  /**
   * A hint arrived that the remote is gone (its signaling socket closed): until a frame
   * is heard again, the link is judged on a shorter timeout (see the module header).
   */
  suspect(): void {
    this.#suspect = true;
  }

  /** True while a departure hint stands unanswered by any frame. */
  get suspected(): boolean {
    return this.#suspect;
  }

  /** How long this link may stay silent before it is declared dead, ms. */
  get timeoutMs(): number {
    const usual = Math.min(this.#o.ceilingMs, Math.max(this.#o.floorMs, GAP_FACTOR * this.#gap));
    if (!this.#suspect) return usual;
    return Math.min(usual, Math.max(2 * this.#o.heartbeatMs, SUSPECT_GAP_FACTOR * this.#gap));
  }

  /** True when the link has been silent for longer than its timeout at `now`. */
  expired(now: number): boolean {
    return now - this.#last > this.timeoutMs;
  }
}

/**
 * Measures how late a periodic check fires: the part of the lateness beyond half a period
 * is a stall of this process, to be forgiven to every link (see the module header).
 */
export class StallMeter {
  readonly #periodMs: number;
  #last: number;

  constructor(now: number, periodMs: number) {
    this.#periodMs = periodMs;
    this.#last = now;
  }

  /** Call at each check; returns how long this process was stalled since the previous one, ms (0 if not). */
  check(now: number): number {
    const late = now - this.#last - this.#periodMs;
    this.#last = now;
    return late > this.#periodMs / 2 ? late : 0;
  }
}
