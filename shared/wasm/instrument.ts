/**
 * Write tracking: a module rewritten so that its code records which span of linear
 * memory it writes.
 *
 * The sandbox keeps a copy of an instance's state after every call (a failed call rolls
 * back to it; a stopped worker's successor resumes from it). Copying the whole memory
 * costs in proportion to its size — 2.7 ms for 16 MiB here — on every call, even when
 * the call wrote a few bytes. A tracked module keeps the span it wrote in two exported
 * mutable globals, `__lm_dirty_lo` and `__lm_dirty_hi` (empty: lo = 0xffffffff, hi = 0),
 * in whole 64 KiB pages. The host reads the span after a call, copies only it, and
 * resets it with {@link resetSpan}. Writes the host makes itself (imports such as WASI,
 * inputs it places) are the host's to record.
 *
 * Every store (`*.store*`, SIMD stores and lane stores) first compares its page with the
 * page of the last store that widened the span (a third global, `__lm_dirty_page`):
 * the same page costs a shift and a compare; another page widens the span by that page
 * and the next (a store may straddle into it) and is remembered. The bookkeeping is
 * inline: a call on the rare path would make the engine spill registers around every
 * store of a hot loop. Bulk writes (`memory.fill`, `memory.copy`, `memory.init`) widen
 * the span by their destination range through an appended function. Measured on store-
 * bound loops (a byte-filling loop, an image conversion) the tracked code runs 30–50 %
 * longer; calls that write little save a copy of the whole memory.
 *
 * Only the type, function, global, export and code sections change, and only by
 * appending (a function type, a function, three globals, their exports, scratch locals)
 * — no index moves — plus the bookkeeping before each store in the bodies that write
 * memory. Everything else is copied byte for byte. A module this cannot track — no
 * memory or several, memory64, shared memory (threads), GC types, or an instruction it
 * does not know — is left alone: `trackWrites` returns null and the host copies the
 * whole state as before. Bytes that are not a module fail with ERR_INVALID_WASM, as in
 * binary.ts.
 * @module
 */
import { Reader, Writer } from './cursor.ts';
import { isOtherWasmVersion, readLimits, sectionEntries, sectionRank, sectionReader, skipConstExpr, walkSections, type WasmSection } from './sections.ts';

/** Export name of the global holding the lowest byte address written (0xffffffff: none). */
export const DIRTY_LO_EXPORT = '__lm_dirty_lo';
/** Export name of the global holding the address past the highest byte written (0: none). */
export const DIRTY_HI_EXPORT = '__lm_dirty_hi';
/** Export name of the global holding the page of the last store that widened the span (-1: none). */
export const DIRTY_PAGE_EXPORT = '__lm_dirty_page';

/** A module rewritten by {@link trackWrites}. */
export interface TrackedModule {
  bytes: Uint8Array<ArrayBuffer>;
  /** Export names of the span's globals. */
  lo: string;
  hi: string;
  page: string;
}

/** The globals of a tracked instance, as exported. */
export interface SpanGlobals {
  lo: WebAssembly.Global;
  hi: WebAssembly.Global;
  page: WebAssembly.Global;
}

/** The span written since the last reset, as byte offsets `[lo, hi)`; lo ≥ hi when nothing was written. */
export function readSpan(g: SpanGlobals): { lo: number; hi: number } {
  return { lo: (g.lo.value as number) >>> 0, hi: (g.hi.value as number) >>> 0 };
}

/** Take `[at, at + length)` into the span (a write the host made); `at + length` at most 2³² − 1. */
export function widenSpan(g: SpanGlobals, at: number, length: number): void {
  if (length <= 0) return;
  const span = readSpan(g);
  if (at < span.lo || span.lo >= span.hi) g.lo.value = at | 0;
  if (at + length > span.hi) g.hi.value = (at + length) | 0;
}

/** Count the whole memory as written. */
export function spanEverything(g: SpanGlobals): void {
  g.lo.value = 0;
  g.hi.value = -1;
}

