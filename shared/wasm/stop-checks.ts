/**
 * Stop checks: a module rewritten so that a call running away in it can be stopped from
 * inside its own thread.
 *
 * The sandbox stops a call past its time limit by terminating its worker. Not every
 * engine honours that for code running in WebAssembly: WebKitGTK's `Worker.terminate()`
 * leaves a worker in an endless wasm loop running (its thread keeps a core busy until
 * the page closes), and Chromium's keeps running for about two seconds. A checked module
 * calls the host now and then from wherever it could run forever — the head of every
 * loop, the entry of every function (recursion that does not nest deeper, such as an
 * exponential one), and before every tail call — and the host's answer either lets it
 * go on or throws, which unwinds the module in its own thread on every engine.
 *
 * The call is rare: a countdown in a global (`__lm_fuel`, exported so the host can see
 * it) is decremented at each check and the host is called only when it reaches zero;
 * the host answers with the next countdown. Per check that is a global read, a
 * subtraction, a write and a compare: a few percent on the tightest loops.
 *
 * The rewrite appends a function type, an import (`__liquidmesh.poll`, `() -> i32`), a
 * global and its export. Function imports come before defined functions, so every
 * defined function's index moves up by one: calls, `ref.func`, element segments,
 * exports, the start function and constant expressions are renumbered, and the `name`
 * section (which would name the wrong functions) is dropped. A module the walk cannot
 * decode (the opcodes write tracking cannot decode either: see instrument.ts) is left
 * alone: {@link addStopChecks} returns null and the sandbox relies on terminating the
 * worker alone. Bytes that are not a module fail with ERR_INVALID_WASM.
 * @module
 */
import { Reader, Writer } from './cursor.ts';
import { blockType, immediates, leb, memarg, prefixedImmediates, simdImmediates, Untrackable, valueType } from './instrument.ts';
import { isOtherWasmVersion, readLimits, sectionEntries, sectionRank, sectionReader, walkSections, type WasmSection } from './sections.ts';

/** Import module of the stop check. */
export const STOP_MODULE = '__liquidmesh';
/** Import name of the stop check: `() -> i32`, the next countdown, or a throw that stops the call. */
export const STOP_POLL = 'poll';
/** Export name of the countdown global. */
export const FUEL_EXPORT = '__lm_fuel';
/** Checks between two calls of the host's poll. */
export const FUEL_PER_POLL = 10_000;

/** A module rewritten by {@link addStopChecks}. */
export interface CheckedModule {
  bytes: Uint8Array<ArrayBuffer>;
  /** Export name of its countdown global (bookkeeping, not state). */
  fuel: string;
}

const I32 = 0x7f;

/**
 * Rewrite `bytes` so that every loop head, function entry and tail call checks in with
 * the host now and then (see the module comment), or null when the module cannot be
 * decoded for it. @throws InvalidWasmError for bytes that are not a module.
 */
export function addStopChecks(bytes: Uint8Array): CheckedModule | null {
  try {
    return rewrite(bytes);
  } catch (error) {
    if (error instanceof Untrackable) return null;
    throw error;
  }
}

