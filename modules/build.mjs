#!/usr/bin/env node
// Builds the sample WebAssembly modules in this folder.
//
//   node modules/build.mjs            build every module
//   node modules/build.mjs fibo trap  build only the named modules
//   node modules/build.mjs --list     print the modules and their toolchains
//
// Each module lives in modules/<name>/ and is built to modules/<name>/<name>.wasm,
// unless its entry names another output file (`output`) or publishes the module
// under another name (`published`, which its description.json must carry).
// C modules may compile in shared sources from modules/lib/ (`lib`), which is
// then also on their include path, and add compiler flags (`cflags`, after -O2).
// Toolchains:
//   c-wasi          clang + wasm-ld + wasi-libc (+ compiler-rt builtins), WASI reactor
//   c-freestanding  clang + wasm-ld, no libc, no imports
//   assemblyscript  the npm package assemblyscript (0.28)
//   wat             the npm package wabt
//   rust-command    rustc for wasm32-wasi (Debian's rustc + libstd-rust-dev-wasm32): a bin
//                   crate whose exported functions become `<name>.command_export` wrappers,
//                   linked without an entry, so it exports neither _start nor _initialize
//   rust-reactor    rustc, a cdylib linked with wasi-libc's reactor entry (`_initialize`)
//   rust-cdylib     rustc, a plain cdylib (no entry point at all)
//   emscripten      emcc -sSTANDALONE_WASM --no-entry (Debian's emscripten)
// Environment: CLANG (default "clang"), WASI_SYSROOT (passed as --sysroot when set),
// RUSTC (default /usr/bin/rustc when it exists, else "rustc"), EMCC (default "emcc").
//
// After building, every module is compiled with WebAssembly.Module and every
// function named in its description.json is checked to be exported.

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const LIB = join(HERE, 'lib');

/** Contents of modules/wasi-reader/data.bin: byte i is (37 * i + 11) mod 256. */
export const DATA_BIN_LENGTH = 1000;
export function dataBinBytes() {
  const bytes = new Uint8Array(DATA_BIN_LENGTH);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (37 * i + 11) & 0xff;
  return bytes;
}

const MODULES = [
  { name: 'fibo', toolchain: 'c-wasi', source: 'fibo.c' },
  { name: 'camera', toolchain: 'c-wasi', source: 'camera.c' },
  {
    name: 'wasi-reader',
    toolchain: 'c-wasi',
    source: 'wasi_reader.c',
    prepare: (dir) => writeFileSync(join(dir, 'data.bin'), dataBinBytes()),
  },
  {
    // Version 2.0.0 of "grayscale", in C: decodes a JPEG mount, writes a PNG mount.
    name: 'grayscale-c',
    toolchain: 'c-wasi',
    source: 'grayscale.c',
    lib: ['jpeg.c', 'png.c'],
    output: 'grayscale.wasm',
    published: 'grayscale',
  },
  { name: 'fibo-pointers', toolchain: 'c-freestanding', source: 'fibo_pointers.c', lib: ['bump_alloc.c'] },
  { name: 'stateful-fibo', toolchain: 'assemblyscript', source: 'stateful_fibo.ts' },
  { name: 'grayscale', toolchain: 'assemblyscript', source: 'grayscale.ts' },
  { name: 'trap', toolchain: 'wat', source: 'trap.wat' },
  { name: 'loop', toolchain: 'wat', source: 'loop.wat' },
  { name: 'memory-hog', toolchain: 'wat', source: 'memory-hog.wat' },
  { name: 'host-demo', toolchain: 'wat', source: 'host-demo.wat' },
  { name: 'poly-client', toolchain: 'c-freestanding', source: 'poly_client.c', lib: ['bump_alloc.c'] },
  { name: 'poly-server', toolchain: 'c-freestanding', source: 'poly_server.c', lib: ['bump_alloc.c'] },
  { name: 'math', toolchain: 'wat', source: 'math.wat' },
  { name: 'calc', toolchain: 'wat', source: 'calc.wat' },
  { name: 'counter-c', toolchain: 'c-freestanding', source: 'counter.c' },
  { name: 'dispatch', toolchain: 'wat', source: 'dispatch.wat' },
  { name: 'motion', toolchain: 'wat', source: 'motion.wat' },
  { name: 'net-ping', toolchain: 'wat', source: 'net-ping.wat' },
  // MobileNetV2 through wasi-nn; its model comes from classify/build-model.mjs (npm run build:model).
  { name: 'classify', toolchain: 'c-wasi', source: 'classify.c', lib: ['jpeg.c', 'classify_common.c'], cflags: ['-msimd128', '-O3'] },
  // The same MobileNetV2 computed in the module with Wasm SIMD; its model is classify/model.weights.
  { name: 'classify-simd', toolchain: 'c-wasi', source: 'classify_simd.c', lib: ['jpeg.c', 'classify_common.c'], cflags: ['-msimd128', '-O3'] },
  // Modules from the toolchains WasmIoT's own modules come from.
  { name: 'rust-fibo', toolchain: 'rust-command', source: 'fibo.rs' },
  { name: 'rust-files', toolchain: 'rust-command', source: 'files.rs', prepare: (dir) => writeFileSync(join(dir, 'data.bin'), dataBinBytes()) },
  { name: 'rust-camera', toolchain: 'rust-command', source: 'camera.rs' },
  { name: 'rust-reactor', toolchain: 'rust-reactor', source: 'reactor.rs' },
  { name: 'rust-pointers', toolchain: 'rust-cdylib', source: 'pointers.rs' },
  { name: 'emcc-fibo', toolchain: 'emscripten', source: 'fibo.c' },
];

