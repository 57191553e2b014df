/**
 * The wire form of an {@link InstanceSnapshot}: one byte string that can be stored as a
 * content-addressed blob and fetched range by range (live migration ships it so).
 *
 * ```
 * "LMSN" | version u8 (1, 2 with copies, 3 for a part) | 3 zero bytes | header length u32 LE | header (UTF-8 JSON) | body
 * header: { moduleId, memoryPages, pages: [page indices, ascending], globals: { name: ["f", float64 bits hex] | ["i", decimal] },
 *           files: [[name, length], …], tables?: { name: { length, slots } },
 *           copies?: [[page, listed page it repeats], …] }
 * body:   every listed page (65 536 bytes each), then every file's bytes, in header order
 * ```
 * `delta: true` in the header marks a delta ({@link diffSnapshot}), `part: true` a later part
 * of a whole snapshot shipped in parts (pages only; version 3, so that a reader that knows
 * no parts refuses it rather than restore it as a whole snapshot).
 * Numbers travel as their float64 bits so NaN payloads and -0 survive; i64 values as
 * decimal strings. Decoding checks everything it reads and fails with ERR_SNAPSHOT_INVALID.
 * @module
 */
import { concatBytes, fromUtf8, SHA256_HEX, utf8 } from '../bytes.ts';
import type { InstanceSnapshot, TableSnapshot, WasmValue } from '../ports/sandbox.ts';
import { SnapshotInvalidError } from './errors.ts';

const MAGIC = [0x4c, 0x4d, 0x53, 0x4e]; // "LMSN"
const VERSION = 1;
/** The version of a snapshot that lists page copies. */
const VERSION_COPIES = 2;
/** The version of a part of a snapshot (copies allowed too). */
const VERSION_PART = 3;
const PAGE = 65536;
const PREFIX = 12;
/** Upper bound on pages (a 32-bit memory has at most 65 536). */
const MAX_PAGES = 65536;

interface Header {
  moduleId: string;
  memoryPages: number;
  pages: number[];
  globals: Record<string, [string, string]>;
  files: [string, number][];
  tables?: Record<string, TableSnapshot>;
  delta?: boolean;
  part?: boolean;
  /** `[page, of]`: page `page` holds the same bytes as listed page `of` (version 2). */
  copies?: [number, number][];
}

/** Encode a snapshot for shipping. */
export function encodeSnapshot(snapshot: InstanceSnapshot): Uint8Array {
  return concatBytes(encodeSnapshotPieces(snapshot).chunks);
}

/**
 * The bytes {@link encodeSnapshot} makes, as a list of pieces to send one after another
 * without joining them: the header, then the pages and files as views of the snapshot's
 * own buffers (pages that lie next to each other in one buffer, as a snapshot's do, are
 * one piece). Read them before the snapshot's buffers change.
 */
export function encodeSnapshotPieces(snapshot: InstanceSnapshot): { chunks: Uint8Array[]; byteLength: number } {
  const all = Object.keys(snapshot.pages).map(Number).sort((a, b) => a - b);
  // A page that is the very same bytes as an earlier one (the sandbox hands repeated
  // pages over so) travels as a reference to it.
  const first = new Map<Uint8Array, number>();
  const pages: number[] = [];
  const copies: [number, number][] = [];
  for (const p of all) {
    const bytes = snapshot.pages[p]!;
    const of = first.get(bytes);
    if (of === undefined) {
      first.set(bytes, p);
      pages.push(p);
    } else copies.push([p, of]);
  }
  const files = Object.entries(snapshot.files);
  const header: Header = {
    moduleId: snapshot.moduleId,
    memoryPages: snapshot.memoryPages,
    pages,
    globals: Object.fromEntries(Object.entries(snapshot.globals).map(([k, v]) => [k, encodeValue(v)])),
    files: files.map(([name, bytes]) => [name, bytes.byteLength]),
  };
  if (snapshot.tables) header.tables = snapshot.tables;
  if (snapshot.delta) header.delta = true;
  if (snapshot.part) header.part = true;
  if (copies.length > 0) header.copies = copies;
  const json = utf8(JSON.stringify(header));
  const head = new Uint8Array(PREFIX + json.byteLength);
  head.set(MAGIC, 0);
  // A reader that knows no copies must refuse them rather than leave those pages zero.
  head[4] = snapshot.part ? VERSION_PART : copies.length > 0 ? VERSION_COPIES : VERSION;
  new DataView(head.buffer).setUint32(8, json.byteLength, true);
  head.set(json, PREFIX);
  const chunks: Uint8Array[] = [head];
  let byteLength = head.byteLength;
  const add = (bytes: Uint8Array): void => {
    if (bytes.byteLength === 0) return;
    const last = chunks[chunks.length - 1]!;
    // The next page right behind the last one in the same buffer: one piece.
    if (chunks.length > 1 && last.buffer === bytes.buffer && last.byteOffset + last.byteLength === bytes.byteOffset) {
      chunks[chunks.length - 1] = new Uint8Array(last.buffer, last.byteOffset, last.byteLength + bytes.byteLength);
    } else chunks.push(bytes);
    byteLength += bytes.byteLength;
  };
  for (const p of pages) {
    const page = snapshot.pages[p]!;
    // A page is PAGE bytes on the wire, whatever view it came as (a shorter one is padded).
    add(page.byteLength >= PAGE ? page.subarray(0, PAGE) : padded(page));
  }
  for (const [, bytes] of files) add(bytes);
  return { chunks, byteLength };
}