/** Make the span empty (after the host copied it). */
export function resetSpan(g: SpanGlobals): void {
  g.lo.value = -1;
  g.hi.value = 0;
  g.page.value = -1;
}

/** Why a module is not tracked (the caller copies whole state instead); stop-checks.ts, too, leaves such a module alone. */
export class Untrackable extends Error {}

const I32 = 0x7f;
const I64 = 0x7e;
const F32 = 0x7d;
const F64 = 0x7c;
const V128 = 0x7b;

/** Scratch locals appended to a function that writes memory, in this order. */
const SCRATCH = [I32, I32, I32, I32, I64, F32, F64, V128];
const [ADDR, PAGE, VALUE_I32, OTHER, VALUE_I64, VALUE_F32, VALUE_F64, VALUE_V128] = SCRATCH.map((_, i) => i) as number[];

/** Stores of the core spec: opcode → the type of the value stored (0: not a store). Each writes at most 8 bytes. */
const STORE_VALUE = new Uint8Array(256);
STORE_VALUE.set([I32, I64, F32, F64, I32, I32, I64, I64, I64], 0x36);
/** SIMD stores (after 0xfd): v128.store and the lane stores, which carry a lane byte. */
const SIMD_STORES = new Set([11, 88, 89, 90, 91]);
/** Bulk memory writes (after 0xfc): memory.init, memory.copy, memory.fill. */
const BULK_WRITES = new Set([8, 10, 11]);

/**
 * Rewrite `bytes` to record the span of memory its code writes, or null when the module
 * cannot be tracked (see the module comment). @throws InvalidWasmError for bytes that
 * are not a module.
 */
export function trackWrites(bytes: Uint8Array): TrackedModule | null {
  try {
    return rewrite(bytes);
  } catch (error) {
    if (error instanceof Untrackable) return null;
    throw error;
  }
}

