/**
 * Modules that moved away from this peer (live migration): for a while after the move,
 * a call that reaches the old peer with stale routing is passed on to the new one instead
 * of failing.
 * @module
 */
import type { ModuleKey } from './module-key.ts';

/** How long calls to a module that moved away are still forwarded to its new peer, ms. */
export const FORWARD_MS = 60_000;

/** Where moved modules went, each until its forwarding window ends. */
export class MovedModules {
  readonly #moved = new Map<ModuleKey, { to: string; until: number }>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** `key` now runs on `peer`: forward its calls there for {@link FORWARD_MS}. */
  moved(key: ModuleKey, peer: string): void {
    this.#moved.set(key, { to: peer, until: this.#now() + FORWARD_MS });
  }

  /** The peer to forward a call for `key` to, while its window is open; a closed window is forgotten. */
  peerFor(key: ModuleKey): string | undefined {
    const moved = this.#moved.get(key);
    if (!moved) return undefined;
    if (moved.until > this.#now()) return moved.to;
    this.#moved.delete(key);
    return undefined;
  }

  /** The module serves here again (deployed anew): stop forwarding it. */
  forget(key: ModuleKey): void {
    this.#moved.delete(key);
  }

  /** Forget every move. */
  clear(): void {
    this.#moved.clear();
  }
}