/** A page shorter than PAGE bytes, zero-padded to PAGE. */
function padded(page: Uint8Array): Uint8Array {
  const out = new Uint8Array(PAGE);
  out.set(page);
  return out;
}

/**
 * Decode snapshot bytes; the pages are views into `bytes` (files are copies).
 * @throws SnapshotInvalidError (`ERR_SNAPSHOT_INVALID`) for anything malformed.
 */
export function decodeSnapshot(bytes: Uint8Array): InstanceSnapshot {
  const bad = (why: string): never => {
    throw new SnapshotInvalidError(`invalid snapshot: ${why}`, { reason: why });
  };
  if (bytes.byteLength < PREFIX || MAGIC.some((b, i) => bytes[i] !== b)) bad('not a snapshot (bad magic)');
  if (bytes[4] !== VERSION && bytes[4] !== VERSION_COPIES && bytes[4] !== VERSION_PART) bad(`unsupported version ${bytes[4]}`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (PREFIX + headerLength > bytes.byteLength) bad('header runs past the end');
  let header: Header;
  try {
    header = JSON.parse(fromUtf8(bytes.subarray(PREFIX, PREFIX + headerLength))) as Header;
  } catch {
    return bad('header is not JSON');
  }
  if (typeof header !== 'object' || header === null) bad('header is not an object');
  if (typeof header.moduleId !== 'string' || !SHA256_HEX.test(header.moduleId)) bad('moduleId is not a sha256');
  const { memoryPages } = header;
  if (!Number.isInteger(memoryPages) || memoryPages < 0 || memoryPages > MAX_PAGES) bad('memoryPages out of range');
  if (!Array.isArray(header.pages) || !Array.isArray(header.files) || typeof header.globals !== 'object' || header.globals === null) bad('header fields missing');
  let at = PREFIX + headerLength;
  const pages: Record<number, Uint8Array> = {};
  let last = -1;
  for (const p of header.pages) {
    if (!Number.isInteger(p) || p <= last || p >= memoryPages) bad(`page index ${String(p)} out of order or range`);
    if (at + PAGE > bytes.byteLength) bad('pages run past the end');
    // A view, not a copy: a restore posts the snapshot to a worker, which copies it once anyway.
    pages[p] = bytes.subarray(at, at + PAGE);
    at += PAGE;
    last = p;
  }
  if (header.copies !== undefined) {
    if (bytes[4] === VERSION || !Array.isArray(header.copies) || header.copies.length > MAX_PAGES) bad('malformed page copies');
    for (const entry of header.copies) {
      const [p, of] = Array.isArray(entry) ? entry : [];
      if (!Number.isInteger(p) || (p as number) < 0 || (p as number) >= memoryPages || pages[p as number] !== undefined) bad(`page copy ${String(p)} out of range or listed twice`);
      if (!Number.isInteger(of) || pages[of as number] === undefined) bad(`page copy ${String(p)} names a page that is not there`);
      pages[p as number] = pages[of as number]!;
    }
  }
  const files: Record<string, Uint8Array> = {};
  for (const entry of header.files) {
    const [name, length] = Array.isArray(entry) ? entry : [];
    if (typeof name !== 'string' || !Number.isInteger(length) || (length as number) < 0) bad('malformed file entry');
    if (at + (length as number) > bytes.byteLength) bad('files run past the end');
    files[name as string] = bytes.slice(at, at + (length as number));
    at += length as number;
  }
  if (at !== bytes.byteLength) bad(`${bytes.byteLength - at} bytes left over`);
  const globals: Record<string, WasmValue> = {};
  for (const [name, value] of Object.entries(header.globals)) globals[name] = decodeValue(value, bad);
  const snapshot: InstanceSnapshot = { moduleId: header.moduleId, pages, memoryPages, globals, files };
  if (header.tables !== undefined) snapshot.tables = checkTables(header.tables, bad);
  if (header.delta === true) snapshot.delta = true;
  if ((header.part === true) !== (bytes[4] === VERSION_PART)) bad('a part must say so in its version and its header');
  if (header.part === true) {
    if (snapshot.delta || snapshot.tables || Object.keys(snapshot.files).length > 0 || Object.keys(snapshot.globals).length > 0) bad('a part holds pages only');
    snapshot.part = true;
  }
  return snapshot;
}

/**
 * What changed from `base` to `next` (two full snapshots of one instance): the pages
 * that differ — a page that became zero as a zero page — with `next`'s globals, files
 * and tables. Restoring `base` and then the delta gives `next`. Live migration ships a
 * full snapshot while the module still serves and only this delta while it is paused.
 */
export function diffSnapshot(base: InstanceSnapshot, next: InstanceSnapshot): InstanceSnapshot {
  if (base.moduleId !== next.moduleId || base.delta || next.delta) throw new SnapshotInvalidError('a delta needs two full snapshots of one module');
  const pages: Record<number, Uint8Array> = {};
  for (const [key, page] of Object.entries(next.pages)) {
    const before = base.pages[Number(key)];
    if (!before || !samePage(before, page)) pages[Number(key)] = page;
  }
  for (const key of Object.keys(base.pages)) if (!next.pages[Number(key)]) pages[Number(key)] = new Uint8Array(PAGE);
  const delta: InstanceSnapshot = { moduleId: next.moduleId, pages, memoryPages: next.memoryPages, globals: next.globals, files: next.files, delta: true };
  if (next.tables) delta.tables = next.tables;
  return delta;
}

function samePage(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.byteLength >>> 2);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function encodeValue(v: WasmValue): [string, string] {
  if (typeof v === 'bigint') return ['i', v.toString()];
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  return ['f', view.getBigUint64(0).toString(16).padStart(16, '0')];
}

function decodeValue(value: unknown, bad: (why: string) => never): WasmValue {
  if (!Array.isArray(value) || typeof value[1] !== 'string') return bad('malformed global');
  if (value[0] === 'i' && /^-?\d{1,20}$/.test(value[1])) return BigInt(value[1]);
  if (value[0] === 'f' && /^[0-9a-f]{16}$/.test(value[1])) {
    const view = new DataView(new ArrayBuffer(8));
    view.setBigUint64(0, BigInt(`0x${value[1]}`));
    return view.getFloat64(0);
  }
  return bad('malformed global value');
}

function checkTables(tables: unknown, bad: (why: string) => never): Record<string, TableSnapshot> {
  if (typeof tables !== 'object' || tables === null) bad('malformed tables');
  const out: Record<string, TableSnapshot> = {};
  for (const [name, t] of Object.entries(tables as Record<string, TableSnapshot>)) {
    if (typeof t !== 'object' || t === null || !Number.isInteger(t.length) || t.length < 0 || t.length > 10_000_000) bad(`malformed table ${name}`);
    const slots: Record<number, number | null> = {};
    for (const [slot, index] of Object.entries(t.slots ?? {})) {
      const n = Number(slot);
      if (!Number.isInteger(n) || n < 0 || n >= t.length || (index !== null && !Number.isInteger(index))) bad(`malformed slot ${slot} of table ${name}`);
      slots[n] = index;
    }
    out[name] = { length: t.length, slots };
  }
  return out;
}