function rewrite(bytes: Uint8Array): TrackedModule {
  // A component or a future version is left alone; anything else malformed is refused by the walk.
  if (isOtherWasmVersion(bytes)) throw new Untrackable('not a core module');
  const sections = walkSections(bytes);
  const find = (id: number): WasmSection | undefined => sections.find((s) => s.id === id);
  const entries = (s: WasmSection | undefined, skip: (r: Reader) => void): [number, Uint8Array] => sectionEntries(bytes, s, skip);

  // Parameter counts by type index.
  const params: number[] = [];
  const [typeCount, typeEntries] = entries(find(1), (r) => {
    if (r.byte() !== 0x60) throw new Untrackable('GC types');
    const count = r.count();
    for (let i = 0; i < count; i++) valueType(r);
    params.push(count);
    for (let m = r.count(); m > 0; m--) valueType(r);
  });
  let memories = 0;
  let importedGlobals = 0;
  let importedFunctions = 0;
  entries(find(2), (r) => {
    r.name();
    r.name();
    const kind = r.byte();
    if (kind === 0x00) {
      r.u32();
      importedFunctions++;
    } else if (kind === 0x01) {
      valueType(r);
      readLimits(r, 'table');
    } else if (kind === 0x02) {
      memoryType(r);
      memories++;
    } else if (kind === 0x03) {
      valueType(r);
      r.byte();
      importedGlobals++;
    } else if (kind === 0x04) {
      r.byte();
      r.u32();
    } else r.fail(`unknown import kind ${kind}`);
  });
  const functionTypes: number[] = [];
  const [, functionEntries] = entries(find(3), (r) => void functionTypes.push(r.u32()));
  entries(find(5), (r) => {
    memoryType(r);
    memories++;
  });
  if (memories !== 1) throw new Untrackable(memories === 0 ? 'no memory' : 'several memories');
  const codeSection = find(10);
  if (!codeSection) throw new Untrackable('no code');
  const [globalCount, globalEntries] = entries(find(6), (r) => {
    valueType(r);
    r.byte();
    skipConstExpr(r);
  });
  const taken = new Set<string>();
  const [exportCount, exportEntries] = entries(find(7), (r) => {
    taken.add(r.name());
    r.byte();
    r.u32();
  });

  // What is appended: a type, a function, three globals and their exports.
  const spanType = typeCount;
  const span = importedFunctions + functionTypes.length;
  const g = { lo: importedGlobals + globalCount, hi: importedGlobals + globalCount + 1, page: importedGlobals + globalCount + 2 };
  const unique = (name: string): string => {
    let chosen = name;
    for (let n = 1; taken.has(chosen); n++) chosen = `${name}_${n}`;
    taken.add(chosen);
    return chosen;
  };
  const names = { lo: unique(DIRTY_LO_EXPORT), hi: unique(DIRTY_HI_EXPORT), page: unique(DIRTY_PAGE_EXPORT) };

  const types = new Writer();
  types.u32(typeCount + 1);
  types.bytes(typeEntries);
  types.bytes(Uint8Array.of(0x60, 2, I32, I32, 0)); // (i32, i32) -> ()
  const functions = new Writer();
  functions.u32(functionTypes.length + 1);
  functions.bytes(functionEntries);
  functions.u32(spanType);
  const globals = new Writer();
  globals.u32(globalCount + 3);
  globals.bytes(globalEntries);
  for (const init of [-1, 0, -1]) {
    globals.bytes(Uint8Array.of(I32, 0x01, 0x41));
    globals.s32(init);
    globals.byte(0x0b);
  }
  const exports = new Writer();
  exports.u32(exportCount + 3);
  exports.bytes(exportEntries);
  for (const key of ['lo', 'hi', 'page'] as const) {
    exports.name(names[key]);
    exports.byte(0x03);
    exports.u32(g[key]);
  }

  const code = new Writer();
  const r = sectionReader(bytes, codeSection);
  const count = r.count();
  if (count !== functionTypes.length) r.fail(`${count} bodies for ${functionTypes.length} functions`);
  code.u32(count + 1);
  for (let i = 0; i < count; i++) {
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    const type = functionTypes[i]!;
    if (type >= params.length) r.fail(`function ${i} has unknown type ${type}`, start);
    const body = rewriteBody(bytes, start, start + size, params[type]!, { ...g, span });
    code.u32(body.length);
    code.bytes(body);
  }
  const helper = spanBody(g);
  code.u32(helper.length);
  code.bytes(helper);

  // Reassemble: the changed sections replace their originals or go where the section
  // order wants them; everything else is copied.
  const out = new Writer();
  out.bytes(bytes.subarray(0, 8));
  const replaced = new Map<number, Writer>([[1, types], [3, functions], [6, globals], [7, exports], [10, code]]);
  const written = new Set<number>();
  const emit = (id: number): void => {
    const content = replaced.get(id)!;
    out.byte(id);
    out.u32(content.length);
    out.bytes(content.result());
    written.add(id);
  };
  for (const s of sections) {
    // Sections this module lacks go before the first section ranked after them.
    if (s.id !== 0) for (const id of replaced.keys()) if (!written.has(id) && sectionRank(id) < sectionRank(s.id)) emit(id);
    if (replaced.has(s.id)) emit(s.id);
    else out.bytes(bytes.subarray(s.offset, s.end));
  }
  for (const id of replaced.keys()) if (!written.has(id)) emit(id);
  return { bytes: out.result().slice(), ...names };
}

/** `span(first, length)`: widen the span by `[first, first + length)`. */
function spanBody(g: { lo: number; hi: number }): Uint8Array {
  const w = new Writer();
  w.u32(0);
  w.bytes(Uint8Array.of(0x20, 0, 0x23, ...leb(g.lo), 0x49, 0x04, 0x40, 0x20, 0, 0x24, ...leb(g.lo), 0x0b));
  w.bytes(Uint8Array.of(0x20, 0, 0x20, 1, 0x6a, 0x23, ...leb(g.hi), 0x4b, 0x04, 0x40, 0x20, 0, 0x20, 1, 0x6a, 0x24, ...leb(g.hi), 0x0b));
  w.byte(0x0b);
  return w.result().slice();
}

