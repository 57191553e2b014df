/**
 * A small reader and rewriter for the WebAssembly binary format (core spec, version 1).
 *
 * The JS API tells a host the names of a module's imports and exports but not their
 * types, and it offers no way to reach globals a module keeps to itself. The sandbox
 * needs both: function signatures to marshal calls, a memory cap it controls, and every
 * mutable global exported so that a running instance's state can be captured and put
 * into a fresh instance elsewhere (live migration). This file reads just enough of the
 * binary for that and rewrites only the table, memory and export sections; everything else is
 * copied byte for byte, and code bodies are skipped by size, never decoded.
 *
 * It checks the structure it walks (bounds, LEB128 encodings, section order and sizes,
 * indices it resolves) but is not a validator: run the result through the engine.
 * Over 400 lines because reading and rewriting share one set of section rules; split,
 * each half would need the other's internals. The cursors are in cursor.ts; the section
 * walk, limits and constant expressions (shared with instrument.ts) in sections.ts;
 * decoding code bodies, to track the writes a call makes, in instrument.ts.
 * @module
 */

import { defineError, InvalidParamsError } from '../errors.ts';
import type { DataInfo, ExportInfo, ExternalKind, FuncType, GlobalInfo, GlobalType, ImportInfo, MemoryInfo, ModuleInfo, SectionInfo, TableInfo, ValueType } from '../ports/wasm-module.ts';
import { InvalidWasmError, Reader, Writer } from './cursor.ts';
import { type Limits, readLimits, sectionRank, sectionReader, skipConstExpr, walkSections } from './sections.ts';

/** The bytes are not a WebAssembly module this reader understands (data: `{ section, offset }`). */
export { InvalidWasmError };

/** A module's declared minimum memory is above the host's limit (data: `{ minPages, limitPages }`). */
export const MemoryLimitError = defineError('ERR_MEMORY_LIMIT', 'MemoryLimitError');

/** The module shapes live in ports/ (what the sandbox port promises); readers of a binary get them here too. */
export type { DataInfo, ExportInfo, ExternalKind, FuncType, GlobalInfo, GlobalType, ImportInfo, MemoryInfo, ModuleInfo, SectionInfo, TableInfo, ValueType };

/** What {@link rewriteModule} should change. */
export interface RewriteOptions {
  /** Cap every defined memory at this many pages; a module whose minimum is above it is refused. */
  maxMemoryPages?: number;
  /**
   * Cap every defined table at this many elements, so `table.grow` cannot pass it (it
   * returns -1, as for any failed growth). A table whose minimum is above it keeps its
   * minimum as its maximum: refusing it is the load-time budget's job.
   */
  maxTableElements?: number;
  /** Export every defined mutable global that is not exported yet. */
  exportMutableGlobals?: boolean;
  /** Export every defined funcref table that is not exported yet (its contents are state too). */
  exportTables?: boolean;
}

/** A defined funcref table reachable as an export of the rewritten module. */
export interface TableExport {
  name: string;
  /** Index in the table index space. */
  index: number;
}

/** A defined mutable global reachable as an export of the rewritten module. */
export interface GlobalExport {
  name: string;
  /** Index in the global index space. */
  index: number;
  valueType: ValueType;
}

/** The rewritten module and what the host needs to know about it. */
export interface RewriteResult {
  /** A new array (never the input), even when nothing had to change. */
  bytes: Uint8Array<ArrayBuffer>;
  /**
   * Every defined mutable global the output exports, in index order: the ones added by
   * `exportMutableGlobals` and those the module already exported (under their own name).
   */
  globalExports: GlobalExport[];
  /**
   * Every defined funcref table the output exports: those added by `exportTables` (as
   * `__lm_t<index>`) and those the module already exported. Empty without `exportTables`.
   */
  tableExports: TableExport[];
  /**
   * The maximum of memory 0 after the rewrite, when `maxMemoryPages` was given and
   * memory 0 is defined by the module. Undefined when the memory is imported (the host
   * must cap the Memory it passes in) or when there is no memory.
   */
  memoryMaxPages?: number;
  /** The parsed input module (exports as they were before the rewrite). */
  module: ModuleInfo;
}

