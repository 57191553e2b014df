/**
 * Reassembly of fragmented messages, per sending peer, with a bound on the bytes held
 * for incomplete messages so that a peer cannot exhaust our memory with fragments.
 * @module
 */
import { concatBytes } from '../bytes.ts';
import type { FragmentMessage } from './wire.ts';

/** What adding one fragment produced. */
export type FragmentOutcome =
  | { kind: 'complete'; data: Uint8Array }
  | { kind: 'partial'; received: number; total: number; bytes: number }
  | { kind: 'rejected'; reason: string };

interface Pending {
  n: number;
  parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
}

/** Collects fragments into whole messages. */
export class Reassembler {
  readonly #maxBytes: number;
  readonly #pending = new Map<string, Pending>();
  #held = 0;

  /** @param maxBytes most bytes held across all incomplete messages. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Add a fragment from `source`. Duplicates are ignored; a mismatched count is rejected. */
  add(source: string, fragment: FragmentMessage): FragmentOutcome {
    const key = `${source}\u0000${fragment.k}`;
    let entry = this.#pending.get(key);
    if (!entry) {
      entry = { n: fragment.n, parts: new Array(fragment.n), received: 0, bytes: 0 };
      this.#pending.set(key, entry);
    }
    if (entry.n !== fragment.n || fragment.i >= entry.n) {
      this.#forget(key);
      return { kind: 'rejected', reason: `fragment ${fragment.i}/${fragment.n} does not fit message ${fragment.k}` };
    }
    if (entry.parts[fragment.i] === undefined) {
      if (this.#held + fragment.d.byteLength > this.#maxBytes) {
        this.#forget(key);
        return { kind: 'rejected', reason: `incomplete messages exceed ${this.#maxBytes} bytes` };
      }
      // Transports deliver every message in a buffer of its own, so the view is kept as is.
      entry.parts[fragment.i] = fragment.d;
      entry.received++;
      entry.bytes += fragment.d.byteLength;
      this.#held += fragment.d.byteLength;
    }
    if (entry.received < entry.n) return { kind: 'partial', received: entry.received, total: entry.n, bytes: entry.bytes };
    this.#forget(key);
    return { kind: 'complete', data: concatBytes(entry.parts as Uint8Array[]) };
  }

  /** Drop every incomplete message from `source` (its link went down). */
  dropSource(source: string): void {
    for (const key of [...this.#pending.keys()]) if (key.startsWith(`${source}\u0000`)) this.#forget(key);
  }

  /** Bytes currently held. */
  get heldBytes(): number {
    return this.#held;
  }

  #forget(key: string): void {
    const entry = this.#pending.get(key);
    if (!entry) return;
    this.#held -= entry.bytes;
    this.#pending.delete(key);
  }
}
