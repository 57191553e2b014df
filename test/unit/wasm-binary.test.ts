// The WebAssembly binary reader and rewriter, checked against the committed sample
// modules and against the engine itself (WebAssembly.validate and real instances).
// Node-only: the samples are read from disk.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MeshError } from '../../shared/errors.ts';
import {
  encodeS32Leb, encodeS64Leb, encodeU32Leb, InvalidWasmError, MemoryLimitError, parseModule, readS32Leb, readS64Leb,
  readU32Leb, rewriteModule, type GlobalExport,
} from '../../shared/wasm/binary.ts';
import { tableBomb, tableGrower } from '../helpers/hostile-wasm.ts';

const MODULES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'modules');
const WASI = 'wasi_snapshot_preview1';
const SAMPLES = ['camera', 'fibo', 'fibo-pointers', 'grayscale', 'loop', 'memory-hog', 'stateful-fibo', 'trap', 'wasi-reader'];

function wasm(name: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(join(MODULES_DIR, name, `${name}.wasm`)));
}

/** Imports whose functions throw: the calls these tests make never reach the host. */
function stubImports(module: WebAssembly.Module): WebAssembly.Imports {
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    imports[imp.module] ??= {};
    imports[imp.module]![imp.name] = () => {
      throw new Error(`unexpected call to ${imp.module}.${imp.name}`);
    };
  }
  return imports;
}

function instantiate(bytes: Uint8Array<ArrayBuffer>, imports?: WebAssembly.Imports): WebAssembly.Instance {
  const module = new WebAssembly.Module(bytes);
  return new WebAssembly.Instance(module, imports ?? stubImports(module));
}

function call<R>(instance: WebAssembly.Instance, name: string, ...args: unknown[]): R {
  const f = instance.exports[name];
  if (typeof f !== 'function') throw new Error(`export ${name} is not a function`);
  return (f as (...a: unknown[]) => R)(...args);
}

function global(instance: WebAssembly.Instance, name: string): WebAssembly.Global {
  const g = instance.exports[name];
  if (!(g instanceof WebAssembly.Global)) throw new Error(`export ${name} is not a global`);
  return g;
}

function memory(instance: WebAssembly.Instance): WebAssembly.Memory {
  const m = instance.exports['memory'];
  if (!(m instanceof WebAssembly.Memory)) throw new Error('no exported memory');
  return m;
}

/** What the sandbox does on migration: copy memory and every mutable global into a fresh instance. */
function migrate(from: WebAssembly.Instance, to: WebAssembly.Instance, globals: GlobalExport[]): void {
  const src = memory(from);
  const dst = memory(to);
  const missing = (src.buffer.byteLength - dst.buffer.byteLength) / 65536;
  if (missing > 0) dst.grow(missing);
  new Uint8Array(dst.buffer).set(new Uint8Array(src.buffer));
  for (const g of globals) global(to, g.name).value = global(from, g.name).value;
}