/** Prefix of the export names {@link rewriteModule} gives to unexported mutable globals. */
export const GLOBAL_EXPORT_PREFIX = '__lm_g';

/** Prefix of the export names {@link rewriteModule} gives to unexported funcref tables. */
export const TABLE_EXPORT_PREFIX = '__lm_t';

/** A decoded LEB128 number and the offset just past it. */
export interface LebValue<T> {
  value: T;
  next: number;
}

// ------------------------------------------------------------------- reading

const EXPORT_RANK = sectionRank(7);

const KINDS: ExternalKind[] = ['function', 'table', 'memory', 'global', 'tag'];
const KIND_CODE: Record<ExternalKind, number> = { function: 0, table: 1, memory: 2, global: 3, tag: 4 };

const VALUE_TYPES: Record<number, ValueType> = {
  0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref',
};

const PAGES_32 = 65536;
const PAGES_64 = 2 ** 48;


function valueType(r: Reader): ValueType {
  const at = r.pos;
  const code = r.byte();
  const type = VALUE_TYPES[code];
  if (type === undefined) r.fail(`unsupported value type 0x${code.toString(16)}`, at);
  return type;
}

function funcType(r: Reader): FuncType {
  const at = r.pos;
  const form = r.byte();
  if (form !== 0x60) {
    r.fail(form === 0x4e || form === 0x4f || form === 0x50 || form === 0x5e || form === 0x5f
      ? `unsupported type definition 0x${form.toString(16)} (GC proposal)`
      : `expected a function type (0x60), found 0x${form.toString(16)}`, at);
  }
  const params: ValueType[] = [];
  for (let n = r.count(); n > 0; n--) params.push(valueType(r));
  const results: ValueType[] = [];
  for (let n = r.count(); n > 0; n--) results.push(valueType(r));
  return { params, results };
}


/** Reads a table type. */
function tableType(r: Reader, imported: boolean): TableInfo {
  const at = r.pos;
  const ref = r.byte();
  if (ref !== 0x70 && ref !== 0x6f) r.fail(`unsupported table element type 0x${ref.toString(16)}`, at);
  const limits = readLimits(r, 'table');
  const info: TableInfo = { imported, funcref: ref === 0x70, min: limits.min };
  if (limits.max !== undefined) info.max = limits.max;
  return info;
}

/** Count the data segments and add up their bytes; the bytes themselves are skipped. */
function dataSegments(r: Reader): DataInfo {
  const info: DataInfo = { segments: 0, bytes: 0 };
  for (let n = r.count(); n > 0; n--) {
    const at = r.pos;
    const flags = r.u32();
    if (flags === 2) r.u32(); // memory index
    else if (flags !== 0 && flags !== 1) r.fail(`unsupported data segment flags ${flags}`, at);
    if (flags !== 1) skipConstExpr(r);
    const size = r.u32();
    r.skip(size);
    info.segments++;
    info.bytes += size;
  }
  return info;
}

interface ParsedModule {
  info: ModuleInfo;
  /** Limits of the defined memories, in memory-section order. */
  definedMemories: Limits[];
  /** Table indices of the defined funcref tables. */
  definedFuncTables: number[];
  /** Limits of the defined tables and where they sit in the binary, in table-section order. */
  definedTables: (Limits & { limitsStart: number; limitsEnd: number })[];
  tableSection?: SectionInfo;
  memorySection?: SectionInfo;
  exportSection?: SectionInfo;
  /** Where the export entries start (after the count). */
  exportEntriesOffset: number;
}

