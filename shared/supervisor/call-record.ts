/**
 * What the request history keeps of a call: its arguments in JSON's terms and its files
 * as references (name, size, sha256), never the bytes.
 * @module
 */
import { sha256Hex } from '../bytes.ts';
import type { FileRef } from './history.ts';

/** An argument as the history records it: JSON has no bigint. */
export function historyValue(value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** References to `files`, with the media types known for them. */
export async function fileRefs(files: Record<string, Uint8Array>, types: Record<string, string>): Promise<FileRef[]> {
  const out: FileRef[] = [];
  for (const [name, bytes] of Object.entries(files)) {
    const ref: FileRef = { name, size: bytes.byteLength, sha256: await sha256Hex(bytes) };
    if (types[name]) ref.mediaType = types[name];
    out.push(ref);
  }
  return out;
}