/** One function body (locals and expression), its writes tracked; unchanged if it writes nothing. */
function rewriteBody(bytes: Uint8Array, start: number, end: number, paramCount: number, track: { lo: number; hi: number; page: number; span: number }): Uint8Array {
  const r = new Reader(bytes, start, end, 'code section');
  let locals = 0;
  for (let n = r.count(); n > 0; n--) {
    locals += r.u32();
    valueType(r);
  }
  const exprStart = r.pos;
  const base = paramCount + locals;
  const out = new Writer();
  let copied = exprStart;
  let writes = 0;
  let usesV128 = false;
  const flush = (upTo: number): void => {
    out.bytes(bytes.subarray(copied, upTo));
  };
  const local = (op: number, index: number): void => {
    out.byte(op);
    out.u32(base + index);
  };
  // The store's operands go to locals; its page is compared with the last one recorded.
  // The instructions around the offset are the same for every store of this function:
  // built once, on its first store.
  let templates: StoreTemplates | null = null;
  const beforeStore = (value: number, offset: number): void => {
    templates ??= storeTemplates(base, track);
    out.bytes(templates.head[value]!);
    out.byte(0x41);
    out.s32(offset | 0);
    out.bytes(templates.check);
    out.bytes(templates.tail[value]!);
  };
  let depth = 0;
  while (!r.atEnd()) {
    const at = r.pos;
    const op = r.byte();
    const stored = STORE_VALUE[op]!;
    if (stored !== 0) {
      const memargStart = r.pos;
      const offset = memarg(r);
      flush(at);
      writes++;
      beforeStore(valueLocal(stored), offset);
      out.byte(op);
      out.bytes(bytes.subarray(memargStart, r.pos));
      copied = r.pos;
      continue;
    }
    if (op === 0xfd) {
      const sub = r.u32();
      if (SIMD_STORES.has(sub)) {
        const memargStart = r.pos;
        const offset = memarg(r);
        if (sub !== 11) r.byte(); // lane
        flush(at);
        writes++;
        usesV128 = true;
        beforeStore(VALUE_V128, offset);
        out.byte(0xfd);
        out.u32(sub);
        out.bytes(bytes.subarray(memargStart, r.pos));
        copied = r.pos;
        continue;
      }
      simdImmediates(r, sub);
      continue;
    }
    if (op === 0xfc) {
      const sub = r.u32();
      if (BULK_WRITES.has(sub)) {
        const immStart = r.pos;
        if (sub === 8) {
          r.u32();
          r.byte();
        } else if (sub === 10) {
          r.byte();
          r.byte();
        } else r.byte();
        flush(at);
        writes++;
        // Operands: destination, source (or fill value), length.
        local(0x21, VALUE_I32);
        local(0x21, OTHER);
        local(0x22, ADDR);
        local(0x20, VALUE_I32);
        out.bytes(Uint8Array.of(0x10, ...leb(track.span))); // call span
        local(0x20, ADDR);
        local(0x20, OTHER);
        local(0x20, VALUE_I32);
        out.byte(0xfc);
        out.u32(sub);
        out.bytes(bytes.subarray(immStart, r.pos));
        copied = r.pos;
        continue;
      }
      prefixedImmediates(r, sub);
      continue;
    }
    if (op === 0x02 || op === 0x03 || op === 0x04 || op === 0x06) {
      blockType(r);
      depth++;
      continue;
    }
    if (op === 0x0b) {
      if (depth === 0) {
        if (!r.atEnd()) r.fail('code after the end of a function', at);
        break;
      }
      depth--;
      continue;
    }
    if (op === 0x18) {
      // delegate ends a try block
      r.u32();
      depth--;
      continue;
    }
    immediates(r, op);
  }
  if (writes === 0) return bytes.slice(start, end);
  flush(end);
  const expression = out.result();
  const head = new Writer();
  // Own locals (re-encoded as they were), then the scratch ones.
  const lr = new Reader(bytes, start, exprStart, 'code section');
  const groups = lr.count();
  const scratch = usesV128 ? SCRATCH : SCRATCH.slice(0, -1);
  head.u32(groups + scratch.length);
  head.bytes(bytes.subarray(lr.pos, exprStart));
  for (const type of scratch) {
    head.u32(1);
    head.byte(type);
  }
  const body = new Uint8Array(head.length + expression.length);
  body.set(head.result(), 0);
  body.set(expression, head.length);
  return body;
}