function thrown(f: () => unknown): Error & { code?: string; data?: unknown } {
  try {
    f();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

// ------------------------------------------------------- hand-assembled modules

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const I32 = 0x7f;

function section(id: number, ...content: number[]): number[] {
  if (content.length > 127) throw new Error('keep hand-built sections under 128 bytes');
  return [id, content.length, ...content];
}
function str(text: string): number[] {
  return [text.length, ...Array.from(text, (c) => c.charCodeAt(0))];
}
function assemble(...sections: number[][]): Uint8Array<ArrayBuffer> {
  return new Uint8Array([...HEADER, ...sections.flat()]);
}

/** () -> i32 returning mutable global 0 (initially 7); no export section at all. */
const NO_EXPORTS = assemble(
  section(1, 1, 0x60, 0, 1, I32),
  section(3, 1, 0),
  section(6, 1, I32, 1, 0x41, 7, 0x0b),
  section(10, 1, 4, 0, 0x23, 0, 0x0b),
  section(0, ...str('note'), 1, 2, 3),
);

function sectionBytes(bytes: Uint8Array, name: string): Uint8Array | undefined {
  const s = parseModule(bytes).sections.find((x) => x.name === name);
  return s && bytes.slice(s.offset, s.contentOffset + s.size);
}

// ------------------------------------------------------------------- tests

describe('parseModule', () => {
  it('reads fibo\'s signatures and exactly its four WASI imports with their types', () => {
    const info = parseModule(wasm('fibo'));
    expect(info.imports).to.deep.equal([
      { module: WASI, name: 'environ_get', kind: 'function', type: { params: ['i32', 'i32'], results: ['i32'] } },
      { module: WASI, name: 'environ_sizes_get', kind: 'function', type: { params: ['i32', 'i32'], results: ['i32'] } },
      { module: WASI, name: 'fd_write', kind: 'function', type: { params: ['i32', 'i32', 'i32', 'i32'], results: ['i32'] } },
      { module: WASI, name: 'proc_exit', kind: 'function', type: { params: ['i32'], results: [] } },
    ]);
    const fibo = info.exports.find((e) => e.name === 'fibo');
    expect(fibo?.kind).to.equal('function');
    expect(fibo?.type).to.deep.equal({ params: ['i64'], results: ['i64'] });
    expect(info.exports.find((e) => e.name === '_initialize')?.type).to.deep.equal({ params: [], results: [] });
    expect(info.exports.find((e) => e.name === 'memory')).to.deep.equal({ name: 'memory', kind: 'memory', index: 0 });
    expect(info.memory).to.deep.equal({ imported: false, min: 2, shared: false, memory64: false });
    expect(info.globals).to.deep.equal([{ index: 0, valueType: 'i32', mutable: true }]);
    expect(info.importedFunctionCount).to.equal(4);
    expect(info.customSections).to.include('name');
  });

  it('reads fibo-pointers\' pointer-ABI signatures', () => {
    const types = Object.fromEntries(parseModule(wasm('fibo-pointers')).exports.map((e) => [e.name, e.type]));
    expect(types['alloc']).to.deep.equal({ params: ['i32'], results: ['i32'] });
    expect(types['fibo_from_pointers']).to.deep.equal({ params: ['i32', 'i32', 'i32'], results: ['i32'] });
  });

  it('finds the unexported mutable globals of grayscale and stateful-fibo', () => {
    const stateful = parseModule(wasm('stateful-fibo'));
    expect(stateful.globals).to.deep.equal([
      { index: 0, valueType: 'i64', mutable: true },
      { index: 1, valueType: 'i64', mutable: true },
    ]);
    expect(stateful.exports.find((e) => e.name === 'stateful_fibo')?.type).to.deep.equal({ params: [], results: ['i64'] });
    const gray = parseModule(wasm('grayscale'));
    expect(gray.globals).to.have.length(12);
    for (const g of gray.globals) expect(g).to.deep.equal({ index: g.index, valueType: 'i32', mutable: true });
    expect(gray.startFunction).to.be.a('number');
    expect(gray.dataCount).to.be.a('number');
  });

  it('agrees with the JS API on the names and kinds of every sample\'s imports and exports', () => {
    for (const name of SAMPLES) {
      const bytes = wasm(name);
      const module = new WebAssembly.Module(bytes);
      const info = parseModule(bytes);
      expect(info.imports.map((i) => [i.module, i.name, i.kind]), name)
        .to.deep.equal(WebAssembly.Module.imports(module).map((i) => [i.module, i.name, i.kind]));
      expect(info.exports.map((e) => [e.name, e.kind]), name)
        .to.deep.equal(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
      for (const e of info.exports) if (e.kind === 'function') expect(e.type, `${name}.${e.name}`).to.be.an('object');
    }
  });

  it('reads a hand-assembled module with an imported memory and globals', () => {
    const bytes = assemble(
      section(2, 3,
        ...str('env'), ...str('mem'), 0x02, 0x01, 1, 8,
        ...str('env'), ...str('g'), 0x03, 0x7e, 1,
        ...str('env'), ...str('c'), 0x03, 0x7c, 0),
      section(6, 1, 0x7d, 0, 0x43, 0, 0, 0x80, 0x3f, 0x0b),
    );
    expect(WebAssembly.validate(bytes)).to.equal(true);
    const info = parseModule(bytes);
    expect(info.memory).to.deep.equal({ imported: true, min: 1, max: 8, shared: false, memory64: false });
    expect(info.imports[1]).to.deep.equal({ module: 'env', name: 'g', kind: 'global', global: { valueType: 'i64', mutable: true } });
    expect(info.globals).to.deep.equal([{ index: 2, valueType: 'f32', mutable: false }]);
  });

  it('refuses garbage with ERR_INVALID_WASM naming what was wrong', () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(0), /only 0 bytes/],
      [new TextEncoder().encode('hello, world'), /bad magic/],
      [new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /unsupported binary version/],
      [new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), /unsupported binary version/],
      [assemble([0x0e, 0]), /unknown section id 14/],
      [assemble([0x01, 0x10, 0x01]), /type section: section size 16 runs past the end/],
      [assemble(section(1, 1, 0x60, 0)), /type section: unexpected end/],
      [assemble(section(1, 1, 0x60, 1)), /type section: count 1 is larger than the 0 bytes left/],
      [assemble(section(1, 0), section(1, 0)), /type section: duplicate section/],
      [assemble(section(3, 0), section(1, 0)), /type section: section out of order/],
      [assemble(section(1, 1, 0x60, 0, 0, 0xff)), /type section: section has 1 bytes left over/],
      [assemble(section(1, 1, 0x60, 1, 0x55, 0)), /unsupported value type 0x55/],
      [assemble(section(3, 1, 0)), /type index 0 out of range/],
      [assemble(section(3, 0xff, 0xff, 0xff, 0xff, 0x0f)), /function section: count 4294967295 is larger than the 0 bytes left/],
      [assemble(section(1, 0x80, 0x80, 0x80, 0x80, 0x10)), /u32 LEB128 out of range/],
      [assemble(section(2, 1, 1, 0xc3, 1, 0x61, 0x03, I32, 0)), /name is not valid UTF-8/],
      [assemble(section(1, 1, 0x60, 0, 0), section(3, 1, 0)), /module: function section declares 1 functions but the code section has 0/],
      [assemble(section(7, 1, ...str('x'), 0, 3)), /export "x" refers to function 3, which does not exist/],
    ];
    for (const [bytes, message] of cases) {
      const error = thrown(() => parseModule(bytes));
      expect(error, String(message)).to.be.instanceOf(InvalidWasmError);
      expect(error.code).to.equal('ERR_INVALID_WASM');
      expect(error.message).to.match(message);
      expect(error.message).to.match(/at offset \d+/);
    }
  });

  it('throws only ERR_INVALID_WASM on every truncation of every sample', () => {
    for (const name of SAMPLES) {
      const bytes = wasm(name);
      const boundaries = new Set([8, ...parseModule(bytes).sections.map((s) => s.contentOffset + s.size)]);
      const step = bytes.length > 2000 ? 7 : 1;
      for (let length = 0; length < bytes.length; length += step) {
        const prefix = bytes.subarray(0, length);
        let error: unknown;
        try {
          parseModule(prefix);
        } catch (e) {
          error = e;
        }
        // A cut that falls between sections leaves a well-formed (if incomplete) module,
        // unless it separates the function section from the code section.
        if (error === undefined) expect(boundaries.has(length), `${name} cut at ${length} parsed`).to.equal(true);
        else expect((error as MeshError).code, `${name} cut at ${length}: ${String(error)}`).to.equal('ERR_INVALID_WASM');
      }
    }
  });

  it('never throws anything but ERR_INVALID_WASM on mutated bytes, and accepts what the engine accepts', () => {
    let seed = 0x2545f491;
    const random = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let accepted = 0;
    for (const name of ['fibo', 'grayscale', 'camera', 'stateful-fibo', 'memory-hog']) {
      const original = wasm(name);
      const sections = parseModule(original).sections.filter((s) => s.id !== 10 && s.id !== 11 && s.id !== 0);
      for (let round = 0; round < 400; round++) {
        const bytes = original.slice();
        // Aim most mutations at the sections the reader decodes, not at code and data.
        for (let k = 1 + random(3); k > 0; k--) {
          const s = sections[random(sections.length)]!;
          const at = random(4) === 0 ? random(bytes.length) : s.offset + random(s.contentOffset + s.size - s.offset);
          bytes[at] = random(4) === 0 ? bytes[at]! ^ (1 << random(8)) : random(256);
        }
        let error: unknown;
        try {
          parseModule(bytes);
        } catch (e) {
          error = e;
        }
        if (error !== undefined) {
          expect((error as MeshError).code, String(error)).to.equal('ERR_INVALID_WASM');
          expect(WebAssembly.validate(bytes), `${name} round ${round}: engine accepted what the reader refused: ${String(error)}`).to.equal(false);
        } else if (WebAssembly.validate(bytes)) {
          accepted++;
          const out = rewriteModule(bytes, { exportMutableGlobals: true, maxMemoryPages: 65536 }).bytes;
          expect(WebAssembly.validate(out), `${name} round ${round}: rewrite broke a valid module`).to.equal(true);
        }
      }
    }
    expect(accepted).to.be.greaterThan(0);
  });
});