class MissingTool extends Error {}

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(1);
}

function run(cmd, args) {
  const result = spawnSync(cmd, args, { encoding: 'utf8' });
  if (result.error) {
    throw new Error(`could not run ${cmd}: ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.status}):\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

function toolAnswers(cmd, args) {
  const result = spawnSync(cmd, args, { encoding: 'utf8' });
  return !result.error && result.status === 0 ? result.stdout.trim() : null;
}

// ---------------------------------------------------------------- C (clang)

const CLANG = process.env.CLANG || 'clang';
const TARGET = '--target=wasm32-wasi';
const SYSROOT = process.env.WASI_SYSROOT ? [`--sysroot=${process.env.WASI_SYSROOT}`] : [];

let clangChecked = null;
function checkClang(needLibc) {
  if (!clangChecked) {
    if (toolAnswers(CLANG, ['--version']) === null) {
      throw new MissingTool(`clang not found (tried "${CLANG}"): apt-get install clang lld wasi-libc libclang-rt-dev-wasm32`);
    }
    if (toolAnswers('wasm-ld', ['--version']) === null) {
      throw new MissingTool('wasm-ld not found (the WebAssembly linker): apt-get install lld');
    }
    clangChecked = { libc: false };
  }
  if (needLibc && !clangChecked.libc) {
    const libc = toolAnswers(CLANG, [TARGET, ...SYSROOT, '-print-file-name=libc.a']);
    if (!libc || !existsSync(libc)) {
      throw new MissingTool('wasi-libc not found (no libc.a for wasm32-wasi): apt-get install wasi-libc, or set WASI_SYSROOT');
    }
    const builtins = toolAnswers(CLANG, [TARGET, ...SYSROOT, '-print-libgcc-file-name']);
    if (!builtins || !existsSync(builtins)) {
      throw new MissingTool(`compiler-rt builtins for wasm32 not found (${builtins}): apt-get install libclang-rt-dev-wasm32`);
    }
    clangChecked.libc = true;
  }
}

// Compile with -O2 and link in a separate step without -O: clang runs wasm-opt
// on optimised links whenever one is on PATH (npm puts binaryen's there), and
// the result would then depend on which wasm-opt happens to be found.
function buildC(mod, dir, out, freestanding) {
  checkClang(!freestanding);
  const work = mkdtempSync(join(tmpdir(), `liquidmesh-${mod.name}-`));
  try {
    const cflags = [...(freestanding ? ['-ffreestanding', '-fno-builtin', '-nostdlib'] : []), ...(mod.cflags ?? [])];
    const sources = [join(dir, mod.source), ...(mod.lib ?? []).map((file) => join(LIB, file))];
    const includes = mod.lib ? ['-I', LIB] : [];
    const objs = sources.map((source, i) => {
      const obj = join(work, `${i}-${source.split(/[\\/]/).pop()}.o`);
      run(CLANG, [TARGET, ...SYSROOT, '-O2', '-Wall', '-Wextra', '-Werror', ...cflags, ...includes, '-c', source, '-o', obj]);
      return obj;
    });
    const ldflags = freestanding
      ? ['-nostdlib', '-Wl,--no-entry']
      : ['-mexec-model=reactor'];
    run(CLANG, [TARGET, ...SYSROOT, ...ldflags, '-Wl,--strip-debug', ...objs, '-o', out]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------------- Rust

const RUSTC = process.env.RUSTC || (existsSync('/usr/bin/rustc') ? '/usr/bin/rustc' : 'rustc');
const RUST_TARGET = 'wasm32-wasi';

let rustLib = null;
function checkRust() {
  if (rustLib) return rustLib;
  if (toolAnswers(RUSTC, ['--version']) === null) {
    throw new MissingTool(`rustc not found (tried "${RUSTC}"): apt-get install rustc libstd-rust-dev-wasm32`);
  }
  const libdir = toolAnswers(RUSTC, ['--print', 'target-libdir', '--target', RUST_TARGET]);
  if (!libdir || !existsSync(join(libdir, 'self-contained', 'libc.a'))) {
    throw new MissingTool(`${RUSTC} has no ${RUST_TARGET} standard library: apt-get install libstd-rust-dev-wasm32 (and set RUSTC=/usr/bin/rustc when a rustup rustc comes first)`);
  }
  rustLib = join(libdir, 'self-contained');
  return rustLib;
}

// -C strip=debuginfo keeps the name section and drops std's DWARF (5.8 MB → 85 KB).
function buildRust(mod, dir, out) {
  const selfContained = checkRust();
  const common = [RUSTC, '--edition=2021', '--target', RUST_TARGET, '-O', '-C', 'strip=debuginfo', '-C', 'codegen-units=1', join(dir, mod.source), '-o', out];
  const [cmd, ...rest] = common;
  if (mod.toolchain === 'rust-command') {
    // A command without the C runtime's _start: wasm-ld then wraps every export in a
    // `.command_export` function (constructors before, destructors after), as in
    // WasmIoT's modules, and the binary has no entry point a host could call.
    run(cmd, [...rest, '--crate-type', 'bin', '-C', 'link-self-contained=no', '-L', selfContained, '-C', 'link-arg=--no-entry']);
  } else if (mod.toolchain === 'rust-reactor') {
    run(cmd, [...rest, '--crate-type', 'cdylib', '-C', `link-arg=${join(selfContained, 'crt1-reactor.o')}`]);
  } else {
    run(cmd, [...rest, '--crate-type', 'cdylib']);
  }
}

// -------------------------------------------------------------- Emscripten

const EMCC = process.env.EMCC || 'emcc';

function buildEmscripten(mod, dir, out) {
  if (toolAnswers(EMCC, ['--version']) === null) throw new MissingTool(`emcc not found (tried "${EMCC}"): apt-get install emscripten`);
  run(EMCC, ['-O2', '-sSTANDALONE_WASM', '--no-entry', join(dir, mod.source), '-o', out]);
}

// ---------------------------------------------------------- AssemblyScript

let ascModule = null;
async function loadAsc() {
  if (!ascModule) {
    try {
      ascModule = await import('assemblyscript/asc');
    } catch (err) {
      throw new MissingTool(`the AssemblyScript compiler (npm package assemblyscript@0.28) is not installed: npm install --save-dev assemblyscript@0.28 (${err.code ?? err.message})`);
    }
  }
  return ascModule;
}

async function buildAssemblyScript(mod, dir, out) {
  const asc = await loadAsc();
  let log = '';
  const sink = { write: (chunk) => { log += String(chunk); return true; } };
  const { error } = await asc.main(
    [join(dir, mod.source), '-O3', '--noAssert', '--use', 'abort=', '--outFile', out],
    { stdout: sink, stderr: sink },
  );
  if (error) throw new Error(`asc failed for ${mod.name}: ${error.message}\n${log}`);
}

// --------------------------------------------------------------------- WAT

let wabtInstance = null;
async function loadWabt() {
  if (!wabtInstance) {
    let init;
    try {
      init = (await import('wabt')).default;
    } catch (err) {
      throw new MissingTool(`wabt (npm package wabt, for the .wat modules) is not installed: npm install --save-dev wabt (${err.code ?? err.message})`);
    }
    wabtInstance = await init();
  }
  return wabtInstance;
}

async function buildWat(mod, dir, out) {
  const wabt = await loadWabt();
  const file = join(dir, mod.source);
  const parsed = wabt.parseWat(mod.source, readFileSync(file, 'utf8'));
  try {
    parsed.resolveNames();
    parsed.validate();
    const { buffer } = parsed.toBinary({ log: false, write_debug_names: true });
    writeFileSync(out, buffer);
  } finally {
    parsed.destroy();
  }
}

// ------------------------------------------------------------------ checks

function checkBuilt(mod, dir, out) {
  const wasm = readFileSync(out);
  const compiled = new WebAssembly.Module(wasm);
  const exported = new Set(WebAssembly.Module.exports(compiled).map((e) => e.name));
  const description = JSON.parse(readFileSync(join(dir, 'description.json'), 'utf8'));
  const published = mod.published ?? mod.name;
  if (description.name !== published) {
    throw new Error(`${mod.name}/description.json names the module "${description.name}", not "${published}"`);
  }
  for (const fn of Object.keys(description.functions)) {
    if (!exported.has(fn)) throw new Error(`${outputFile(mod)} does not export "${fn}" named in description.json`);
  }
  for (const file of Object.values(description.dataFiles ?? {})) {
    if (!existsSync(join(dir, file))) throw new Error(`${mod.name}: data file ${file} is missing`);
  }
  return wasm.length;
}

// -------------------------------------------------------------------- main

function outputFile(mod) {
  return mod.output ?? `${mod.name}.wasm`;
}

async function main(argv) {
  if (argv.includes('--list')) {
    for (const mod of MODULES) {
      const lib = mod.lib ? ` + ${mod.lib.map((file) => `lib/${file}`).join(' ')}` : '';
      console.log(`${mod.name.padEnd(14)} ${mod.toolchain.padEnd(15)} ${mod.source}${lib} -> ${mod.name}/${outputFile(mod)}`);
    }
    return;
  }
  const unknown = argv.filter((a) => !MODULES.some((m) => m.name === a));
  if (unknown.length) fail(`unknown module(s): ${unknown.join(', ')} (known: ${MODULES.map((m) => m.name).join(', ')})`);
  const selected = argv.length ? MODULES.filter((m) => argv.includes(m.name)) : MODULES;

  for (const mod of selected) {
    const dir = join(HERE, mod.name);
    const out = join(dir, outputFile(mod));
    try {
      mod.prepare?.(dir);
      switch (mod.toolchain) {
        case 'c-wasi': buildC(mod, dir, out, false); break;
        case 'c-freestanding': buildC(mod, dir, out, true); break;
        case 'assemblyscript': await buildAssemblyScript(mod, dir, out); break;
        case 'wat': await buildWat(mod, dir, out); break;
        case 'rust-command': case 'rust-reactor': case 'rust-cdylib': buildRust(mod, dir, out); break;
        case 'emscripten': buildEmscripten(mod, dir, out); break;
        default: throw new Error(`unknown toolchain ${mod.toolchain}`);
      }
      chmodSync(out, 0o644);
      const size = checkBuilt(mod, dir, out);
      console.log(`built ${mod.name}/${outputFile(mod)} (${size} bytes, ${mod.toolchain})`);
    } catch (err) {
      const what = err instanceof MissingTool ? 'missing tool' : 'build error';
      fail(`cannot build ${mod.name}: ${what}: ${err.message}`);
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv.slice(2));
}
