/**
 * The real clock: `performance.now()` and the platform's timers (web-standard in
 * browsers, workers and Node alike).
 * @module
 */
import type { Clock, TimerHandle } from './ports/clock.ts';

/** Wall-clock implementation of {@link Clock}. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return setTimeout(fn, ms) as unknown as TimerHandle;
  }
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as unknown as number);
  }
}