function rewrite(bytes: Uint8Array): CheckedModule {
  if (isOtherWasmVersion(bytes)) throw new Untrackable('not a core module');
  const sections = walkSections(bytes);
  const find = (id: number): WasmSection | undefined => sections.find((s) => s.id === id);
  const entries = (s: WasmSection | undefined, skip: (r: Reader) => void): [number, Uint8Array] => sectionEntries(bytes, s, skip);

  const [typeCount, typeEntries] = entries(find(1), (r) => {
    if (r.byte() !== 0x60) throw new Untrackable('GC types');
    for (let n = r.count(); n > 0; n--) valueType(r);
    for (let n = r.count(); n > 0; n--) valueType(r);
  });
  let importedFunctions = 0;
  let importedGlobals = 0;
  const [importCount, importEntries] = entries(find(2), (r) => {
    r.name();
    r.name();
    const kind = r.byte();
    if (kind === 0x00) {
      r.u32();
      importedFunctions++;
    } else if (kind === 0x01) {
      valueType(r);
      readLimits(r, 'table');
    } else if (kind === 0x02) readLimits(r, 'memory');
    else if (kind === 0x03) {
      valueType(r);
      r.byte();
      importedGlobals++;
    } else if (kind === 0x04) {
      r.byte();
      r.u32();
    } else r.fail(`unknown import kind ${kind}`);
  });
  const [functionCount] = entries(find(3), (r) => void r.u32());
  const codeSection = find(10);
  if (!codeSection || functionCount === 0) throw new Untrackable('no code');
  const taken = new Set<string>();
  entries(find(7), (r) => {
    taken.add(r.name());
    r.byte();
    r.u32();
  });
  let fuelName = FUEL_EXPORT;
  for (let n = 1; taken.has(fuelName); n++) fuelName = `${FUEL_EXPORT}_${n}`;

  const poll = importedFunctions;
  /** A function index after the import is added. */
  const renumber = (index: number): number => (index >= importedFunctions ? index + 1 : index);
  const globalSection = find(6);
  const fuel = importedGlobals + (globalSection ? sectionReader(bytes, globalSection).count() : 0);

  const types = new Writer();
  types.u32(typeCount + 1);
  types.bytes(typeEntries);
  types.bytes(Uint8Array.of(0x60, 0, 1, I32)); // () -> i32

  const imports = new Writer();
  imports.u32(importCount + 1);
  imports.bytes(importEntries);
  imports.name(STOP_MODULE);
  imports.name(STOP_POLL);
  imports.byte(0x00);
  imports.u32(typeCount);

  const globals = new Writer();
  {
    const r = globalSection ? sectionReader(bytes, globalSection) : null;
    const count = r ? r.count() : 0;
    globals.u32(count + 1);
    for (let n = count; n > 0; n--) {
      const at = r!.pos;
      valueType(r!);
      r!.byte();
      globals.bytes(bytes.subarray(at, r!.pos));
      copyConstExpr(bytes, r!, globals, renumber);
    }
    if (r && !r.atEnd()) r.fail('bytes after the last entry');
    globals.bytes(Uint8Array.of(I32, 0x01, 0x41));
    globals.s32(FUEL_PER_POLL);
    globals.byte(0x0b);
  }

  const exports = new Writer();
  {
    const s = find(7);
    const r = s ? sectionReader(bytes, s) : null;
    const count = r ? r.count() : 0;
    exports.u32(count + 1);
    for (let n = count; n > 0; n--) {
      exports.name(r!.name());
      const kind = r!.byte();
      const index = r!.u32();
      exports.byte(kind);
      exports.u32(kind === 0x00 ? renumber(index) : index);
    }
    exports.name(fuelName);
    exports.byte(0x03);
    exports.u32(fuel);
  }

  const replaced = new Map<number, Writer>([[1, types], [2, imports], [6, globals], [7, exports]]);
  const start = find(8);
  if (start) {
    const w = new Writer();
    w.u32(renumber(sectionReader(bytes, start).u32()));
    replaced.set(8, w);
  }
  const elements = find(9);
  if (elements) replaced.set(9, rewriteElements(bytes, elements, renumber));

  const code = new Writer();
  const r = sectionReader(bytes, codeSection);
  const count = r.count();
  if (count !== functionCount) r.fail(`${count} bodies for ${functionCount} functions`);
  code.u32(count);
  const check = checkSequence(fuel, poll);
  for (let i = 0; i < count; i++) {
    const size = r.u32();
    const at = r.pos;
    r.skip(size);
    const body = rewriteBody(bytes, at, at + size, check, renumber, fuel);
    code.u32(body.length);
    code.bytes(body);
  }
  replaced.set(10, code);

  const out = new Writer();
  out.bytes(bytes.subarray(0, 8));
  const written = new Set<number>();
  const emit = (id: number): void => {
    const content = replaced.get(id)!;
    out.byte(id);
    out.u32(content.length);
    out.bytes(content.result());
    written.add(id);
  };
  for (const s of sections) {
    if (s.id !== 0) for (const id of replaced.keys()) if (!written.has(id) && sectionRank(id) < sectionRank(s.id)) emit(id);
    if (replaced.has(s.id)) emit(s.id);
    else if (!(s.id === 0 && customName(bytes, s) === 'name')) out.bytes(bytes.subarray(s.offset, s.end));
  }
  for (const id of replaced.keys()) if (!written.has(id)) emit(id);
  return { bytes: out.result().slice(), fuel: fuelName };
}

/** `fuel -= 1; if (fuel == 0) fuel = poll();` — stack-neutral, so it fits anywhere an instruction may start. */
function checkSequence(fuel: number, poll: number): Uint8Array {
  const g = leb(fuel);
  return Uint8Array.of(
    0x23, ...g, 0x41, 0x01, 0x6b, 0x24, ...g, // global.get; i32.const 1; i32.sub; global.set
    0x23, ...g, 0x45, 0x04, 0x40, // global.get; i32.eqz; if
    0x10, ...leb(poll), 0x24, ...g, // call poll; global.set
    0x0b, // end
  );
}

function customName(bytes: Uint8Array, s: WasmSection): string {
  return sectionReader(bytes, s).name();
}

/** Copy a constant expression up to its `end`, renumbering `ref.func`. */
function copyConstExpr(bytes: Uint8Array, r: Reader, out: Writer, renumber: (index: number) => number): void {
  for (;;) {
    const at = r.pos;
    const op = r.byte();
    if (op === 0xd2) {
      out.byte(0xd2);
      out.u32(renumber(r.u32()));
      continue;
    }
    switch (op) {
      case 0x0b: break;
      case 0x41: r.s32(); break;
      case 0x42: r.s64(); break;
      case 0x43: r.skip(4); break;
      case 0x44: r.skip(8); break;
      case 0x23: r.u32(); break;
      case 0xd0: r.skipLeb(5); break;
      case 0x6a: case 0x6b: case 0x6c: case 0x7c: case 0x7d: case 0x7e: break;
      case 0xfd:
        if (r.u32() !== 12) r.fail('unsupported SIMD instruction in a constant expression', at);
        r.skip(16);
        break;
      default:
        r.fail(`unsupported instruction 0x${op.toString(16)} in a constant expression`, at);
    }
    out.bytes(bytes.subarray(at, r.pos));
    if (op === 0x0b) return;
  }
}