/** The bytes around a store's offset, for one function's locals. */
interface StoreTemplates {
  /** By value local: `local.set value; local.tee addr`. */
  head: Record<number, Uint8Array>;
  /** `i32.add`, the page compare and the span update, up to the closing `end`. */
  check: Uint8Array;
  /** By value local: `local.get addr; local.get value`. */
  tail: Record<number, Uint8Array>;
}

function storeTemplates(base: number, g: { lo: number; hi: number; page: number }): StoreTemplates {
  const bytes = (write: (w: Writer) => void): Uint8Array => {
    const w = new Writer();
    write(w);
    return w.result().slice();
  };
  const local = (w: Writer, op: number, index: number): void => {
    w.byte(op);
    w.u32(base + index);
  };
  const global = (w: Writer, op: number, index: number): void => {
    w.byte(op);
    w.u32(index);
  };
  const head: Record<number, Uint8Array> = {};
  const tail: Record<number, Uint8Array> = {};
  for (const value of [VALUE_I32, VALUE_I64, VALUE_F32, VALUE_F64, VALUE_V128]) {
    head[value] = bytes((w) => {
      local(w, 0x21, value);
      local(w, 0x22, ADDR);
    });
    tail[value] = bytes((w) => {
      local(w, 0x20, ADDR);
      local(w, 0x20, value);
    });
  }
  const check = bytes((w) => {
    w.bytes(Uint8Array.of(0x6a, 0x41, 16, 0x76)); // i32.add; i32.const 16; i32.shr_u
    local(w, 0x22, PAGE);
    global(w, 0x23, g.page);
    w.bytes(Uint8Array.of(0x47, 0x04, 0x40)); // i32.ne; if
    local(w, 0x20, PAGE);
    global(w, 0x24, g.page);
    // lo = min(lo, page << 16)
    local(w, 0x20, PAGE);
    w.bytes(Uint8Array.of(0x41, 16, 0x74)); // i32.const 16; i32.shl
    local(w, 0x22, PAGE);
    global(w, 0x23, g.lo);
    w.bytes(Uint8Array.of(0x49, 0x04, 0x40)); // i32.lt_u; if
    local(w, 0x20, PAGE);
    global(w, 0x24, g.lo);
    w.byte(0x0b);
    // hi = max(hi, (page << 16) + 2 pages)
    local(w, 0x20, PAGE);
    w.bytes(Uint8Array.of(0x41, 0x80, 0x80, 0x08, 0x6a)); // i32.const 0x20000; i32.add
    local(w, 0x22, PAGE);
    global(w, 0x23, g.hi);
    w.bytes(Uint8Array.of(0x4b, 0x04, 0x40)); // i32.gt_u; if
    local(w, 0x20, PAGE);
    global(w, 0x24, g.hi);
    w.bytes(Uint8Array.of(0x0b, 0x0b)); // end; end
  });
  return { head, check, tail };
}

function valueLocal(type: number): number {
  if (type === I32) return VALUE_I32;
  if (type === I64) return VALUE_I64;
  if (type === F32) return VALUE_F32;
  return VALUE_F64;
}

/** The LEB128 bytes of an index, to splice into instruction byte lists. */
export function leb(value: number): number[] {
  const w = new Writer();
  w.u32(value);
  return Array.from(w.result());
}

/** A memory immediate; returns its offset. Another memory than memory 0 is not tracked. */
export function memarg(r: Reader): number {
  const align = r.u32();
  if ((align & 0x40) !== 0) throw new Untrackable('multi-memory');
  return r.u32();
}

/** Skip a value type (a reference type's heap type too). */
export function valueType(r: Reader): void {
  const code = r.byte();
  if (code === 0x63 || code === 0x64) r.skipLeb(5); // (ref null? heaptype)
}

