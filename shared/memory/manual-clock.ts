/**
 * A {@link Clock} that moves only when told to: the simulator and timing-free unit tests
 * advance it explicitly, so the same seed replays the same schedule.
 * @module
 */
import type { Clock, TimerHandle } from '../ports/clock.ts';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Manually advanced clock. */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  // Kept sorted by (at, id): timers due at the same moment fire in creation order.
  #timers: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), fn };
    let i = this.#timers.length;
    while (i > 0 && this.#timers[i - 1]!.at > timer.at) i--;
    this.#timers.splice(i, 0, timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    const i = this.#timers.findIndex((t) => t.id === handle);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Number of timers waiting. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Move time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#timers[0];
      if (!next || next.at > end) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }
}
