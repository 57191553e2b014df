/**
 * The one walk over a WebAssembly binary's sections, and the small readers every pass
 * over them needs (limits, constant expressions): the module reader and rewriter
 * (binary.ts), the write tracker (instrument.ts), the stop checks (stop-checks.ts) and
 * through them load-time preparation (sandbox/prepare.ts) all start here, so the section order and the header checks live
 * in one place.
 * @module
 */
import { Reader } from './cursor.ts';

/** Section names by id. */
export const SECTION_NAMES: readonly string[] = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'datacount', 'tag'];

/** Position of each section id in the order the binary format requires (custom sections: 0, anywhere). */
const SECTION_RANK: readonly number[] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6];

/** Where a section id must come in a module (custom sections: 0, anywhere). */
export function sectionRank(id: number): number {
  return SECTION_RANK[id] ?? Number.POSITIVE_INFINITY;
}

/** One section of a module. */
export interface WasmSection {
  id: number;
  /** `type`, `code`, …; a custom section is `custom`. */
  name: string;
  /** Where the section starts (its id byte). */
  offset: number;
  /** Where its content starts. */
  contentOffset: number;
  /** Bytes of content. */
  size: number;
  /** Where its content ends (the next section's offset). */
  end: number;
}

/**
 * The sections of `bytes`, after checking the header, that every size stays inside the
 * module, and that the known sections appear once each in the required order.
 * @throws InvalidWasmError (`ERR_INVALID_WASM`) naming the section and offset.
 */
export function walkSections(bytes: Uint8Array): WasmSection[] {
  const top = new Reader(bytes, 0, bytes.length, 'header');
  if (bytes.length < 8) top.fail(`module is only ${bytes.length} bytes long`, 0);
  if (bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) top.fail('bad magic number, not a WebAssembly module', 0);
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    top.fail(`unsupported binary version ${[4, 5, 6, 7].map((i) => bytes[i]!.toString(16).padStart(2, '0')).join(' ')} (components and future versions are not modules)`, 4);
  }
  top.skip(8);
  const sections: WasmSection[] = [];
  let lastRank = 0;
  while (!top.atEnd()) {
    top.section = 'section header';
    const offset = top.pos;
    const id = top.byte();
    const name = SECTION_NAMES[id];
    if (name === undefined) top.fail(`unknown section id ${id}`, offset);
    top.section = `${name} section`;
    const size = top.u32();
    const contentOffset = top.pos;
    if (size > bytes.length - contentOffset) top.fail(`section size ${size} runs past the end of the module (${bytes.length - contentOffset} bytes left)`, offset);
    top.skip(size);
    if (id !== 0) {
      const rank = SECTION_RANK[id]!;
      if (rank <= lastRank) top.fail(lastRank === rank ? 'duplicate section' : 'section out of order', offset);
      lastRank = rank;
    }
    sections.push({ id, name, offset, contentOffset, size, end: contentOffset + size });
  }
  return sections;
}

/** A reader over a section's content that names the section in its errors. */
export function sectionReader(bytes: Uint8Array, s: WasmSection): Reader {
  return new Reader(bytes, s.contentOffset, s.end, `${s.name} section`);
}

/**
 * True for a binary with the wasm magic but another version: a component, or a core
 * format after version 1. The rewriting passes leave those alone instead of refusing them.
 */
export function isOtherWasmVersion(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d && bytes[4] !== 1;
}

/**
 * A section's entries after their count, each passed over by `skip`: the count and the
 * entries' bytes, to copy into a rewritten section ([0, empty] when there is no section).
 */
export function sectionEntries(bytes: Uint8Array, s: WasmSection | undefined, skip: (r: Reader) => void): [number, Uint8Array] {
  if (!s) return [0, new Uint8Array(0)];
  const r = sectionReader(bytes, s);
  const count = r.count();
  const at = r.pos;
  for (let n = count; n > 0; n--) skip(r);
  if (!r.atEnd()) r.fail('bytes after the last entry');
  return [count, bytes.subarray(at, r.pos)];
}

/** Limits of a memory or table: flag bit 0 = has max, bit 1 = shared, bit 2 = 64-bit. */
export interface Limits {
  flags: number;
  min: number;
  max?: number;
}

/**
 * Limits, refusing flags outside `allowed` (memories: 0–7; tables: 0, 1, 4, 5).
 * @throws InvalidWasmError on flags not allowed or a truncated number.
 */
export function readLimits(r: Reader, what: 'memory' | 'table'): Limits {
  const at = r.pos;
  const flags = r.byte();
  const ok = what === 'memory' ? flags <= 7 : flags === 0 || flags === 1 || flags === 4 || flags === 5;
  if (!ok) r.fail(`unsupported ${what} flags 0x${flags.toString(16)}`, at);
  const wide = (flags & 4) !== 0;
  const min = wide ? r.u64() : r.u32();
  return (flags & 1) !== 0 ? { flags, min, max: wide ? r.u64() : r.u32() } : { flags, min };
}

/**
 * Skip a constant expression (global, table, element and data initialisers) up to its
 * `end`: the MVP constants, `global.get`, `ref.func`, `ref.null`, extended-const
 * arithmetic and `v128.const`.
 * @throws InvalidWasmError on any other instruction.
 */
export function skipConstExpr(r: Reader): void {
  for (;;) {
    const at = r.pos;
    const op = r.byte();
    switch (op) {
      case 0x0b: return;
      case 0x41: r.s32(); break;
      case 0x42: r.s64(); break;
      case 0x43: r.skip(4); break;
      case 0x44: r.skip(8); break;
      case 0x23: r.u32(); break; // global.get
      case 0xd2: r.u32(); break; // ref.func
      case 0xd0: r.skipLeb(5); break; // ref.null heap type (s33)
      // Extended constant expressions: i32/i64 add, sub, mul.
      case 0x6a: case 0x6b: case 0x6c: case 0x7c: case 0x7d: case 0x7e: break;
      case 0xfd: {
        const sub = r.u32();
        if (sub !== 12) r.fail(`unsupported SIMD instruction ${sub} in a constant expression`, at);
        r.skip(16);
        break;
      }
      default:
        r.fail(`unsupported instruction 0x${op.toString(16)} in a constant expression`, at);
    }
  }
}
