/**
 * The shape of a WebAssembly module as the sandbox port describes it: signatures,
 * imports, exports, memories, tables and sections. Plain data, so it crosses RPC. The
 * binary reader in shared/wasm/ produces it; ports and their callers only read it, which
 * is why the types live here and not beside the reader.
 * @module
 */

/** A value type of the core spec plus SIMD and reference types. */
export type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';

/** A function signature. */
export interface FuncType {
  params: ValueType[];
  results: ValueType[];
}

/** What an import or export refers to. */
export type ExternalKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

/** The type of a global. */
export interface GlobalType {
  valueType: ValueType;
  mutable: boolean;
}

/** One entry of the import section. */
export interface ImportInfo {
  module: string;
  name: string;
  kind: ExternalKind;
  /** For functions (and tags): the signature. */
  type?: FuncType;
  /** For globals. */
  global?: GlobalType;
}

/** One entry of the export section, with its type resolved through the index spaces. */
export interface ExportInfo {
  name: string;
  kind: ExternalKind;
  /** Index in the kind's index space (imports first, then definitions). */
  index: number;
  /** For functions (and tags): the signature. */
  type?: FuncType;
  /** For globals. */
  global?: GlobalType;
}

/** A memory's limits, in 64 KiB pages. */
export interface MemoryInfo {
  /** True when the host supplies the memory through an import. */
  imported: boolean;
  min: number;
  max?: number;
  shared: boolean;
  memory64: boolean;
}

/** A table's limits, in elements. */
export interface TableInfo {
  /** True when the host supplies the table through an import. */
  imported: boolean;
  /** True for `funcref` elements, false for `externref`. */
  funcref: boolean;
  min: number;
  max?: number;
}

/** The data section's segments: how many, and their bytes added up. */
export interface DataInfo {
  segments: number;
  bytes: number;
}

/** A global defined by the module (imported globals are not listed). */
export interface GlobalInfo {
  /** Index in the global index space: imported globals come first. */
  index: number;
  valueType: ValueType;
  mutable: boolean;
  /** The first export name of this global, if it is exported. */
  exportedAs?: string;
}

/** Where a section sits in the binary; `offset` is its id byte, `size` the content size. */
export interface SectionInfo {
  id: number;
  /** `type`, `import`, …, or `custom:<name>` for custom sections. */
  name: string;
  offset: number;
  /** Offset of the content, after the id and the size. */
  contentOffset: number;
  size: number;
}

/** What `parseModule` (shared/wasm/binary.ts) learns about a module. Plain data, so it can cross RPC. */
export interface ModuleInfo {
  /** Every entry of the type section (only function types are supported). */
  types: FuncType[];
  imports: ImportInfo[];
  exports: ExportInfo[];
  /** Memory 0, defined or imported, or null when the module has no memory. */
  memory: MemoryInfo | null;
  /** All memories, imported first (more than one only with multi-memory). */
  memories: MemoryInfo[];
  /** Defined globals, in index order. */
  globals: GlobalInfo[];
  /** Imported globals (they count against a host's budget of globals too). */
  importedGlobalCount: number;
  /** All tables, imported first. */
  tables: TableInfo[];
  /** Data segments (what instantiation copies into memory; passive ones included). */
  data: DataInfo;
  /** Imported plus defined functions. */
  functionCount: number;
  importedFunctionCount: number;
  /** Function index of the start function, if any. */
  startFunction?: number;
  /** Number of data segments announced by the data count section, if present. */
  dataCount?: number;
  /** Names of the custom sections, in order (for example `name`). */
  customSections: string[];
  sections: SectionInfo[];
}
