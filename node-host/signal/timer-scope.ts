/**
 * Keeps hold of the timers a third-party library starts when it gives no way to stop them.
 *
 * `peer` 1.0.2 starts two self-rescheduling `setTimeout` loops (expiring queued messages
 * and dropping silent clients) when its Express app is mounted, and never exposes them.
 * Left alone they keep the process alive and the PeerServer's state reachable after the
 * signaling server has closed. {@link trackTimers} runs the mounting code with a
 * recording `setTimeout`, and runs each recorded timer's callback the same way, so the
 * loops' later reschedules are recorded too; disposing the scope clears whatever is
 * still pending.
 *
 * The substitution only lasts for the synchronous run of the tracked code, so no other
 * code can observe it (JavaScript cannot interleave another task there). Only
 * `setTimeout` is recorded: `peer` 1.0.2 uses nothing else.
 * @module
 */

/** Timers started by tracked code, cleared together. */
export interface TimerScope {
  /** Clear every pending tracked timer and stop tracking; idempotent. */
  dispose(): void;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * Run `fn` and record every `setTimeout` it (or a recorded timer's callback) starts.
 * Tracking follows the chain of callbacks, not the call stack of other code: a timer
 * started by an unrelated event handler is not recorded.
 */
export function trackTimers(fn: () => void): TimerScope {
  // Weak references: a recorded timer that someone else cleared (ws starts and later
  // clears a close timer when the PeerServer closes a socket inside its loop) cannot be
  // told apart from a pending one (`hasRef()` stays true), but once nothing else holds it
  // it is collected and drops out here. Node's timer lists hold every pending timer.
  const timers = new Set<WeakRef<Timer>>();
  let disposed = false;

  const tracked = (body: () => void): void => {
    const original = globalThis.setTimeout;
    const recording = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): Timer => {
      for (const ref of timers) if (ref.deref() === undefined) timers.delete(ref);
      const timer = original(() => {
        timers.delete(ref);
        if (!disposed) tracked(() => callback(...args));
      }, ms);
      const ref = new WeakRef(timer);
      timers.add(ref);
      return timer;
    }) as typeof setTimeout;
    globalThis.setTimeout = recording;
    try {
      body();
    } finally {
      globalThis.setTimeout = original;
    }
  };

  tracked(fn);
  return {
    dispose: () => {
      disposed = true;
      for (const ref of timers) {
        const timer = ref.deref();
        if (timer) clearTimeout(timer);
      }
      timers.clear();
    },
  };
}