/** The element section with its function indices renumbered (all eight segment forms). */
function rewriteElements(bytes: Uint8Array, s: WasmSection, renumber: (index: number) => number): Writer {
  const r = sectionReader(bytes, s);
  const w = new Writer();
  const count = r.count();
  w.u32(count);
  const copy = (from: number): void => w.bytes(bytes.subarray(from, r.pos));
  for (let n = count; n > 0; n--) {
    const flags = r.u32();
    w.u32(flags);
    if (flags > 7) r.fail(`unknown element segment flags ${flags}`);
    if (flags === 2 || flags === 6) {
      const at = r.pos;
      r.u32(); // table
      copy(at);
    }
    if ((flags & 1) === 0) copyConstExpr(bytes, r, w, renumber); // active: offset
    const expressions = (flags & 4) !== 0;
    if ((flags & 3) !== 0) {
      // elemkind (a byte) or reftype
      const at = r.pos;
      if (expressions) valueType(r);
      else r.byte();
      copy(at);
    }
    const items = r.count();
    w.u32(items);
    for (let i = 0; i < items; i++) {
      if (expressions) copyConstExpr(bytes, r, w, renumber);
      else w.u32(renumber(r.u32()));
    }
  }
  if (!r.atEnd()) r.fail('bytes after the last entry');
  return w;
}

/** One function body with its checks added and its function indices renumbered. */
function rewriteBody(bytes: Uint8Array, start: number, end: number, check: Uint8Array, renumber: (index: number) => number, fuel: number): Uint8Array {
  const r = new Reader(bytes, start, end, 'code section');
  for (let n = r.count(); n > 0; n--) {
    r.u32();
    valueType(r);
  }
  const out = new Writer();
  out.bytes(bytes.subarray(start, r.pos)); // locals, unchanged
  out.bytes(check); // entry
  let copied = r.pos;
  const flush = (upTo: number): void => {
    out.bytes(bytes.subarray(copied, upTo));
    copied = upTo;
  };
  let depth = 0;
  while (!r.atEnd()) {
    const at = r.pos;
    const op = r.byte();
    switch (op) {
      case 0x03: // loop: the check goes first inside it, where every back edge lands
        blockType(r);
        depth++;
        flush(r.pos);
        out.bytes(check);
        continue;
      case 0x02: case 0x04: case 0x06:
        blockType(r);
        depth++;
        continue;
      case 0x0b:
        if (depth === 0) {
          if (!r.atEnd()) r.fail('code after the end of a function', at);
          flush(r.pos);
          return out.result().slice();
        }
        depth--;
        continue;
      case 0x18: // delegate ends a try block
        r.u32();
        depth--;
        continue;
      case 0x10: // call
      case 0xd2: { // ref.func
        const index = r.u32();
        flush(at);
        out.byte(op);
        out.u32(renumber(index));
        copied = r.pos;
        continue;
      }
      case 0x12: { // return_call: a loop made of tail calls never passes a loop head
        const index = r.u32();
        flush(at);
        out.bytes(check);
        out.byte(op);
        out.u32(renumber(index));
        copied = r.pos;
        continue;
      }
      case 0x23: // global.get
      case 0x24: // global.set
        // The original module has `fuel` globals: an index past them is invalid there, and
        // would name the countdown here (a module resetting it would never be stopped).
        if (r.u32() >= fuel) r.fail('global index out of range', at);
        continue;
      case 0x13: // return_call_indirect
      case 0x15: // return_call_ref
        flush(at);
        out.bytes(check);
        immediates(r, op);
        continue;
      case 0xfc: {
        const sub = r.u32();
        if (sub === 8) {
          r.u32(); // memory.init: data segment, memory
          r.byte();
        } else if (sub === 10) {
          r.byte(); // memory.copy: two memories
          r.byte();
        } else if (sub === 11) r.byte(); // memory.fill
        else prefixedImmediates(r, sub);
        continue;
      }
      case 0xfd: {
        const sub = r.u32();
        if (sub === 11) memarg(r); // v128.store
        else if (sub >= 88 && sub <= 91) {
          memarg(r); // lane stores
          r.byte();
        } else simdImmediates(r, sub);
        continue;
      }
      default:
        if (op >= 0x36 && op <= 0x3e) memarg(r); // stores (write tracking's own, in instrument.ts)
        else immediates(r, op);
    }
  }
  return r.fail('function body without its end', end);
}
