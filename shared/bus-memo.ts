/**
 * Work on one mesh-bus message shared by the peers of one process. A real deployment runs
 * one peer per process and has no use for it; a bench or simulator running hundreds of
 * peers in one process does: NATS delivers every digest to each of its peers' connections,
 * and each peer would decrypt it and check its signature again, for the same bytes. With
 * a memo given to their transports (`NatsTransportOptions.busMemo`), the first peer's
 * decryption and signature check stand for the others'; each peer still receives the
 * message on its own connection and runs its own bus, registry and presence code on it.
 *
 * Exact, not probabilistic: a decryption is reused only for the very same sealed bytes
 * under the very same mesh keys, and a signature result only for the very same plaintext
 * object the memo handed out. Bounded: the most recent messages only (by count and bytes).
 * @module
 */
import { bytesEqual } from './bytes.ts';

interface Opened {
  sealed: Uint8Array;
  plain: Promise<Uint8Array | null>;
}

/** Decryptions and signature checks of bus messages, shared by the peers of one process. */
export class BusMemo {
  readonly #opened = new WeakMap<object, Map<string, Opened>>();
  readonly #verified = new WeakMap<Uint8Array, boolean>();
  readonly #max: number;
  readonly #maxBytes: number;
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  /**
   * @param max sealed messages remembered per mesh key (the most recent): enough to span
   *   the time between the first and the last of a process's peers reading a message
   * @param maxBytes and at most this many bytes of them
   */
  constructor(max = 4096, maxBytes = 64 * 1024 * 1024) {
    this.#max = max;
    this.#maxBytes = maxBytes;
  }

  /** Messages opened from the memo, and opened afresh (for a bench's log). */
  get stats(): { hits: number; misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  /**
   * The plaintext of `sealed` under `keys`: the same promise (and so the same bytes) for
   * every peer that received these bytes; `decrypt` runs once.
   */
  open(keys: object, sealed: Uint8Array, decrypt: (sealed: Uint8Array) => Promise<Uint8Array | null>): Promise<Uint8Array | null> {
    let byKey = this.#opened.get(keys);
    if (!byKey) this.#opened.set(keys, (byKey = new Map()));
    // The seal's random IV and the length single a message out; the bytes are compared in full.
    const id = `${ivHex(sealed)}:${sealed.byteLength}`;
    const hit = byKey.get(id);
    if (hit && bytesEqual(hit.sealed, sealed)) {
      this.#hits++;
      return hit.plain;
    }
    this.#misses++;
    // A copy: the client may reuse the buffer it read the message into.
    const copy = sealed.slice();
    const plain = decrypt(copy);
    const old = byKey.get(id);
    if (old) {
      byKey.delete(id);
      this.#bytes -= old.sealed.byteLength;
    }
    byKey.set(id, { sealed: copy, plain });
    this.#bytes += copy.byteLength;
    while (byKey.size > this.#max || (this.#bytes > this.#maxBytes && byKey.size > 1)) {
      const [oldest, entry] = byKey.entries().next().value!;
      byKey.delete(oldest);
      this.#bytes -= entry.sealed.byteLength;
    }
    return plain;
  }

  /** Whether the plaintext `plain` (handed out by {@link open}) passed `check`; `check` runs once per plaintext. */
  verified(plain: Uint8Array, check: () => boolean): boolean {
    const known = this.#verified.get(plain);
    if (known !== undefined) return known;
    const ok = check();
    this.#verified.set(plain, ok);
    return ok;
  }
}

function ivHex(sealed: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 12 && i < sealed.byteLength; i++) s += sealed[i]!.toString(16).padStart(2, '0');
  return s;
}
