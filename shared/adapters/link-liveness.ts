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
 * server — so it only makes the link *suspect*: the link is sent a probe, and is dead when
 * nothing arrives within two of its usual gaps (never less than two heartbeats) after the
 * probe left; any frame heard clears the suspicion. A living peer answers the probe at its
 * next check of its links (on its clock, so a frozen process does not) and is never
 * dropped for a hint unless it also falls silent; a dead one is dropped about half a
 * second after its death instead of after the floor.
 *
 * A fourth keeps an idle mesh cheap: **slow keepalives at rest** ({@link LinkKeepalive}).
 * A link that carried nothing for a while gets a 1-byte ping, every `heartbeatMs` (250 ms)
 * while the link is young (its first seconds, when both ends are busiest joining) or was
 * just probed, and every `restMs` (2 s in the WebRTC transport) once it settled. A ping sent at rest says so (a
 * *rest ping*), and the other end then allows that much more silence: the margin left for
 * a stall of the remote's main thread is the floor less a fast heartbeat, whichever rhythm
 * the remote keeps. The gaps a remote leaves at rest are its choice, not a sign of its
 * load, so they do not enter the link's usual gap (which the suspect rule and the timeout
 * scale with). Once every link rests, the links are checked a quarter as often
 * ({@link LinkChecks}).
 * @module
 */

import { type Clock, type TimerHandle } from '../ports/clock.ts';

/** How a transport judges the silence of its links. */
export interface LivenessOptions {
  /** The period at which the remote sends keepalives when it has nothing else to send and is not at rest. */
  heartbeatMs: number;
  /** The period of its keepalives at rest (rest pings); at least `heartbeatMs`. */
  restMs: number;
  /** Never declare a link dead before this much silence (more at rest: see {@link LinkSilence.timeoutMs}). */
  floorMs: number;
  /** Always declare a link dead after this much silence. */
  ceilingMs: number;
}

/** Silence is judged against this many of the link's usual gaps between frames. */
const GAP_FACTOR = 3;
/** Time constant of the decay of the gap estimate, ms: a slow patch is remembered for about this long. */
const MEMORY_MS = 10_000;
/**
 * The longest gap between two frames of a link at rest, in rest periods: pings keep to slots
 * of shared time, so after a frame sent just under a quarter period into a slot the next
 * ping leaves at the start of the slot after the next (see {@link LinkKeepalive.due}).
 */
const REST_GAP = 1.25;
/** A suspect link is judged against this many of its usual gaps. */
const SUSPECT_GAP_FACTOR = 2;

/** The silence of one link, as the receiving end judges it. */
export class LinkSilence {
  readonly #o: LivenessOptions;
  #last: number;
  #gap: number;
  /** The remote said it is at rest (its last ping was a rest ping): its next frame may take `restMs`. */
  #rest = false;
  /** When the probe of a departure hint left; undefined while no hint stands. */
  #suspectSince: number | undefined;

  constructor(now: number, options: LivenessOptions) {
    this.#o = options;
    this.#last = now;
    this.#gap = options.heartbeatMs;
  }

  /**
   * A frame arrived at `now`. `rest`: it was a ping and says whether the remote is at rest
   * (undefined for any other frame, which leaves the remote's rhythm as it was).
   */
  heard(now: number, rest?: boolean): void {
    const gap = now - this.#last;
    this.#last = now;
    this.#suspectSince = undefined;
    // A gap the remote left because it was at rest (or to go to rest) says nothing of its load.
    const chosen = this.#rest || rest === true;
    if (rest !== undefined) this.#rest = rest;
    if (chosen) return;
    // Up at once (a slow patch is believed immediately), down slowly and by elapsed time,
    // not by frame count (a quick burst of data must not make the next slow keepalive look
    // like a death).
    this.#gap = gap > this.#gap ? gap : gap + (this.#gap - gap) * Math.exp(-gap / MEMORY_MS);
  }