describe('rewriteModule', () => {
  it('returns an identical copy when nothing is asked', () => {
    for (const name of SAMPLES) {
      const bytes = wasm(name);
      const out = rewriteModule(bytes);
      expect(out.bytes).to.not.equal(bytes);
      expect(out.bytes).to.deep.equal(bytes);
      expect(out.memoryMaxPages).to.equal(undefined);
    }
  });

  it('changes only the memory and export sections, and the result validates', () => {
    for (const name of SAMPLES) {
      const bytes = wasm(name);
      const out = rewriteModule(bytes, { exportMutableGlobals: true, maxMemoryPages: 300 }).bytes;
      expect(WebAssembly.validate(out), name).to.equal(true);
      const before = parseModule(bytes).sections.map((s) => s.name);
      const after = parseModule(out).sections.map((s) => s.name);
      expect(after, name).to.deep.equal(before);
      for (const section of before) {
        if (section === 'memory' || section === 'export') continue;
        expect(sectionBytes(out, section), `${name} ${section}`).to.deep.equal(sectionBytes(bytes, section));
      }
    }
  });

  it('exports stateful-fibo\'s state so an instance can be migrated mid-sequence', () => {
    const { bytes, globalExports } = rewriteModule(wasm('stateful-fibo'), { exportMutableGlobals: true });
    expect(WebAssembly.validate(bytes)).to.equal(true);
    expect(globalExports).to.deep.equal([
      { name: '__lm_g0', index: 0, valueType: 'i64' },
      { name: '__lm_g1', index: 1, valueType: 'i64' },
    ]);
    const exported = WebAssembly.Module.exports(new WebAssembly.Module(bytes));
    expect(exported).to.deep.include({ name: '__lm_g0', kind: 'global' });
    expect(parseModule(bytes).exports.find((e) => e.name === '__lm_g1')?.global).to.deep.equal({ valueType: 'i64', mutable: true });

    const a = instantiate(bytes);
    const seen: bigint[][] = [];
    for (const expected of [1n, 2n, 3n]) {
      expect(call<bigint>(a, 'stateful_fibo')).to.equal(expected);
      seen.push(globalExports.map((g) => global(a, g.name).value as bigint));
    }
    expect(seen).to.deep.equal([[1n, 1n], [1n, 2n], [2n, 3n]]);

    const b = instantiate(bytes);
    migrate(a, b, globalExports);
    expect(call<bigint>(b, 'stateful_fibo')).to.equal(5n);
    expect(call<bigint>(b, 'stateful_fibo')).to.equal(8n);
    // Without the copied state a fresh instance starts over.
    expect(call<bigint>(instantiate(bytes), 'stateful_fibo')).to.equal(1n);
  });

  it('migrates grayscale, AssemblyScript runtime and all, between instances', () => {
    const { bytes, globalExports } = rewriteModule(wasm('grayscale'), { exportMutableGlobals: true });
    expect(globalExports.map((g) => g.name)).to.deep.equal(Array.from({ length: 12 }, (_, i) => `__lm_g${i}`));
    const a = instantiate(bytes);
    const before = globalExports.map((g) => global(a, g.name).value as number);
    const ptr = call<number>(a, 'get_img_ptr');
    expect(globalExports.map((g) => global(a, g.name).value as number)).to.not.deep.equal(before);
    new Uint8Array(memory(a).buffer).set([255, 0, 0, 0, 0, 250], ptr);

    const b = instantiate(bytes);
    migrate(a, b, globalExports);
    expect(call<number>(b, 'get_img_ptr')).to.equal(ptr);
    call(b, 'convert2Grayscale');
    expect(Array.from(new Uint8Array(memory(b).buffer, ptr, 6))).to.deep.equal([76, 76, 76, 29, 29, 29]);
  });

  it('exports the shadow stack pointer of the C modules', () => {
    for (const name of ['fibo', 'camera']) {
      const { bytes, globalExports } = rewriteModule(wasm(name), { exportMutableGlobals: true });
      expect(globalExports, name).to.deep.equal([{ name: '__lm_g0', index: 0, valueType: 'i32' }]);
      const instance = instantiate(bytes);
      const sp = global(instance, '__lm_g0');
      expect(sp.value, name).to.be.greaterThan(0);
      if (name === 'fibo') {
        expect(sp.value).to.equal(67136);
        expect(call<bigint>(instance, 'fibo', 20n)).to.equal(10946n);
        expect(sp.value).to.equal(67136);
      }
    }
  });

  it('adds an export section to a module that has none', () => {
    expect(parseModule(NO_EXPORTS).sections.map((s) => s.name)).to.deep.equal(['type', 'function', 'global', 'code', 'custom:note']);
    const { bytes, globalExports } = rewriteModule(NO_EXPORTS, { exportMutableGlobals: true });
    expect(WebAssembly.validate(bytes)).to.equal(true);
    expect(globalExports).to.deep.equal([{ name: '__lm_g0', index: 0, valueType: 'i32' }]);
    const info = parseModule(bytes);
    expect(info.sections.map((s) => s.name)).to.deep.equal(['type', 'function', 'global', 'export', 'code', 'custom:note']);
    const instance = instantiate(bytes, {});
    expect(global(instance, '__lm_g0').value).to.equal(7);
    // Without the option nothing is added.
    expect(rewriteModule(NO_EXPORTS).bytes).to.deep.equal(NO_EXPORTS);
  });

  it('keeps existing global exports, skips immutable and imported globals, and avoids name clashes', () => {
    const bytes = assemble(
      section(1, 1, 0x60, 0, 0),
      section(2, 1, ...str('env'), ...str('g'), 0x03, I32, 1),
      section(3, 1, 0),
      section(6, 3, I32, 1, 0x41, 1, 0x0b, I32, 0, 0x41, 2, 0x0b, I32, 1, 0x41, 3, 0x0b),
      section(7, 2, ...str('counter'), 0x03, 3, ...str('__lm_g1'), 0x00, 0),
      section(10, 1, 2, 0, 0x0b),
    );
    expect(WebAssembly.validate(bytes)).to.equal(true);
    expect(parseModule(bytes).globals.map((g) => g.exportedAs)).to.deep.equal([undefined, undefined, 'counter']);
    expect(rewriteModule(bytes).globalExports).to.deep.equal([{ name: 'counter', index: 3, valueType: 'i32' }]);
    const { bytes: out, globalExports } = rewriteModule(bytes, { exportMutableGlobals: true });
    expect(WebAssembly.validate(out)).to.equal(true);
    expect(globalExports).to.deep.equal([
      { name: '__lm_g1_1', index: 1, valueType: 'i32' },
      { name: 'counter', index: 3, valueType: 'i32' },
    ]);
    const instance = instantiate(out, { env: { g: new WebAssembly.Global({ value: 'i32', mutable: true }, 0) } });
    expect(global(instance, '__lm_g1_1').value).to.equal(1);
    expect(global(instance, 'counter').value).to.equal(3);
    expect(Object.keys(instance.exports).sort()).to.deep.equal(['__lm_g1', '__lm_g1_1', 'counter']);
  });

  it('caps memory-hog at the page limit', () => {
    const { bytes, memoryMaxPages } = rewriteModule(wasm('memory-hog'), { maxMemoryPages: 4 });
    expect(memoryMaxPages).to.equal(4);
    expect(parseModule(bytes).memory).to.deep.equal({ imported: false, min: 1, max: 4, shared: false, memory64: false });
    const instance = instantiate(bytes);
    expect(call<number>(instance, 'grow')).to.equal(4);
    expect(memory(instance).buffer.byteLength).to.equal(4 * 65536);
  });

  it('keeps a lower declared maximum and clamps the limit to what wasm32 can address', () => {
    const bounded = assemble(section(5, 1, 0x01, 1, 2));
    expect(rewriteModule(bounded, { maxMemoryPages: 4 })).to.include({ memoryMaxPages: 2 });
    expect(rewriteModule(bounded, { maxMemoryPages: 4 }).bytes).to.deep.equal(bounded);
    const lowered = rewriteModule(assemble(section(5, 1, 0x01, 1, 100)), { maxMemoryPages: 4 });
    expect(lowered.memoryMaxPages).to.equal(4);
    expect(parseModule(lowered.bytes).memory?.max).to.equal(4);
    const huge = rewriteModule(wasm('memory-hog'), { maxMemoryPages: 1e9 });
    expect(huge.memoryMaxPages).to.equal(65536);
    expect(WebAssembly.validate(huge.bytes)).to.equal(true);
  });

  it('caps shared and 64-bit memories without losing their flags', () => {
    const shared = rewriteModule(assemble(section(5, 1, 0x03, 1, 100)), { maxMemoryPages: 4 });
    expect(WebAssembly.validate(shared.bytes)).to.equal(true);
    expect(parseModule(shared.bytes).memory).to.deep.equal({ imported: false, min: 1, max: 4, shared: true, memory64: false });
    // The engine in use may not support memory64, so this one is checked by re-reading only.
    const wide = assemble(section(5, 1, 0x04, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01));
    expect(parseModule(wide).memory).to.deep.equal({ imported: false, min: 2 ** 35, shared: false, memory64: true });
    expect(thrown(() => rewriteModule(wide, { maxMemoryPages: 2 ** 34 })).code).to.equal('ERR_MEMORY_LIMIT');
    const capped = rewriteModule(wide, { maxMemoryPages: 2 ** 40 });
    expect(capped.memoryMaxPages).to.equal(2 ** 40);
    expect(parseModule(capped.bytes).memory).to.deep.equal({ imported: false, min: 2 ** 35, max: 2 ** 40, shared: false, memory64: true });
  });

  it('refuses a module whose minimum memory is above the limit with ERR_MEMORY_LIMIT', () => {
    const error = thrown(() => rewriteModule(wasm('camera'), { maxMemoryPages: 4 }));
    expect(error).to.be.instanceOf(MemoryLimitError);
    expect(error.code).to.equal('ERR_MEMORY_LIMIT');
    expect(error.data).to.deep.equal({ minPages: 10, limitPages: 4 });
    expect(thrown(() => rewriteModule(wasm('fibo'), { maxMemoryPages: 1 })).code).to.equal('ERR_MEMORY_LIMIT');
    expect(rewriteModule(wasm('fibo'), { maxMemoryPages: 2 }).memoryMaxPages).to.equal(2);
  });

  it('leaves an imported memory alone and says the limit could not be applied', () => {
    const bytes = assemble(section(2, 1, ...str('env'), ...str('memory'), 0x02, 0x00, 50));
    const out = rewriteModule(bytes, { maxMemoryPages: 4, exportMutableGlobals: true });
    expect(out.memoryMaxPages).to.equal(undefined);
    expect(out.bytes).to.deep.equal(bytes);
    expect(out.module.memory).to.deep.equal({ imported: true, min: 50, shared: false, memory64: false });
  });

  it('rejects a limit that is not a page count with ERR_INVALID_PARAMS', () => {
    for (const limit of [-1, 1.5, Number.NaN]) {
      expect(thrown(() => rewriteModule(wasm('loop'), { maxMemoryPages: limit })).code).to.equal('ERR_INVALID_PARAMS');
    }
  });

  it('throws ERR_INVALID_WASM, not a RangeError, on garbage', () => {
    const fibo = wasm('fibo');
    for (const bytes of [new Uint8Array([1, 2, 3]), fibo.subarray(0, 5000), fibo.subarray(0, 20)]) {
      const error = thrown(() => rewriteModule(bytes, { exportMutableGlobals: true, maxMemoryPages: 8 }));
      expect(error).to.be.instanceOf(InvalidWasmError);
      expect(error.code).to.equal('ERR_INVALID_WASM');
    }
  });
});

