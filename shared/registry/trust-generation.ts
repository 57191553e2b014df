/**
 * A number that changes whenever the registry's `trust` map may have changed, for the
 * gate's caches (an author's role, the digests a checkpoint covers): while it stays the
 * same, nothing either depends on can have changed.
 *
 * Yjs calls observers only after a transaction, and a transaction started by one observer
 * runs its body while the previous transaction's observers are still being called; so an
 * `observe` counter would lag behind the map inside both windows. Instead the generation
 * moves as the first thing once a transaction that touched the map is done
 * (`beforeObserverCalls`), and {@link TrustGeneration.current} answers undefined (do not
 * cache) while any transaction that touched the map is still open or has not yet reached
 * that point: a revocation takes effect for the very next read, even inside the
 * transaction that wrote it.
 * @module
 */
import type * as Y from 'yjs';

/** The generation of one document's `trust` map. */
export class TrustGeneration {
  readonly #doc: Y.Doc;
  readonly #map: Y.Map<unknown>;
  readonly #counted = new WeakSet<Y.Transaction>();
  #generation = 0;

  constructor(doc: Y.Doc, map: Y.Map<unknown>) {
    this.#doc = doc;
    this.#map = map;
    doc.on('beforeObserverCalls', (txn: Y.Transaction) => {
      if (!this.#touched(txn)) return;
      this.#generation++;
      this.#counted.add(txn);
    });
  }

  /** The current generation, or undefined while the map is changing (a transaction touched it and is not yet counted). */
  current(): number | undefined {
    const open = this.#doc._transaction;
    if (open !== null && this.#touched(open) && !this.#counted.has(open)) return undefined;
    for (const txn of this.#doc._transactionCleanups) if (!this.#counted.has(txn) && this.#touched(txn)) return undefined;
    return this.#generation;
  }

  #touched(txn: Y.Transaction): boolean {
    // `changed` is keyed by every kind of shared type; only identity matters here.
    return (txn.changed as Map<unknown, unknown>).has(this.#map);
  }
}
