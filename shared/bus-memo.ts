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
 * object the memo handed out. Bounded: the most recent {@link BusMemo} entries only.
 * @module
 */

interface Opened {
  sealed: Uint8Array;
  plain: Promise<Uint8Array | null>;
}

/** Decryptions and signature checks of bus messages, shared by the peers of one process. */
export class BusMemo {
  readonly #opened = new WeakMap<object, Map<string, Opened>>();
  readonly #verified = new WeakMap<Uint8Array, boolean>();
  readonly #max: number;
  #hits = 0;
  #misses = 0;

  /** @param max sealed messages remembered per mesh key (the most recent). */
  constructor(max = 256) {
    this.#max = max;
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
    if (hit && sameBytes(hit.sealed, sealed)) {
      this.#hits++;
      return hit.plain;
    }
    this.#misses++;
    // A copy: the client may reuse the buffer it read the message into.
    const copy = sealed.slice();
    const plain = decrypt(copy);
    byKey.delete(id);
    byKey.set(id, { sealed: copy, plain });
    if (byKey.size > this.#max) byKey.delete(byKey.keys().next().value!);
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