  /** This process was stalled for `ms`: that time does not count as the link's silence. */
  forgive(ms: number): void {
    this.#last += ms;
    if (this.#suspectSince !== undefined) this.#suspectSince += ms;
  }

  /**
   * A hint arrived that the remote is gone (its signaling socket closed) and a probe left
   * at `now`: until a frame is heard again, the link is judged on a shorter timeout from
   * then (see the module header).
   */
  suspect(now: number): void {
    this.#suspectSince = now;
  }

  /** True while a departure hint stands unanswered by any frame. */
  get suspected(): boolean {
    return this.#suspectSince !== undefined;
  }

  /** True while the remote said it is at rest. */
  get atRest(): boolean {
    return this.#rest;
  }

  /** How long this link may stay silent (counted from its last frame) before it is declared dead, ms. */
  get timeoutMs(): number {
    // At rest the remote leaves `restMs` where it left `heartbeatMs`: the difference is added,
    // so the margin for a stall of the remote stays what the floor gives a quick link.
    const extra = this.#rest ? Math.max(0, REST_GAP * this.#o.restMs - this.#o.heartbeatMs) : 0;
    return Math.min(this.#o.ceilingMs, Math.max(this.#o.floorMs, GAP_FACTOR * this.#gap) + extra);
  }

  /** True when the link has been silent for longer than its timeout at `now`. */
  expired(now: number): boolean {
    if (now - this.#last > this.timeoutMs) return true;
    if (this.#suspectSince === undefined) return false;
    // A suspect link: silent since the probe (or since its last frame, if that came later).
    const since = Math.max(this.#last, this.#suspectSince);
    return now - since > Math.max(2 * this.#o.heartbeatMs, SUSPECT_GAP_FACTOR * this.#gap);
  }
}

/** What a link needs from its sending end at a check. */
export type KeepaliveAction = 'ping' | 'rest-ping' | null;

/** How a transport sends the keepalives of its links. */
export interface KeepaliveOptions {
  /** Keepalive period of a young or probed link. */
  heartbeatMs: number;
  /** Keepalive period at rest. */
  restMs: number;
  /** A link keeps quick keepalives this long after it joined or was probed. */
  settleMs: number;
  /**
   * Added to the clock's time to get a time every process shares (wall time), so that at rest
   * every link's pings leave in the same slots of `restMs` at every peer (default 0).
   */
  phase?: number;
}

/** A quick link idle for this share of the period gets a keepalive (checks come about a half period apart). */
const SEND_AFTER = 0.75;

/**
 * The sending end of one link's liveness: when a keepalive leaves, and whether it is a rest
 * ping. Pure: the transport reports what it sent and when, and asks {@link due} at each
 * check of its links, which run on its clock — so a probe is answered only by a process
 * whose timers run.
 */
export class LinkKeepalive {
  readonly #o: KeepaliveOptions;
  #lastSent: number;
  /** Quick keepalives until then. */
  #quickUntil: number;
  #answerDue = false;
  /** The slot of shared time of the last check at rest: only a slot's first check pings. */
  #checkedSlot = -Infinity;

  constructor(now: number, options: KeepaliveOptions) {
    this.#o = options;
    this.#lastSent = now;
    this.#quickUntil = now + options.settleMs;
  }

  /** The link joined at `now` (or anew): quick keepalives while both ends settle. */
  joined(now: number): void {
    this.#quickUntil = Math.max(this.#quickUntil, now + this.#o.settleMs);
  }

  /** A frame (of any kind) left at `now`. */
  sent(now: number): void {
    this.#lastSent = now;
  }

  /** The remote probed this link at `now` (our will reached it): answer at the next check, then keep quick keepalives a while. */
  probed(now: number): void {
    this.#answerDue = true;
    this.#quickUntil = Math.max(this.#quickUntil, now + this.#o.settleMs);
  }

  /** True while this end sends quick keepalives. */
  quick(now: number): boolean {
    return now < this.#quickUntil;
  }

  /** What the link needs at `now`: nothing, a (quick) ping, or a rest ping. */
  due(now: number): KeepaliveAction {
    const quick = this.quick(now);
    if (this.#answerDue) {
      this.#answerDue = false;
      return 'ping';
    }
    const idle = now - this.#lastSent;
    if (quick) return idle >= SEND_AFTER * this.#o.heartbeatMs ? 'ping' : null;
    // At the first check of each slot of `restMs` of shared time, unless something left on
    // the link in it: every link of every peer pings in the same instants, so that a peer
    // wakes for its links' pings once a period instead of once per link, and its remotes'
    // pings reach it together. A frame sent less than a quarter period before the slot began
    // counts as the slot's (the next ping then waits for the next slot: at most 1.25 periods).
    const rest = this.#o.restMs;
    const phase = this.#o.phase ?? 0;
    const slot = Math.floor((now + phase) / rest);
    const first = slot > this.#checkedSlot;
    this.#checkedSlot = slot;
    return first && slot > Math.floor((this.#lastSent + phase) / rest) && idle >= rest / 4 ? 'rest-ping' : null;
  }
}

/** How a transport schedules the checks of its links. */
export interface CheckOptions {
  /** The check period while any link needs quick attention: half a heartbeat. */
  quickMs: number;
  /** The check period while every link rests: a quarter of the rest period (a slot's first check then falls on its start). */
  restMs: number;
  /** Added to the clock's time to get the time every process shares (see {@link KeepaliveOptions.phase}). */
  phase: number;
}

/**
 * When a transport checks its links. While any link needs quick attention (opening, young,
 * probed, suspect, or its remote not at rest), every `quickMs`; once every link rests, every
 * `restMs`, and {@link quicken} goes back to the quick rhythm at once when that changes
 * between checks. A resting link can wait the longer period: its pings leave at the start of
 * slots of shared time that the longer checks also fall on, and its silence is judged on a
 * timeout of seconds, so a departure is noticed at most `restMs - quickMs` later — unless a
 * departure hint makes the link suspect first, which quickens the checks.
 *
 * Checks fall on multiples of their period in shared time (as `everyAligned`'s, shared/ports/clock.ts), so
 * that every peer on a machine checks in the same instants. Each check is told how long this
 * process was stalled: the lateness of the check beyond half a quick period (see the module
 * header), which every link is forgiven.
 */
export class LinkChecks {
  readonly #clock: Clock;
  readonly #o: CheckOptions;
  readonly #run: (stalledMs: number) => void;
  readonly #resting: () => boolean;
  #handle: TimerHandle | undefined;
  #due = 0;
  #period: number;
  #stopped = false;

  /**
   * @param run checks the links, given how long this process was stalled (ms, 0 if not)
   * @param resting after each check: true when every link may wait the rest period
   */
  constructor(clock: Clock, options: CheckOptions, run: (stalledMs: number) => void, resting: () => boolean) {
    this.#clock = clock;
    this.#o = options;
    this.#run = run;
    this.#resting = resting;
    this.#period = options.quickMs;
    this.#schedule(options.quickMs);
  }

  /** The current period between checks, ms. */
  get periodMs(): number {
    return this.#period;
  }

  /** A link needs quick attention now: unless they are quick already, the checks go back to `quickMs` from the next quick instant. */
  quicken(): void {
    if (this.#stopped || this.#period === this.#o.quickMs) return;
    if (this.#handle !== undefined) this.#clock.clearTimeout(this.#handle);
    this.#schedule(this.#o.quickMs);
  }

  /** No more checks. */
  stop(): void {
    this.#stopped = true;
    if (this.#handle !== undefined) this.#clock.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  #schedule(period: number): void {
    const now = this.#clock.now();
    let wait = period - ((((now + this.#o.phase) % period) + period) % period);
    // A timer that fires a little early must not check twice for one instant.
    if (wait < this.#o.quickMs / 4) wait += period;
    this.#period = period;
    this.#due = now + wait;
    this.#handle = this.#clock.setTimeout(() => this.#check(), wait);
  }

  #check(): void {
    this.#handle = undefined;
    if (this.#stopped) return;
    const late = this.#clock.now() - this.#due;
    try {
      this.#run(late > this.#o.quickMs / 2 ? late : 0);
    } finally {
      // A check that threw must not end the checks.
      if (!this.#stopped) this.#schedule(this.#resting() ? this.#o.restMs : this.#o.quickMs);
    }
  }
}
