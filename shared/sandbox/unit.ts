/**
 * One live module instance in a worker (the app, or a linked provider) and what can be
 * read and written of its state: linear memory, instrumented globals, changed table
 * slots, WASI files, and the span of memory it wrote since the last state copy.
 * @module
 */
import { File, type PreopenDirectory } from '@bjorn3/browser_wasi_shim';
import type { TableSnapshot, WasmValue } from '../ports/sandbox.ts';
import { readSpan, resetSpan, type SpanGlobals, widenSpan } from '../wasm/instrument.ts';
import { FunctionNotFoundError, SnapshotInvalidError } from './errors.ts';
import type { StateCopy } from './protocol.ts';

/** Bytes per wasm page. */
export const PAGE = 65536;

/** A live instance and its bookkeeping. */
export interface Unit {
  instance: WebAssembly.Instance;
  memory: WebAssembly.Memory | null;
  dir: PreopenDirectory;
  stdout: string[];
  stderr: string[];
  /** Export names of the instrumented mutable globals. */
  globals: string[];
  /** Instrumented funcref tables: export name → function index per slot right after instantiation. */
  tables: Map<string, (number | null)[]>;
  /** The module's own functions reachable from the host (exports, initial table entries), by function index. */
  functions: Map<number, unknown>;
  /** The app's linked providers by import module name (empty for a provider). */
  providers: Map<string, Unit>;
  /** The span of memory written since the last state copy, when the module's writes are tracked. */
  span: SpanGlobals | null;
}

/** A byte range `[lo, hi)`; empty when lo ≥ hi. */
export interface Range {
  lo: number;
  hi: number;
}

/** The range every byte is in. */
export const EVERYTHING: Readonly<Range> = { lo: 0, hi: Number.POSITIVE_INFINITY };
/** The empty range. */
export const NOTHING: Readonly<Range> = { lo: Number.POSITIVE_INFINITY, hi: 0 };

/** The smallest range holding both. */
export function union(a: Range, b: Range): Range {
  if (a.lo >= a.hi) return b;
  if (b.lo >= b.hi) return a;
  return { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) };
}

/** The exported function `name` of a unit. */
export function exportedFunction(l: Unit, name: string): (...a: WasmValue[]) => unknown {
  const f = l.instance.exports[name];
  if (typeof f !== 'function') throw new FunctionNotFoundError(`module exports no function ${name}`);
  return f as (...a: WasmValue[]) => unknown;
}

/** What a unit wrote since the last copy (everything, when untracked); the span starts over. */
export function takeSpan(l: Unit): Range {
  if (!l.span) return EVERYTHING;
  const span = readSpan(l.span);
  resetSpan(l.span);
  return span;
}

/** The host wrote `[at, at + length)` of a unit's memory: the span takes it in. */
export function wrote(l: Unit, at: number, length: number): void {
  if (l.span) widenSpan(l.span, at, length);
}

/** The values of a unit's instrumented globals by name. */
export function readGlobals(l: Unit): Record<string, WasmValue> {
  const out: Record<string, WasmValue> = {};
  for (const name of l.globals) {
    const g = l.instance.exports[name];
    if (g instanceof WebAssembly.Global) out[name] = g.value as WasmValue;
  }
  return out;
}

/** Set a unit's globals by name (names it does not export are ignored). */
export function writeGlobals(l: Unit, globals: Record<string, WasmValue>): void {
  for (const [name, value] of Object.entries(globals)) {
    const g = l.instance.exports[name];
    if (g instanceof WebAssembly.Global) g.value = value;
  }
}

/** Memory grown to `pages`, zeroed, then `memoryBytes` at its start; the globals set. */
export function writeState(l: Unit, memoryBytes: Uint8Array | null, pages: number, globals: Record<string, WasmValue>): void {
  if (l.memory) {
    const current = l.memory.buffer.byteLength / PAGE;
    if (pages > current) l.memory.grow(pages - current);
    const target = new Uint8Array(l.memory.buffer);
    target.fill(0);
    if (memoryBytes) target.set(memoryBytes.subarray(0, Math.min(memoryBytes.byteLength, target.byteLength)));
  }
  writeGlobals(l, globals);
}