describe('LEB128 helpers', () => {
  it('round-trips edge values', () => {
    for (const v of [0, 1, 63, 64, 127, 128, 16383, 16384, 2 ** 31, 0xffffffff]) {
      const bytes = encodeU32Leb(v);
      expect(readU32Leb(bytes, 0)).to.deep.equal({ value: v, next: bytes.length });
    }
    for (const v of [0, 1, -1, 63, 64, -64, -65, 8191, -8192, 2 ** 31 - 1, -(2 ** 31)]) {
      const bytes = encodeS32Leb(v);
      expect(readS32Leb(bytes, 0)).to.deep.equal({ value: v, next: bytes.length });
    }
    for (const v of [0n, 1n, -1n, 63n, -64n, 64n, -65n, 2n ** 31n, -(2n ** 32n), 2n ** 63n - 1n, -(2n ** 63n)]) {
      const bytes = encodeS64Leb(v);
      expect(readS64Leb(bytes, 0)).to.deep.equal({ value: v, next: bytes.length });
    }
    expect(Array.from(encodeU32Leb(624485))).to.deep.equal([0xe5, 0x8e, 0x26]);
    expect(Array.from(encodeS32Leb(-123456))).to.deep.equal([0xc0, 0xbb, 0x78]);
    expect(Array.from(encodeS64Leb(-(2n ** 63n)))).to.deep.equal([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f]);
  });

  it('accepts padded encodings and rejects out-of-range or truncated ones', () => {
    expect(readU32Leb(new Uint8Array([0x80, 0x80, 0x00]), 0)).to.deep.equal({ value: 0, next: 3 });
    expect(readU32Leb(new Uint8Array([9, 0xff, 0xff, 0xff, 0xff, 0x0f]), 1).value).to.equal(0xffffffff);
    expect(readS32Leb(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x7f]), 0).value).to.equal(-1);
    const bad: [(b: Uint8Array, o: number) => unknown, number[]][] = [
      [readU32Leb, [0xff, 0xff, 0xff, 0xff, 0x1f]],
      [readU32Leb, [0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
      [readU32Leb, [0x80, 0x80]],
      [readS32Leb, [0xff, 0xff, 0xff, 0xff, 0x0f]],
      [readS32Leb, [0x80, 0x80, 0x80, 0x80, 0x70]],
      [readS64Leb, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
      [readS64Leb, []],
    ];
    for (const [read, bytes] of bad) {
      expect(thrown(() => read(new Uint8Array(bytes), 0)).code, `${read.name} ${bytes.join(',')}`).to.equal('ERR_INVALID_WASM');
    }
    expect(thrown(() => encodeU32Leb(-1)).code).to.equal('ERR_INVALID_PARAMS');
    expect(thrown(() => encodeS64Leb(2n ** 63n)).code).to.equal('ERR_INVALID_PARAMS');
    expect(thrown(() => readU32Leb(new Uint8Array(2), 3)).code).to.equal('ERR_INVALID_PARAMS');
  });
});

describe('tables and data segments (what the budgets count)', () => {
  it('reads table limits and data segments as declared, imported tables marked', () => {
    const fibo = parseModule(wasm('fibo'));
    expect(fibo.tables).to.deep.equal([{ imported: false, funcref: true, min: 1, max: 1 }]);
    expect(fibo.data).to.deep.equal({ segments: 2, bytes: 61 });
    expect(fibo.importedGlobalCount).to.equal(0);
    // (import "env" "t" (table 3 externref)), one passive segment of 4 bytes, one active of 2 (memory 0).
    const bytes = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x02, 0x0b, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x74, 0x01, 0x6f, 0x00, 0x03,
      0x05, 0x03, 0x01, 0x00, 0x01,
      0x0b, 0x0f, 0x02, 0x01, 0x04, 1, 2, 3, 4, 0x02, 0x00, 0x41, 0x00, 0x0b, 0x02, 5, 6,
    ]);
    expect(WebAssembly.validate(bytes)).to.equal(true);
    const info = parseModule(bytes);
    expect(info.tables).to.deep.equal([{ imported: true, funcref: false, min: 3 }]);
    expect(info.data).to.deep.equal({ segments: 2, bytes: 6 });
  });

  it('refuses a data segment with unknown flags or a size past its section', () => {
    const head = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01];
    expect(thrown(() => parseModule(new Uint8Array([...head, 0x0b, 0x03, 0x01, 0x07, 0x00]))).code).to.equal('ERR_INVALID_WASM');
    expect(thrown(() => parseModule(new Uint8Array([...head, 0x0b, 0x04, 0x01, 0x01, 0x7f, 0x00]))).code).to.equal('ERR_INVALID_WASM');
  });
});

describe('table cap', () => {
  it('gives every defined table a maximum of at most maxTableElements, never below its minimum', () => {
    const capped = rewriteModule(tableGrower(), { maxTableElements: 1000 });
    expect(WebAssembly.validate(capped.bytes)).to.equal(true);
    expect(parseModule(capped.bytes).tables).to.deep.equal([{ imported: false, funcref: true, min: 1, max: 1000 }]);
    // A declared maximum below the cap stays; one above comes down to it; a minimum above it stays the maximum.
    const fibo = rewriteModule(wasm('fibo'), { maxTableElements: 1000 });
    expect(fibo.bytes).to.deep.equal(wasm('fibo'));
    const big = rewriteModule(tableBomb(5000), { maxTableElements: 1000 });
    expect(parseModule(big.bytes).tables[0]).to.deep.include({ min: 5000, max: 5000 });
    const instance = instantiate(capped.bytes);
    expect(call<number>(instance, 'grow', 999)).to.equal(1);
    expect(call<number>(instance, 'grow', 1)).to.equal(-1);
  });
});