/** Skip a block type: empty, a value type, a reference type or a type index. */
export function blockType(r: Reader): void {
  const b = r.peek();
  if (b === 0x40 || (b >= 0x7b && b <= 0x7f) || b === 0x70 || b === 0x6f || b === 0x69) {
    r.byte();
    return;
  }
  if (b === 0x63 || b === 0x64) {
    r.byte();
    r.skipLeb(5);
    return;
  }
  r.skipLeb(5); // a type index, as a non-negative s33
}

function memoryType(r: Reader): void {
  const { flags } = readLimits(r, 'memory');
  if ((flags & 0x02) !== 0) throw new Untrackable('shared memory');
  if ((flags & 0x04) !== 0) throw new Untrackable('memory64');
}

/** Skip the immediates of a one-byte opcode (blocks and `end` are handled by the callers). */
export function immediates(r: Reader, op: number): void {
  if (op <= 0x01 || op === 0x05 || op === 0x0f || op === 0x19 || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4)) return;
  switch (op) {
    case 0x07: // catch
    case 0x08: // throw
    case 0x09: // rethrow
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x14: // call_ref
    case 0x15: // return_call_ref
    case 0x20: // local.get
    case 0x21: // local.set
    case 0x22: // local.tee
    case 0x23: // global.get
    case 0x24: // global.set
    case 0x25: // table.get
    case 0x26: // table.set
    case 0xd2: // ref.func
    case 0xd5: // br_on_null
    case 0xd6: // br_on_non_null
      r.u32();
      return;
    case 0x0e: // br_table
      for (let n = r.count(); n >= 0; n--) r.u32();
      return;
    case 0x11: // call_indirect
    case 0x13: // return_call_indirect
      r.u32();
      r.u32();
      return;
    case 0x1c: // select t*
      for (let n = r.count(); n > 0; n--) valueType(r);
      return;
    case 0x3f: // memory.size
    case 0x40: // memory.grow
      if (r.byte() !== 0) throw new Untrackable('multi-memory');
      return;
    case 0x41: // i32.const
      r.skipLeb(5);
      return;
    case 0x42: // i64.const
      r.skipLeb(10);
      return;
    case 0x43: // f32.const
      r.skip(4);
      return;
    case 0x44: // f64.const
      r.skip(8);
      return;
    case 0xd0: // ref.null
      r.skipLeb(5);
      return;
    case 0xd1: // ref.is_null
    case 0xd3: // ref.eq
    case 0xd4: // ref.as_non_null
      return;
    default:
      if (op >= 0x28 && op <= 0x35) {
        memarg(r);
        return;
      }
      // 0xfb (GC), 0xfe (threads), try_table and anything newer.
      throw new Untrackable(`opcode 0x${op.toString(16)}`);
  }
}

/** Skip the immediates of a 0xfc-prefixed instruction other than the bulk writes. */
export function prefixedImmediates(r: Reader, sub: number): void {
  if (sub <= 7) return; // saturating truncations
  switch (sub) {
    case 9: // data.drop
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      r.u32();
      return;
    case 12: // table.init
    case 14: // table.copy
      r.u32();
      r.u32();
      return;
    default:
      throw new Untrackable(`opcode 0xfc ${sub}`);
  }
}

/** Skip the immediates of a SIMD instruction other than the stores. */
export function simdImmediates(r: Reader, sub: number): void {
  if (sub <= 10 || sub === 92 || sub === 93) {
    memarg(r); // loads
    return;
  }
  if (sub === 12 || sub === 13) {
    r.skip(16); // v128.const, i8x16.shuffle
    return;
  }
  if (sub >= 21 && sub <= 34) {
    r.byte(); // extract and replace lane
    return;
  }
  if (sub >= 84 && sub <= 87) {
    memarg(r); // load lane
    r.byte();
    return;
  }
  if (sub <= 0x113) return; // every other SIMD and relaxed SIMD instruction has none
  throw new Untrackable(`opcode 0xfd ${sub}`);
}

