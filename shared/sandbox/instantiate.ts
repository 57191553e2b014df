/**
 * Instantiation inside a worker: WASI (through @bjorn3/browser_wasi_shim, an in-memory
 * directory holding the mounts), the host capabilities the binary imports (host-imports/),
 * and the exports of linked providers, each provider instantiated before the modules
 * that import from it.
 * @module
 */
import { ConsoleStdout, File, type Inode, OpenFile, PreopenDirectory, WASI } from '@bjorn3/browser_wasi_shim';
import type { SpanGlobals } from '../wasm/instrument.ts';
import { resetSpan, spanEverything, widenSpan } from '../wasm/instrument.ts';
import { STOP_MODULE, STOP_POLL } from '../wasm/stop-checks.ts';
import type { BridgeCall } from './bridge-call.ts';
import { HostCallError, ImportNotSupportedError } from './errors.ts';
import type { HostContext } from './host-imports/host-import.ts';
import { HOST_CAPABILITIES } from './host-imports/table.ts';
import { recordingWrites, type WriteMap, wasiWrites } from './host-writes.ts';
import type { InitMessage, SpanNames } from './protocol.ts';
import { remember, type Unit } from './unit.ts';

const WASI_MODULE = 'wasi_snapshot_preview1';

/** One module to instantiate. */
export interface UnitSpec {
  module: WebAssembly.Module;
  /** Export names of its instrumented mutable globals. */
  globals: string[];
  /** Export names of its instrumented funcref tables. */
  tables: string[];
  files: Record<string, Uint8Array>;
  /** Its written span's export names, when its writes are tracked. */
  dirty?: SpanNames | undefined;
}

/** What every unit of one instance shares. */
export interface UnitEnvironment {
  args: string[];
  env: Record<string, string>;
  bridge: BridgeCall;
  /** The stop check's poll (stop-checks.ts): the next countdown, or a throw once the host stopped the worker. */
  poll: () => number;
  /** The providers instantiated so far, by import module name. */
  links: ReadonlyMap<string, Unit>;
  /** The console every unit of the instance writes to. */
  out: Pick<Unit, 'stdout' | 'stderr'>;
}

