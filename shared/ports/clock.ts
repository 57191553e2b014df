/**
 * The Clock port: time and timers. Everything in the core that waits (RPC time limits,
 * heartbeats, liveness, anti-entropy) goes through it, so the simulator can run an hour
 * of mesh time in milliseconds with `ManualClock` and replay it exactly.
 * @module
 */

/** Opaque timer handle. */
export type TimerHandle = { readonly __timer: unique symbol } | number | object;

/** Time and timers. */
export interface Clock {
  /** Milliseconds since an arbitrary epoch (monotonic for `SystemClock`). */
  now(): number;
  /** Call `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancel a timer; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** Run `fn` every `ms` milliseconds on `clock` until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let handle: TimerHandle | undefined;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    handle = clock.setTimeout(tick, ms);
    fn();
  };
  handle = clock.setTimeout(tick, ms);
  return () => {
    stopped = true;
    if (handle !== undefined) clock.clearTimeout(handle);
  };
}

/**
 * Run `fn` every `ms` milliseconds on `clock`, at the instants when the time shared by every
 * process (`clock.now() + phase`: wall time for the system clock) is a multiple of `ms`, so
 * that processes on one machine, or on machines whose clocks agree, tick together. Until the
 * returned function is called.
 */
export function everyAligned(clock: Clock, ms: number, phase: number, fn: () => void): () => void {
  let handle: TimerHandle | undefined;
  let stopped = false;
  const delay = (): number => {
    const wait = ms - ((((clock.now() + phase) % ms) + ms) % ms);
    // A timer that fires a little early must not tick twice for one instant.
    return wait < ms / 4 ? wait + ms : wait;
  };
  const tick = (): void => {
    if (stopped) return;
    handle = clock.setTimeout(tick, delay());
    fn();
  };
  handle = clock.setTimeout(tick, delay());
  return () => {
    stopped = true;
    if (handle !== undefined) clock.clearTimeout(handle);
  };
}