/** Put the app and its providers back to a state copy. */
export function writeCopy(l: Unit, s: StateCopy): void {
  writeState(l, new Uint8Array(s.memory, 0, s.memoryBytes), s.memoryBytes / PAGE, s.globals);
  for (const [name, p] of Object.entries(s.providers ?? {})) {
    const unit = l.providers.get(name);
    if (unit) writeState(unit, new Uint8Array(p.memory, 0, p.memoryBytes), p.memoryBytes / PAGE, p.globals);
  }
}

/** Copies of the files in a unit's WASI directory. */
export function dirFiles(l: Unit): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [name, inode] of l.dir.dir.contents) if (inode instanceof File) out[name] = inode.data.slice();
  return out;
}

/** Replace every file of a unit's WASI directory. */
export function replaceFiles(l: Unit, files: Record<string, Uint8Array>): void {
  l.dir.dir.contents.clear();
  for (const [name, data] of Object.entries(files)) l.dir.dir.contents.set(name, new File(data));
}

/** Record a function of the module under its index (the JS API names wasm functions by index); null for anything else. */
export function remember(functions: Map<number, unknown>, value: unknown): number | null {
  if (typeof value !== 'function') return null;
  const index = Number((value as { name: string }).name);
  if (!Number.isInteger(index)) return null;
  if (!functions.has(index)) functions.set(index, value);
  return index;
}

/** Tables whose slots differ from their contents right after instantiation, with only the differing slots. */
export function changedTables(l: Unit): Record<string, TableSnapshot> | undefined {
  let out: Record<string, TableSnapshot> | undefined;
  for (const [name, initial] of l.tables) {
    const table = l.instance.exports[name] as WebAssembly.Table;
    const slots: Record<number, number | null> = {};
    let changed = table.length !== initial.length;
    for (let i = 0; i < table.length; i++) {
      const index = remember(l.functions, table.get(i));
      if (index !== (initial[i] ?? null)) {
        slots[i] = index;
        changed = true;
      }
    }
    if (changed) (out ??= {})[name] = { length: table.length, slots };
  }
  return out;
}

/**
 * Put changed table slots back. Every function named must be one the target instance can
 * reach (an export or an initial table entry of the same module): the snapshot of a
 * module that stored some other function reference is refused by name.
 * @throws SnapshotInvalidError (`ERR_SNAPSHOT_INVALID`)
 */
export function writeTables(l: Unit, tables: Record<string, TableSnapshot>): void {
  for (const name of Object.keys(tables)) {
    if (!l.tables.has(name)) throw new SnapshotInvalidError(`snapshot names table ${name}, which the module does not have`);
  }
  // Every table back to what instantiation put there (a slot the snapshot does not list
  // holds its initial function), then the snapshot's changed slots on top.
  for (const [name, initial] of l.tables) {
    const table = l.instance.exports[name] as WebAssembly.Table;
    for (let i = 0; i < table.length; i++) table.set(i, (initial[i] === undefined || initial[i] === null ? null : l.functions.get(initial[i]!)) as never);
  }
  for (const [name, t] of Object.entries(tables)) {
    const table = l.instance.exports[name];
    if (!(table instanceof WebAssembly.Table)) throw new SnapshotInvalidError(`snapshot names table ${name}, which the module does not have`);
    if (t.length > table.length) table.grow(t.length - table.length);
    for (const [slot, index] of Object.entries(t.slots)) {
      const fn = index === null ? null : l.functions.get(index);
      if (fn === undefined) throw new SnapshotInvalidError(`table ${name} slot ${slot} holds function ${String(index)}, which cannot be reached to restore it`);
      table.set(Number(slot), fn as never);
    }
  }
}