function parse(bytes: Uint8Array): ParsedModule {
  if (!(bytes instanceof Uint8Array)) throw new InvalidWasmError('invalid wasm: expected a Uint8Array', { section: 'header', offset: 0 });

  const types: FuncType[] = [];
  const imports: ImportInfo[] = [];
  const exports: ExportInfo[] = [];
  const memories: MemoryInfo[] = [];
  const definedMemories: Limits[] = [];
  const globals: GlobalInfo[] = [];
  const importedGlobals: GlobalType[] = [];
  const importedFuncTypes: FuncType[] = [];
  // Type indices of the defined functions; resolved to FuncTypes only for exports.
  let funcTypeIndices = new Uint32Array(0);
  const tagTypes: FuncType[] = [];
  const customSections: string[] = [];
  const sections: SectionInfo[] = [];
  const exportOffsets: number[] = [];
  let tableCount = 0;
  const tables: TableInfo[] = [];
  let data: DataInfo = { segments: 0, bytes: 0 };
  // Indices (in the table index space) of the defined tables holding funcrefs.
  const definedFuncTables: number[] = [];
  const definedTables: ParsedModule['definedTables'] = [];
  let tableSection: SectionInfo | undefined;
  let codeCount = 0;
  let startFunction: number | undefined;
  let dataCount: number | undefined;
  let memorySection: SectionInfo | undefined;
  let exportSection: SectionInfo | undefined;
  let exportEntriesOffset = 0;

  const typeAt = (r: Reader, index: number, at: number): FuncType => {
    const type = types[index];
    if (type === undefined) r.fail(`type index ${index} out of range (${types.length} types)`, at);
    return type;
  };

  for (const walked of walkSections(bytes)) {
    const { id, name, offset, contentOffset, size, end } = walked;
    const r = sectionReader(bytes, walked);
    const section: SectionInfo = { id, name, offset, contentOffset, size };

    if (id === 0) {
      const customName = r.name();
      section.name = `custom:${customName}`;
      customSections.push(customName);
      sections.push(section);
      continue;
    }
    sections.push(section);

    switch (id) {
      case 1:
        for (let n = r.count(); n > 0; n--) types.push(funcType(r));
        break;
      case 2:
        for (let n = r.count(); n > 0; n--) {
          const module = r.name();
          const field = r.name();
          const kindAt = r.pos;
          const kindCode = r.byte();
          const kind = KINDS[kindCode];
          if (kind === undefined) r.fail(`unknown import kind ${kindCode}`, kindAt);
          const entry: ImportInfo = { module, name: field, kind };
          if (kind === 'function') {
            const at = r.pos;
            entry.type = typeAt(r, r.u32(), at);
            importedFuncTypes.push(entry.type);
          } else if (kind === 'table') {
            tables.push(tableType(r, true));
            tableCount++;
          } else if (kind === 'memory') {
            const limits = readLimits(r, 'memory');
            memories.push(memoryInfo(limits, true));
          } else if (kind === 'global') {
            const type = globalType(r);
            entry.global = type;
            importedGlobals.push(type);
          } else {
            entry.type = tagType(r, typeAt);
            tagTypes.push(entry.type);
          }
          imports.push(entry);
        }
        break;
      case 3: {
        funcTypeIndices = new Uint32Array(r.count());
        for (let i = 0; i < funcTypeIndices.length; i++) {
          const at = r.pos;
          const index = r.u32();
          if (index >= types.length) r.fail(`type index ${index} out of range (${types.length} types)`, at);
          funcTypeIndices[i] = index;
        }
        break;
      }
      case 4:
        tableSection = section;
        for (let n = r.count(); n > 0; n--) {
          // 0x40 0x00 introduces a table with an explicit initialiser expression.
          const prefixed = r.pos < end && bytes[r.pos] === 0x40;
          if (prefixed) {
            r.byte();
            const at = r.pos;
            if (r.byte() !== 0) r.fail('expected 0x00 after 0x40 in a table definition', at);
          }
          // Its limits start after the element type byte.
          const limitsStart = r.pos + 1;
          const table = tableType(r, false);
          definedTables.push({ flags: bytes[limitsStart]!, min: table.min, ...(table.max === undefined ? {} : { max: table.max }), limitsStart, limitsEnd: r.pos });
          tables.push(table);
          if (table.funcref) definedFuncTables.push(tableCount);
          if (prefixed) skipConstExpr(r);
          tableCount++;
        }
        break;
      case 5:
        memorySection = section;
        for (let n = r.count(); n > 0; n--) {
          const limits = readLimits(r, 'memory');
          definedMemories.push(limits);
          memories.push(memoryInfo(limits, false));
        }
        break;
      case 13:
        for (let n = r.count(); n > 0; n--) tagTypes.push(tagType(r, typeAt));
        break;
      case 6:
        for (let n = r.count(); n > 0; n--) {
          const type = globalType(r);
          skipConstExpr(r);
          globals.push({ index: importedGlobals.length + globals.length, valueType: type.valueType, mutable: type.mutable });
        }
        break;
      case 7:
        exportSection = section;
        for (let n = r.count(); n > 0; n--) {
          if (exports.length === 0) exportEntriesOffset = r.pos;
          exportOffsets.push(r.pos);
          const exportName = r.name();
          const kindAt = r.pos;
          const kindCode = r.byte();
          const kind = KINDS[kindCode];
          if (kind === undefined) r.fail(`unknown export kind ${kindCode}`, kindAt);
          const index = r.u32();
          exports.push({ name: exportName, kind, index });
        }
        if (exports.length === 0) exportEntriesOffset = r.pos;
        break;
      case 8:
        startFunction = r.u32();
        break;
      case 12:
        dataCount = r.u32();
        break;
      case 10:
        codeCount = r.count();
        r.skip(end - r.pos);
        break;
      case 11:
        data = dataSegments(r);
        break;
      default:
        // Element segments hold nothing this reader needs.
        r.skip(end - r.pos);
    }
    if (r.pos !== end) r.fail(`section has ${end - r.pos} bytes left over after its entries`);
  }

  const end = new Reader(bytes, bytes.length, bytes.length, 'module');
  if (codeCount !== funcTypeIndices.length) {
    end.fail(`function section declares ${funcTypeIndices.length} functions but the code section has ${codeCount} bodies`);
  }
  const functionCount = importedFuncTypes.length + funcTypeIndices.length;
  if (startFunction !== undefined && startFunction >= functionCount) end.fail(`start function ${startFunction} does not exist`);

  // Resolve exports after every section is read: the export section comes before code,
  // but the counts it indexes into are all known by then anyway.
  const exportReader = new Reader(bytes, 0, bytes.length, 'export section');
  const counts: Record<ExternalKind, number> = {
    function: functionCount,
    table: tableCount,
    memory: memories.length,
    global: importedGlobals.length + globals.length,
    tag: tagTypes.length,
  };
  const names = new Set<string>();
  exports.forEach((entry, i) => {
    const at = exportOffsets[i]!;
    if (names.has(entry.name)) exportReader.fail(`duplicate export name "${entry.name}"`, at);
    names.add(entry.name);
    if (entry.index >= counts[entry.kind]) exportReader.fail(`export "${entry.name}" refers to ${entry.kind} ${entry.index}, which does not exist`, at);
    if (entry.kind === 'function') {
      entry.type = entry.index < importedFuncTypes.length ? importedFuncTypes[entry.index]! : types[funcTypeIndices[entry.index - importedFuncTypes.length]!]!;
    } else if (entry.kind === 'global') {
      const defined = entry.index - importedGlobals.length;
      const global = defined < 0 ? importedGlobals[entry.index]! : globals[defined]!;
      entry.global = { valueType: global.valueType, mutable: global.mutable };
      if (defined >= 0) globals[defined]!.exportedAs ??= entry.name;
    } else if (entry.kind === 'tag') {
      entry.type = tagTypes[entry.index]!;
    }
  });

  const info: ModuleInfo = {
    types,
    imports,
    exports,
    memory: memories[0] ?? null,
    memories,
    globals,
    importedGlobalCount: importedGlobals.length,
    tables,
    data,
    functionCount,
    importedFunctionCount: importedFuncTypes.length,
    customSections,
    sections,
  };
  if (startFunction !== undefined) info.startFunction = startFunction;
  if (dataCount !== undefined) info.dataCount = dataCount;
  const parsed: ParsedModule = { info, definedMemories, definedFuncTables, definedTables, exportEntriesOffset };
  if (tableSection) parsed.tableSection = tableSection;
  if (memorySection) parsed.memorySection = memorySection;
  if (exportSection) parsed.exportSection = exportSection;
  return parsed;
}

