/**
 * Node's zlib for the Deflate port (shared/ports/deflate.ts): deflate and inflate on the
 * calling thread, with no trip through the thread pool.
 * @module
 */
import { constants } from 'node:buffer';
import { deflateSync, inflateSync } from 'node:zlib';
import type { Deflate } from '../shared/ports/deflate.ts';

export const nodeDeflate: Deflate = {
  deflate: (bytes) => new Uint8Array(deflateSync(bytes)),
  // zlib stops at maxOutputLength (a RangeError): nothing past the bound is produced.
  inflate: (bytes, maxBytes) => new Uint8Array(inflateSync(bytes, { maxOutputLength: Math.max(1, Math.min(maxBytes, constants.MAX_LENGTH)) })),
};
