/**
 * Registry synchronisation as pure functions over a Y.Doc: the two-step state-vector
 * exchange of y-protocols' sync protocol, plus safe application of remote updates.
 * The transport-facing part (who gets what, relaying, anti-entropy) is in `peer.ts`.
 * @module
 */
import * as Y from 'yjs';

/** Sync step 1: our state vector, telling a peer what we have. */
export function stateVector(doc: Y.Doc): Uint8Array {
  return Y.encodeStateVector(doc);
}

/** Sync step 2: everything in `doc` that a peer with `remoteStateVector` lacks. */
export function missingUpdate(doc: Y.Doc, remoteStateVector: Uint8Array): Uint8Array {
  return Y.encodeStateAsUpdate(doc, remoteStateVector);
}

/**
 * Apply an update received from `origin`. Returns an error message instead of throwing
 * when the bytes are not a valid Yjs update (the peer keeps running, the update is dropped).
 */
export function applyRemoteUpdate(doc: Y.Doc, update: Uint8Array, origin: unknown): string | null {
  try {
    Y.applyUpdate(doc, update, origin);
    return null;
  } catch (error) {
    return `invalid registry update: ${(error as Error).message}`;
  }
}

/**
 * True when an update carries nothing `doc` lacks — used to skip sending empty sync
 * step 2 answers (an empty Yjs update is 2 bytes: no structs, no deletes).
 */
export function isEmptyUpdate(update: Uint8Array): boolean {
  return update.byteLength <= 2;
}