function memoryInfo(limits: Limits, imported: boolean): MemoryInfo {
  const info: MemoryInfo = { imported, min: limits.min, shared: (limits.flags & 2) !== 0, memory64: (limits.flags & 4) !== 0 };
  if (limits.max !== undefined) info.max = limits.max;
  return info;
}

function globalType(r: Reader): GlobalType {
  const valueTypeCode = valueType(r);
  const at = r.pos;
  const mut = r.byte();
  if (mut > 1) r.fail(`invalid global mutability ${mut}`, at);
  return { valueType: valueTypeCode, mutable: mut === 1 };
}

function tagType(r: Reader, typeAt: (r: Reader, index: number, at: number) => FuncType): FuncType {
  const at = r.pos;
  if (r.byte() !== 0) r.fail('unsupported tag attribute', at);
  const indexAt = r.pos;
  return typeAt(r, r.u32(), indexAt);
}

/**
 * Read a module's structure: imports and exports with their types, memories, defined
 * globals, start function. Code bodies and data are skipped by size.
 * @throws InvalidWasmError (`ERR_INVALID_WASM`) when the bytes are malformed or use an
 *   encoding this reader does not support (GC types, custom page sizes); the message
 *   names the section and the byte offset.
 */
export function parseModule(bytes: Uint8Array): ModuleInfo {
  return parse(bytes).info;
}

