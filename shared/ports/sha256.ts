/**
 * The Sha256Stream port: a SHA-256 fed piece by piece. WebCrypto digests whole buffers
 * only, so a peer that has a native incremental hash (Node: `node:crypto`) passes it in,
 * and a blob fetch hashes each range as it arrives instead of the whole at the end
 * (ADR 0031). Without one, the whole is digested with WebCrypto as before.
 * @module
 */

/** One SHA-256 computation. */
export interface Sha256Stream {
  /** Feed the next bytes (read now, not kept). */
  update(bytes: Uint8Array): void;
  /** The digest of everything fed, as 64 lowercase hex digits; the stream is spent. */
  digestHex(): string;
}

/** Makes a fresh {@link Sha256Stream}. */
export type Sha256Factory = () => Sha256Stream;
