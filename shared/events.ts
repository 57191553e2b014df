/**
 * A small typed event emitter. Used instead of EventTarget because listeners receive
 * typed payloads and `clear()` drops every listener at once (a stopped component
 * must not keep callers' closures alive).
 * @module
 */

/** Unsubscribe function returned by {@link Emitter.on}. */
export type Unsubscribe = () => void;

/** Map of event name to payload type. */
export type EventMap = object;

/** Typed emitter; a listener that throws is reported to `onListenerError` and never breaks the emitter. */
export class Emitter<E extends EventMap> {
  #listeners = new Map<keyof E, Set<(payload: never) => void>>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void = (e) => console.error(e)) {
    this.#onListenerError = onListenerError;
  }

  /** Subscribe; returns the function that unsubscribes. */
  on<K extends keyof E>(event: K, listener: (payload: E[K]) => void): Unsubscribe {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => this.off(event, listener);
  }

  /** Subscribe for the next event only. */
  once<K extends keyof E>(event: K, listener: (payload: E[K]) => void): Unsubscribe {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** Unsubscribe a listener. */
  off<K extends keyof E>(event: K, listener: (payload: E[K]) => void): void {
    this.#listeners.get(event)?.delete(listener as (payload: never) => void);
  }

  /** Deliver `payload` to every listener of `event`. */
  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (payload: E[K]) => void)(payload);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  /** Number of listeners of `event`, or of all events. */
  listenerCount(event?: keyof E): number {
    if (event !== undefined) return this.#listeners.get(event)?.size ?? 0;
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }

  /** Drop every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