// ------------------------------------------------------------------- writing

function encodeSection(id: number, content: Uint8Array): Uint8Array {
  const out = new Writer();
  out.byte(id);
  out.u32(content.length);
  out.bytes(content);
  return out.result();
}

function checkPageLimit(value: number, what = 'maxMemoryPages'): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidParamsError(`${what} must be a non-negative integer, got ${String(value)}`);
  }
}

/**
 * Rewrite a module for the sandbox. Only the table, memory and export sections change (an
 * export section is added if the module has none); every other section is copied byte
 * for byte, so function indices, code and names stay as they were.
 *
 * - `maxMemoryPages`: every defined memory gets `max = min(its max, limit)` (a max is
 *   added if it had none; the limit is also clamped to what the memory's index type can
 *   address). Imported memories are left alone: the host caps the Memory it supplies.
 * - `maxTableElements`: likewise every defined table gets a maximum of at most the limit
 *   (never below its minimum), so `table.grow` past it fails in the module.
 * - `exportMutableGlobals`: every defined mutable global that is not exported yet is
 *   exported as `__lm_g<index>` (with a numeric suffix in the unlikely case that name
 *   is taken). Imported globals are not re-exported: the host already holds them.
 * - `exportTables`: likewise every defined funcref table, as `__lm_t<index>`, so that
 *   entries a module changed at run time (`table.set`, `table.grow`) can be captured.
 * @throws MemoryLimitError (`ERR_MEMORY_LIMIT`) when a defined memory's minimum is above
 *   `maxMemoryPages`, so a module that needs more than allowed is refused at load.
 * @throws InvalidWasmError (`ERR_INVALID_WASM`) as {@link parseModule} does.
 * @throws InvalidParamsError (`ERR_INVALID_PARAMS`) for a negative or fractional limit.
 */
