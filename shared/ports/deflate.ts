/**
 * The Deflate port: zlib-format deflate and inflate on the calling thread. The web's
 * `CompressionStream` runs in every engine, but in Node it is a web stream over zlib on
 * the thread pool: each use is a trip through that pool and several turns of the event
 * loop, which a loaded machine is slow to give back (tens of milliseconds at the head of
 * a migration for a part that deflates in one). A peer with a native synchronous zlib
 * (Node: `node:zlib`) passes it in; without one, the streams are used as before. The
 * bytes are the same either way (RFC 1950), so either end may use either.
 * @module
 */

/** Synchronous zlib deflate and bounded inflate. */
export interface Deflate {
  /** `bytes` deflated in the zlib format (what `CompressionStream('deflate')` makes). */
  deflate(bytes: Uint8Array): Uint8Array;
  /**
   * A zlib stream inflated. Throws — whatever the error — when it is corrupt or its output
   * would pass `maxBytes`; never produces more than that.
   */
  inflate(bytes: Uint8Array, maxBytes: number): Uint8Array;
}
