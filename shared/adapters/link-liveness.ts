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
 * Two more things keep an idle mesh cheap and failover short (`LinkKeeper`):
 *
 * - **Keepalives only when idle, and only as often as the floor needs.** A link that
 *   carried nothing for a while gets a 1-byte ping; the remote sees a frame at least every
 *   `keepaliveMs` (a third of the floor by default), so three of its gaps are the floor. At
 *   rest this is all a link carries, and each frame costs a native send and a wake-up on
 *   both sides: a mesh of twenty peers sent four a second per link before.
 * - **A probe when a link turns suspect.** A link is suspect when a departure hint arrives,
 *   or when it stays silent past one and a half keepalive periods. A suspect link is sent
 *   a probe, which a living remote answers at once from its message handler (not on its
 *   next keepalive, which may be most of a period away). After a hint, a probe unanswered
 *   for `probeMs` closes the link. After silence alone the probe only asks; the link is
 *   still closed on its usual timeout, never before the floor, because a remote whose main
 *   thread stalls is alive and answers late.
 *
 * The hint is a **will**: a killed process's sockets are closed by its kernel at once, so
 * the signaling server sees its socket close and publishes the will that the peer left
 * there (see webrtc-transport.ts). A hint is not proof — the peer may only have lost the
 * signaling server — which is why it only leads to a probe: a living peer answers it and
 * keeps its link; a dead one is dropped about half a second after its death instead of
 * after the floor.
 * @module
 */

/** How a transport judges the silence of its links. */
export interface LivenessOptions {
  /** The longest gap between frames of a link at rest (the remote's keepalive period). */
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

/** The silence of one link. */
export class LinkSilence {
  readonly #o: LivenessOptions;
  #last: number;
  #gap: number;

  constructor(now: number, options: LivenessOptions) {
    this.#o = options;
    this.#last = now;
    this.#gap = options.heartbeatMs;
  }

  /** A frame arrived at `now`. */
  heard(now: number): void {
    const gap = now - this.#last;
    this.#last = now;
    // Up at once (a slow patch is believed immediately), down slowly and by elapsed time,
    // not by frame count (a quick burst of data must not make the next slow keepalive look
    // like a death).
    this.#gap = gap > this.#gap ? gap : gap + (this.#gap - gap) * Math.exp(-gap / MEMORY_MS);
  }

  /** This process was stalled for `ms`: that time does not count as the link's silence. */
  forgive(ms: number): void {
    this.#last += ms;
  }

  /** How long this link may stay silent before it is declared dead, ms. */
  get timeoutMs(): number {
    return Math.min(this.#o.ceilingMs, Math.max(this.#o.floorMs, GAP_FACTOR * this.#gap));
  }

  /** True when the link has been silent for longer than its timeout at `now`. */
  expired(now: number): boolean {
    return now - this.#last > this.timeoutMs;
  }

  /** How long the link has been silent at `now`, ms. */
  silentFor(now: number): number {
    return now - this.#last;
  }
}

/** How a transport keeps its links alive and probes the suspect ones. */
export interface KeepaliveOptions extends LivenessOptions {
  /**
   * The remote hears a frame from us at least this often when the link is otherwise idle
   * (we send a ping when nothing left for `heartbeatMs - checkMs`); also our expectation of
   * the remote.
   */
  heartbeatMs: number;
  /** The period at which the transport calls {@link LinkKeeper.due}. */
  checkMs: number;
  /** After a departure hint, a probe unanswered for this long closes the link. */
  probeMs: number;
}

/** What a link needs at a check: nothing, a keepalive, a probe, or to be closed. */
export type LinkAction = 'ping' | 'probe' | 'close' | null;

/** Silence past this many keepalive periods makes a link suspect: it is probed once. */
const PROBE_AFTER_PERIODS = 1.5;

/**
 * The liveness of one link at both ends of the wire: when to send a keepalive, when to
 * probe, when to give up (see the module header). Pure: the transport tells it what was
 * sent and heard and when, and asks {@link due} at each check.
 */
export class LinkKeeper {
  readonly #o: KeepaliveOptions;
  readonly #silence: LinkSilence;
  #lastSent: number;
  /** When the probe of the current silence left, if one did. */
  #probedAt: number | undefined;
  /** A departure hint stands: the probe must be answered within `probeMs`. */
  #hinted = false;

  constructor(now: number, options: KeepaliveOptions) {
    this.#o = options;
    this.#silence = new LinkSilence(now, options);
    this.#lastSent = now;
  }

  /** A frame (of any kind) left at `now`. */
  sent(now: number): void {
    this.#lastSent = now;
  }

  /** A frame (of any kind) arrived at `now`: the remote is alive, any suspicion ends. */
  heard(now: number): void {
    this.#silence.heard(now);
    this.#probedAt = undefined;
    this.#hinted = false;
  }

  /** This process was stalled for `ms`: that time is neither the link's silence nor the probe's wait. */
  forgive(ms: number): void {
    this.#silence.forgive(ms);
    if (this.#probedAt !== undefined) this.#probedAt += ms;
  }

  /**
   * A hint arrived that the remote is gone (its signaling socket closed). Returns true
   * when a probe must leave now (the caller sends it and calls {@link probed}).
   */
  hint(now: number): boolean {
    this.#hinted = true;
    if (this.#probedAt !== undefined && now - this.#probedAt <= this.#o.probeMs) return false;
    return true;
  }

  /** The probe left at `now`. */
  probed(now: number): void {
    this.#probedAt = now;
    this.#lastSent = now;
  }

  /** True while a departure hint stands unanswered by any frame. */
  get suspected(): boolean {
    return this.#hinted;
  }

  /** How long the link may stay silent before it is closed (without a hint), ms. */
  get timeoutMs(): number {
    return this.#silence.timeoutMs;
  }

  /**
   * When the link must be looked at again at the latest (a probe's answer is due), or
   * undefined when the periodic check is soon enough.
   */
  get deadline(): number | undefined {
    return this.#hinted && this.#probedAt !== undefined ? this.#probedAt + this.#o.probeMs + 1 : undefined;
  }

  /** What the link needs at `now`; `probe` and `ping` are recorded as sent. */
  due(now: number): LinkAction {
    if (this.#silence.expired(now)) return 'close';
    if (this.#hinted && this.#probedAt !== undefined && now - this.#probedAt > this.#o.probeMs) return 'close';
    if (this.#probedAt === undefined && this.#silence.silentFor(now) > PROBE_AFTER_PERIODS * this.#o.heartbeatMs) {
      this.probed(now);
      return 'probe';
    }
    if (now - this.#lastSent >= this.#o.heartbeatMs - this.#o.checkMs) {
      this.#lastSent = now;
      return 'ping';
    }
    return null;
  }
}

/**
 * Measures how late a periodic check fires: the part of the lateness beyond half a period
 * is a stall of this process, to be forgiven to every link (see the module header).
 */
export class StallMeter {
  readonly #periodMs: number;
  #due: number;

  constructor(now: number, periodMs: number) {
    this.#periodMs = periodMs;
    this.#due = now + periodMs;
  }

  /** The next check comes at `at` instead of a period after this one (an earlier deadline). */
  expect(at: number): void {
    this.#due = at;
  }

  /** Call at each check; returns how long this process was stalled since the previous one, ms (0 if not). */
  check(now: number): number {
    const late = now - this.#due;
    this.#due = now + this.#periodMs;
    return late > this.#periodMs / 2 ? late : 0;
  }
}