export function rewriteModule(bytes: Uint8Array, options: RewriteOptions = {}): RewriteResult {
  const parsed = parse(bytes);
  const { info } = parsed;
  const result: RewriteResult = { bytes: new Uint8Array(0), globalExports: [], tableExports: [], module: info };

  let memoryContent: Uint8Array | undefined;
  if (options.maxMemoryPages !== undefined) {
    const limit = options.maxMemoryPages;
    checkPageLimit(limit);
    const out = new Writer();
    out.u32(parsed.definedMemories.length);
    let changed = false;
    parsed.definedMemories.forEach((memory, i) => {
      const wide = (memory.flags & 4) !== 0;
      const cap = Math.min(limit, wide ? PAGES_64 : PAGES_32);
      if (memory.min > cap) {
        throw new MemoryLimitError(`memory ${i} needs at least ${memory.min} pages (64 KiB each) but the limit is ${cap}`, { minPages: memory.min, limitPages: cap });
      }
      const max = memory.max === undefined ? cap : Math.min(memory.max, cap);
      if (max !== memory.max) changed = true;
      out.byte(memory.flags | 1);
      if (wide) {
        out.u64(memory.min);
        out.u64(max);
      } else {
        out.u32(memory.min);
        out.u32(max);
      }
      if (i === 0 && info.memory !== null && !info.memory.imported) result.memoryMaxPages = max;
    });
    if (changed) memoryContent = out.result();
  }

  let tableContent: Uint8Array | undefined;
  if (options.maxTableElements !== undefined && parsed.tableSection) {
    const limit = options.maxTableElements;
    checkPageLimit(limit, 'maxTableElements');
    const section = parsed.tableSection;
    const out = new Writer();
    let copied = section.contentOffset;
    let changed = false;
    for (const table of parsed.definedTables) {
      const wide = (table.flags & 4) !== 0;
      const max = Math.max(table.min, Math.min(table.max ?? limit, limit));
      if (max === table.max) continue;
      changed = true;
      out.bytes(bytes.subarray(copied, table.limitsStart));
      out.byte(table.flags | 1);
      if (wide) {
        out.u64(table.min);
        out.u64(max);
      } else {
        out.u32(table.min);
        out.u32(max);
      }
      copied = table.limitsEnd;
    }
    out.bytes(bytes.subarray(copied, section.contentOffset + section.size));
    if (changed) tableContent = out.result();
  }

  let exportContent: Uint8Array | undefined;
  const taken = new Set(info.exports.map((e) => e.name));
  const added: GlobalExport[] = [];
  for (const global of info.globals) {
    if (!global.mutable) continue;
    if (global.exportedAs !== undefined) {
      result.globalExports.push({ name: global.exportedAs, index: global.index, valueType: global.valueType });
    } else if (options.exportMutableGlobals) {
      let name = `${GLOBAL_EXPORT_PREFIX}${global.index}`;
      for (let n = 1; taken.has(name); n++) name = `${GLOBAL_EXPORT_PREFIX}${global.index}_${n}`;
      taken.add(name);
      const entry: GlobalExport = { name, index: global.index, valueType: global.valueType };
      added.push(entry);
      result.globalExports.push(entry);
    }
  }
  const addedTables: TableExport[] = [];
  if (options.exportTables) {
    for (const index of parsed.definedFuncTables) {
      const existing = info.exports.find((e) => e.kind === 'table' && e.index === index);
      if (existing) {
        result.tableExports.push({ name: existing.name, index });
        continue;
      }
      let name = `${TABLE_EXPORT_PREFIX}${index}`;
      for (let n = 1; taken.has(name); n++) name = `${TABLE_EXPORT_PREFIX}${index}_${n}`;
      taken.add(name);
      addedTables.push({ name, index });
      result.tableExports.push({ name, index });
    }
  }
  if (added.length > 0 || addedTables.length > 0) {
    const out = new Writer();
    out.u32(info.exports.length + added.length + addedTables.length);
    const section = parsed.exportSection;
    if (section) out.bytes(bytes.subarray(parsed.exportEntriesOffset, section.contentOffset + section.size));
    for (const entry of added) {
      out.name(entry.name);
      out.byte(KIND_CODE.global);
      out.u32(entry.index);
    }
    for (const entry of addedTables) {
      out.name(entry.name);
      out.byte(KIND_CODE.table);
      out.u32(entry.index);
    }
    exportContent = out.result();
  }

  // Splice the new sections in: everything between them is copied as whole ranges.
  const pieces: Uint8Array[] = [];
  let copied = 0;
  const splice = (start: number, end: number, replacement: Uint8Array): void => {
    pieces.push(bytes.subarray(copied, start), replacement);
    copied = end;
  };
  const tableSection = parsed.tableSection;
  if (tableContent && tableSection) splice(tableSection.offset, tableSection.contentOffset + tableSection.size, encodeSection(4, tableContent));
  const memorySection = parsed.memorySection;
  if (memoryContent && memorySection) splice(memorySection.offset, memorySection.contentOffset + memorySection.size, encodeSection(5, memoryContent));
  if (exportContent) {
    const section = parsed.exportSection;
    if (section) {
      splice(section.offset, section.contentOffset + section.size, encodeSection(7, exportContent));
    } else {
      // A new export section goes right after the last section that must precede it.
      let at = 8;
      for (const s of info.sections) {
        if (s.id !== 0 && sectionRank(s.id) < EXPORT_RANK) at = s.contentOffset + s.size;
      }
      splice(at, at, encodeSection(7, exportContent));
    }
  }
  pieces.push(bytes.subarray(copied));
  let total = 0;
  for (const piece of pieces) total += piece.length;
  const out = new Uint8Array(total);
  let pos = 0;
  for (const piece of pieces) {
    out.set(piece, pos);
    pos += piece.length;
  }
  result.bytes = out;
  return result;
}