/** Instantiate one module: WASI, the capabilities it imports, the providers it links. */
export function instantiateUnit(spec: UnitSpec, environment: UnitEnvironment): Unit {
  const { stdout, stderr } = environment.out;
  const decoder = new TextDecoder();
  const contents = new Map<string, Inode>();
  for (const [name, bytes] of Object.entries(spec.files)) contents.set(name, new File(bytes));
  const dir = new PreopenDirectory('.', contents);
  const wasi = new WASI(
    environment.args,
    Object.entries(environment.env).map(([k, v]) => `${k}=${v}`),
    [
      new OpenFile(new File([])),
      new ConsoleStdout((b) => stdout.push(decoder.decode(b))),
      new ConsoleStdout((b) => stderr.push(decoder.decode(b))),
      dir,
    ],
    { debug: false },
  );
  let memory: WebAssembly.Memory | null = null;
  let instance: WebAssembly.Instance | null = null;
  const ctx: HostContext = {
    memory: () => {
      if (!memory) throw new HostCallError('the module exports no memory for the host function to use');
      return memory;
    },
    exports: () => instance?.exports ?? {},
    bridge: environment.bridge,
    stdout: (text) => void stdout.push(text),
    stderr: (text) => void stderr.push(text),
    file: (name) => {
      const inode = dir.dir.contents.get(name);
      return inode instanceof File ? inode.data : undefined;
    },
  };
  // Only the modules the binary imports are offered; the host checked the grants at load.
  const imports: WebAssembly.Imports = {};
  let span: SpanGlobals | null = null;
  for (const imp of WebAssembly.Module.imports(spec.module)) {
    if (imports[imp.module]) continue;
    const linked = environment.links.get(imp.module);
    const capability = HOST_CAPABILITIES.get(imp.module);
    let offered: WebAssembly.ModuleImports | undefined;
    let writes = false;
    let where: WriteMap | undefined;
    if (linked) offered = linked.instance.exports;
    else if (imp.module === STOP_MODULE) offered = { [STOP_POLL]: environment.poll };
    else if (imp.module === WASI_MODULE) {
      offered = wasi.wasiImport as unknown as WebAssembly.ModuleImports;
      writes = true;
      where = wasiWrites(wasi.args, wasi.env);
    } else if (capability) {
      offered = capability.create(ctx) as WebAssembly.ModuleImports;
      writes = capability.writesMemory;
      where = capability.writes;
    }
    // What the host writes into memory is not in the tracked span: such an import records
    // the bytes it may have written (host-writes.ts), or the whole memory.
    if (offered && spec.dirty && writes) {
      offered = recordingWrites(
        offered,
        where,
        () => memory,
        (at, length) => span && widenSpan(span, at, length),
        () => span && spanEverything(span),
      );
    }
    // Deny by default: the load-time check refuses such a module first; this is the last line.
    if (!offered) throw new ImportNotSupportedError(`module imports ${imp.module}.${imp.name}, which no host capability or linked provider serves`, { import: `${imp.module}.${imp.name}` });
    imports[imp.module] = offered;
  }
  instance = new WebAssembly.Instance(spec.module, imports);
  const dirty = spec.dirty;
  if (dirty) {
    const [lo, hi, page] = [dirty.lo, dirty.hi, dirty.page].map((name) => instance!.exports[name]);
    if (lo instanceof WebAssembly.Global && hi instanceof WebAssembly.Global && page instanceof WebAssembly.Global) span = { lo, hi, page };
  }
  const exported = instance.exports.memory;
  memory = exported instanceof WebAssembly.Memory ? exported : null;
  // WASI is bound to every instance: reactors (`_initialize`, called here once), and
  // commands whose exports are `.command_export` wrappers with no `_start` or
  // `_initialize` at all — WasmIoT's Rust modules — which make WASI calls from the first
  // export called. `_start` is never run: a module's functions are the service.
  const wasiTarget = instance as unknown as { exports: { memory: WebAssembly.Memory; _initialize?: () => unknown } };
  if (typeof instance.exports._initialize === 'function') wasi.initialize(wasiTarget);
  else wasi.inst = wasiTarget;
  const tables = new Map<string, (number | null)[]>();
  const functions = new Map<number, unknown>();
  for (const value of Object.values(instance.exports)) if (typeof value === 'function') remember(functions, value);
  for (const name of spec.tables) {
    const table = instance.exports[name];
    if (!(table instanceof WebAssembly.Table)) continue;
    const slots: (number | null)[] = [];
    for (let i = 0; i < table.length; i++) slots.push(remember(functions, table.get(i)));
    tables.set(name, slots);
  }
  if (span) resetSpan(span);
  return { instance, memory, dir, stdout, stderr, globals: spec.globals, tables, functions, providers: new Map(), span };
}

/**
 * The app and its providers, each provider after those it imports from (the host sent
 * them in that order). Each has its own memory and WASI directory; their output is one.
 * `files` are the app's (a fresh instance starts from the live one's).
 */
export function instantiate(msg: InitMessage, files: Record<string, Uint8Array>, bridge: BridgeCall, poll: () => number): Unit {
  const out = { stdout: [] as string[], stderr: [] as string[] };
  const providers = new Map<string, Unit>();
  const environment = { args: msg.args, env: msg.env, bridge, poll, links: providers, out };
  for (const p of msg.providers) providers.set(p.name, instantiateUnit({ module: p.module, globals: p.globals, tables: [], files: p.files, dirty: p.dirty }, environment));
  const app = instantiateUnit({ module: msg.module, globals: msg.globals, tables: msg.tables ?? [], files, dirty: msg.dirty }, environment);
  app.providers = providers;
  return app;
}