// ------------------------------------------------------------------- LEB128 helpers

function lebReader(bytes: Uint8Array, offset: number): Reader {
  if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) throw new InvalidParamsError(`offset ${String(offset)} is outside the ${bytes.length} bytes`);
  return new Reader(bytes, offset, bytes.length, 'LEB128');
}

/**
 * Decode an unsigned 32-bit LEB128 at `offset` (at most 5 bytes; padding allowed as the
 * spec allows it). @throws InvalidWasmError when truncated or out of range.
 */
export function readU32Leb(bytes: Uint8Array, offset: number): LebValue<number> {
  const r = lebReader(bytes, offset);
  return { value: r.u32(), next: r.pos };
}

/** Decode a signed 32-bit LEB128 at `offset`. @throws InvalidWasmError when truncated or out of range. */
export function readS32Leb(bytes: Uint8Array, offset: number): LebValue<number> {
  const r = lebReader(bytes, offset);
  return { value: r.s32(), next: r.pos };
}

/** Decode a signed 64-bit LEB128 at `offset`. @throws InvalidWasmError when truncated or out of range. */
export function readS64Leb(bytes: Uint8Array, offset: number): LebValue<bigint> {
  const r = lebReader(bytes, offset);
  return { value: r.s64(), next: r.pos };
}

/** Encode an unsigned 32-bit integer as minimal LEB128. @throws InvalidParamsError outside 0..2^32-1. */
export function encodeU32Leb(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new InvalidParamsError(`not a u32: ${String(value)}`);
  const out = new Writer();
  out.u32(value);
  return out.result().slice();
}

/** Encode a signed 32-bit integer as minimal LEB128. @throws InvalidParamsError outside -2^31..2^31-1. */
export function encodeS32Leb(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new InvalidParamsError(`not an s32: ${String(value)}`);
  return encodeSigned(BigInt(value));
}

/** Encode a signed 64-bit integer as minimal LEB128. @throws InvalidParamsError outside -2^63..2^63-1. */
export function encodeS64Leb(value: bigint): Uint8Array {
  if (typeof value !== 'bigint' || BigInt.asIntN(64, value) !== value) throw new InvalidParamsError(`not an s64: ${String(value)}`);
  return encodeSigned(value);
}

function encodeSigned(value: bigint): Uint8Array {
  const out: number[] = [];
  let v = value;
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n; // arithmetic shift keeps the sign
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return Uint8Array.from(out);
  }
}
