// Checks the committed sample modules in modules/: their description.json
// files, their import/export lists, and the results of the functions that can
// run without a WASI implementation.
import { checkDescription } from '../../shared/registry/description.ts';
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'modules');
const WASI = 'wasi_snapshot_preview1';

interface Expected {
  imports: string[];
  exports: string[];
}

const EXPECTED: Record<string, Expected> = {
  fibo: {
    imports: [`${WASI}.environ_get`, `${WASI}.environ_sizes_get`, `${WASI}.fd_write`, `${WASI}.proc_exit`],
    exports: ['_initialize', 'fibo', 'memory'],
  },
  'stateful-fibo': { imports: [], exports: ['memory', 'stateful_fibo'] },
  'fibo-pointers': { imports: [], exports: ['alloc', 'fibo_from_pointers', 'memory'] },
  grayscale: { imports: [], exports: ['convert2Grayscale', 'get_img_ptr', 'memory'] },
  camera: {
    imports: ['camera.takeImageStaticSize', `${WASI}.fd_close`, `${WASI}.fd_write`, `${WASI}.path_open`],
    exports: ['_initialize', 'memory', 'take_image_predefined_path'],
  },
  'wasi-reader': {
    imports: [`${WASI}.fd_close`, `${WASI}.fd_read`, `${WASI}.path_open`],
    exports: ['_initialize', 'count_bytes', 'count_lines', 'memory', 'sum_bytes'],
  },
  trap: { imports: [], exports: ['boom', 'get', 'memory', 'ok', 'scribble', 'set'] },
  loop: { imports: [], exports: ['forever', 'memory', 'next', 'ok'] },
  'memory-hog': { imports: [], exports: ['grow', 'memory', 'ok'] },
  'host-demo': {
    imports: ['communication.rpcCall', 'dht.getHumidity', 'dht.getTemperature', 'sys.delay', 'sys.millis', 'sys.print', 'sys.printInt', 'sys.println'],
    exports: ['alert', 'elapsed', 'forever', 'greet', 'humidity', 'memory', 'temperature'],
  },
  math: { imports: [], exports: ['add', 'calls', 'memory', 'mul'] },
  calc: { imports: ['math.add', 'math.calls', 'math.mul'], exports: ['forever', 'math_calls', 'memory', 'square_plus'] },
  'poly-client': { imports: ['pubsub.publish', 'pubsub.subscribe'], exports: ['alloc', 'memory', 'on_message', 'root1', 'root2', 'root_count', 'solve'] },
  'poly-server': { imports: ['pubsub.publish', 'pubsub.subscribe'], exports: ['alloc', 'memory', 'on_message', 'start'] },
  'grayscale-c': {
    imports: [`${WASI}.fd_close`, `${WASI}.fd_read`, `${WASI}.fd_write`, `${WASI}.path_open`],
    exports: ['_initialize', 'convert2Grayscale', 'get_img_ptr', 'grayscale_jpeg', 'memory'],
  },
  'net-ping': { imports: ['network.ping'], exports: ['memory', 'ping', 'reachable'] },
  'rust-fibo': {
    imports: [`${WASI}.environ_get`, `${WASI}.environ_sizes_get`, `${WASI}.fd_write`, `${WASI}.proc_exit`],
    exports: ['__data_end', '__heap_base', 'fibo', 'main', 'memory', 'stateful_fibo'],
  },
  'rust-files': {
    imports: [`${WASI}.environ_get`, `${WASI}.environ_sizes_get`, `${WASI}.fd_close`, `${WASI}.fd_filestat_get`, `${WASI}.fd_prestat_dir_name`, `${WASI}.fd_prestat_get`, `${WASI}.fd_read`, `${WASI}.fd_seek`, `${WASI}.fd_write`, `${WASI}.path_open`, `${WASI}.proc_exit`],
    exports: ['__data_end', '__heap_base', 'count_bytes', 'main', 'memory', 'shout', 'sum_bytes'],
  },
  'rust-camera': {
    imports: ['camera.takeImageDynamicSize', 'camera.takeImageStaticSize', `${WASI}.environ_get`, `${WASI}.environ_sizes_get`, `${WASI}.fd_close`, `${WASI}.fd_prestat_dir_name`, `${WASI}.fd_prestat_get`, `${WASI}.fd_write`, `${WASI}.path_open`, `${WASI}.proc_exit`],
    exports: ['__data_end', '__heap_base', 'alloc', 'main', 'memory', 'take_image_dynamic', 'take_image_predefined_path'],
  },
  'rust-reactor': {
    imports: [`${WASI}.environ_get`, `${WASI}.environ_sizes_get`, `${WASI}.fd_write`, `${WASI}.proc_exit`],
    exports: ['__data_end', '__heap_base', '_initialize', 'add', 'calls', 'greet', 'memory'],
  },
  'rust-pointers': {
    imports: [`${WASI}.environ_get`, `${WASI}.environ_sizes_get`, `${WASI}.fd_write`, `${WASI}.proc_exit`],
    exports: ['__data_end', '__heap_base', 'alloc', 'dealloc', 'fibo_from_pointers', 'memory', 'reverse_in_place'],
  },
  'emcc-fibo': {
    imports: [`${WASI}.fd_write`],
    exports: ['__errno_location', '__indirect_function_table', '_initialize', 'fibo', 'hello', 'memory', 'stackAlloc', 'stackRestore', 'stackSave'],
  },
};

/** Folders whose module is published under another name and built to <that name>.wasm. */
const PUBLISHED_AS: Record<string, string> = { 'grayscale-c': 'grayscale' };

function wasmBytes(name: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(join(MODULES_DIR, name, `${PUBLISHED_AS[name] ?? name}.wasm`)));
}

function compile(name: string): WebAssembly.Module {
  return new WebAssembly.Module(wasmBytes(name));
}

/** Imports whose every function throws: for functions that must not touch the host. */
function throwingImports(module: WebAssembly.Module): WebAssembly.Imports {
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== 'function') throw new Error(`unexpected ${imp.kind} import ${imp.module}.${imp.name}`);
    imports[imp.module] ??= {};
    imports[imp.module]![imp.name] = () => {
      throw new Error(`unexpected call to ${imp.module}.${imp.name}`);
    };
  }
  return imports;
}

async function instantiate(name: string): Promise<WebAssembly.Instance> {
  const module = compile(name);
  return WebAssembly.instantiate(module, throwingImports(module));
}

type Fn<A extends unknown[], R> = (...args: A) => R;
function fn<A extends unknown[], R>(instance: WebAssembly.Instance, name: string): Fn<A, R> {
  const value = instance.exports[name];
  if (typeof value !== 'function') throw new Error(`export ${name} is not a function`);
  return value as Fn<A, R>;
}
function memoryOf(instance: WebAssembly.Instance): WebAssembly.Memory {
  const memory = instance.exports['memory'];
  if (!(memory instanceof WebAssembly.Memory)) throw new Error('no exported memory');
  return memory;
}

// ------------------------------------------------------- description.json
// Descriptions are checked by the same validator the package manager uses.

function describeProblems(desc: unknown, exported?: string[]): string[] {
  const r = checkDescription(desc, exported);
  return r.ok ? [] : [r.error];
}

function readDescription(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(MODULES_DIR, name, 'description.json'), 'utf8')) as Record<string, unknown>;
}

describe('description validator', () => {
  it('takes pointer-pair inputs only from deployment- or execution-stage mounts of the function', () => {
    const fn = (buffers: string[]) => ({
      name: 'ml', version: '1.0.0',
      functions: {
        infer_from_ptrs: {
          method: 'POST', params: [], result: { type: 'integer' }, buffers,
          mounts: [{ name: 'model', stage: 'deployment' }, { name: 'data', stage: 'execution' }, { name: 'out.json', stage: 'output' }],
        },
      },
    });
    expect(describeProblems(fn(['model', 'data']))).toEqual([]);
    expect(describeProblems(fn(['model', 'out.json']))[0]).toContain('buffers: out.json is not a deployment- or execution-stage mount');
    expect(describeProblems(fn(['nothing']))[0]).toContain('buffers: nothing');
  });

  it('accepts the documented example and rejects broken ones', () => {
    const example = {
      name: 'fibo', version: '1.0.0',
      functions: { fibo: { method: 'GET', params: [{ name: 'param0', type: 'integer' }], result: { type: 'integer' }, mounts: [] } },
    };
    expect(describeProblems(example)).toEqual([]);
    expect(describeProblems({ ...example, functions: {} })).not.toEqual([]);
    expect(describeProblems({ ...example, dataFiles: { 'x.bin': 'x.bin' } })).not.toEqual([]);
    const badStage = structuredClone(example) as { functions: { fibo: Record<string, unknown> } };
    badStage.functions.fibo['mounts'] = [{ name: 'a', stage: 'later', mediaType: 'text/plain' }];
    expect(describeProblems(badStage)).not.toEqual([]);
  });
});

describe.each(Object.keys(EXPECTED))('module %s', (name) => {
  it('has a valid description naming only exported functions', () => {
    const desc = readDescription(name);
    const exported = WebAssembly.Module.exports(compile(name)).map((e) => e.name);
    expect(describeProblems(desc, exported)).toEqual([]);
    expect(desc['name']).toBe(PUBLISHED_AS[name] ?? name);
    for (const file of Object.values((desc['dataFiles'] ?? {}) as Record<string, string>)) {
      expect(existsSync(join(MODULES_DIR, name, file)), file).toBe(true);
    }
  });

  it('has exactly the expected imports and exports', () => {
    const module = compile(name);
    const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`).sort();
    const exports = WebAssembly.Module.exports(module).map((e) => e.name).sort();
    expect(imports).toEqual(EXPECTED[name]!.imports);
    expect(exports).toEqual(EXPECTED[name]!.exports);
    for (const imp of WebAssembly.Module.imports(module)) expect(imp.kind).toBe('function');
  });
});

// ------------------------------------------------------------ behaviour

describe('Rust command modules', () => {
  it.each(['rust-fibo', 'rust-files', 'rust-camera'])('%s exports wrappers named .command_export and no entry point', (name) => {
    const module = compile(name);
    const exported = WebAssembly.Module.exports(module).map((e) => e.name);
    expect(exported).not.toContain('_start');
    expect(exported).not.toContain('_initialize');
    const names = new TextDecoder('latin1').decode(new Uint8Array(WebAssembly.Module.customSections(module, 'name')[0]!));
    for (const fn of Object.keys(readDescription(name)['functions'] as object)) expect(names).toContain(`${fn}.command_export`);
  });
});

describe('fibo', () => {
  it('computes fibo(0), fibo(5), fibo(12), fibo(20) without touching WASI', async () => {
    const instance = await instantiate('fibo');
    fn<[], void>(instance, '_initialize')();
    const fibo = fn<[bigint], bigint>(instance, 'fibo');
    expect(fibo(0n)).toBe(1n);
    expect(fibo(5n)).toBe(8n);
    expect(fibo(12n)).toBe(233n);
    expect(fibo(20n)).toBe(10946n);
  });

  it('reports a negative argument through WASI', async () => {
    const instance = await instantiate('fibo');
    expect(() => fn<[bigint], bigint>(instance, 'fibo')(-1n)).toThrow(/unexpected call to wasi_snapshot_preview1\.environ_sizes_get/);
  });
});

describe('stateful-fibo', () => {
  it('advances on one instance and restarts on a fresh one', async () => {
    const first = fn<[], bigint>(await instantiate('stateful-fibo'), 'stateful_fibo');
    expect([first(), first(), first(), first(), first(), first()]).toEqual([1n, 2n, 3n, 5n, 8n, 13n]);
    const second = fn<[], bigint>(await instantiate('stateful-fibo'), 'stateful_fibo');
    expect([second(), second(), second()]).toEqual([1n, 2n, 3n]);
    expect(first()).toBe(21n);
  });
});

describe('fibo-pointers', () => {
  async function callWith(input: number[]): Promise<{ length: number; value: bigint }> {
    const instance = await instantiate('fibo-pointers');
    const alloc = fn<[number], number>(instance, 'alloc');
    const call = fn<[number, number, number], number>(instance, 'fibo_from_pointers');
    const inPtr = alloc(Math.max(input.length, 1));
    const outLenPtr = alloc(4);
    expect(inPtr).toBeGreaterThan(0);
    new Uint8Array(memoryOf(instance).buffer, inPtr, input.length).set(input);
    const outPtr = call(inPtr, input.length, outLenPtr);
    expect(outPtr).toBeGreaterThan(0);
    const view = new DataView(memoryOf(instance).buffer);
    return { length: view.getUint32(outLenPtr, true), value: view.getBigUint64(outPtr, true) };
  }

  it('returns fibo(12) = 233 as 8 little-endian bytes', async () => {
    expect(await callWith([12])).toEqual({ length: 8, value: 233n });
  });

  it('reads multi-byte little-endian input and empty input', async () => {
    expect(await callWith([20, 0, 0, 0])).toEqual({ length: 8, value: 10946n });
    expect(await callWith([])).toEqual({ length: 8, value: 1n });
  });

  it('alloc hands out distinct regions and grows memory when needed', async () => {
    const instance = await instantiate('fibo-pointers');
    const alloc = fn<[number], number>(instance, 'alloc');
    const a = alloc(16);
    const b = alloc(16);
    expect(b).toBeGreaterThanOrEqual(a + 16);
    const before = memoryOf(instance).buffer.byteLength;
    const big = alloc(3 * 65536);
    expect(big).toBeGreaterThan(0);
    expect(memoryOf(instance).buffer.byteLength).toBeGreaterThanOrEqual(big + 3 * 65536);
    expect(memoryOf(instance).buffer.byteLength).toBeGreaterThan(before);
  });
});

describe('grayscale', () => {
  const PIXELS = 640 * 480;
  const gray = (r: number, g: number, b: number) => Math.floor((299 * r + 587 * g + 114 * b + 500) / 1000);

  it('converts known pixels in place', async () => {
    const instance = await instantiate('grayscale');
    const ptr = fn<[], number>(instance, 'get_img_ptr')();
    expect(fn<[], number>(instance, 'get_img_ptr')()).toBe(ptr);
    expect(memoryOf(instance).buffer.byteLength).toBeGreaterThanOrEqual(ptr + PIXELS * 3);
    const known: Array<[[number, number, number], number]> = [
      [[255, 0, 0], 76],
      [[0, 255, 0], 150],
      [[0, 0, 255], 29],
      [[0, 0, 250], 29], // exactly 28.5: halves round up
      [[10, 20, 30], 18],
      [[255, 255, 255], 255],
      [[0, 0, 0], 0],
    ];
    const image = new Uint8Array(memoryOf(instance).buffer, ptr, PIXELS * 3);
    known.forEach(([rgb], i) => image.set(rgb, i * 3));
    image.set([200, 100, 50], (PIXELS - 1) * 3);
    fn<[], void>(instance, 'convert2Grayscale')();
    const after = new Uint8Array(memoryOf(instance).buffer, ptr, PIXELS * 3);
    known.forEach(([, g], i) => expect(Array.from(after.subarray(i * 3, i * 3 + 3))).toEqual([g, g, g]));
    const last = gray(200, 100, 50);
    expect(Array.from(after.subarray((PIXELS - 1) * 3))).toEqual([last, last, last]);
  });

  it('matches the documented formula over a whole pseudo-random image', async () => {
    const instance = await instantiate('grayscale');
    const ptr = fn<[], number>(instance, 'get_img_ptr')();
    const input = new Uint8Array(PIXELS * 3);
    let seed = 12345;
    for (let i = 0; i < input.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      input[i] = seed >>> 24;
    }
    new Uint8Array(memoryOf(instance).buffer, ptr, input.length).set(input);
    fn<[], void>(instance, 'convert2Grayscale')();
    const out = new Uint8Array(memoryOf(instance).buffer, ptr, input.length);
    let mismatches = 0;
    for (let p = 0; p < PIXELS; p++) {
      const g = gray(input[p * 3]!, input[p * 3 + 1]!, input[p * 3 + 2]!);
      if (out[p * 3] !== g || out[p * 3 + 1] !== g || out[p * 3 + 2] !== g) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});

describe('trap', () => {
  it('boom traps with a RuntimeError; ok still answers 42', async () => {
    const instance = await instantiate('trap');
    expect(() => fn<[], void>(instance, 'boom')()).toThrow(WebAssembly.RuntimeError);
    expect(fn<[], number>(await instantiate('trap'), 'ok')()).toBe(42);
  });
});

describe('loop and memory-hog (not run)', () => {
  it('ok answers 42 on both', async () => {
    expect(fn<[], number>(await instantiate('loop'), 'ok')()).toBe(42);
    expect(fn<[], number>(await instantiate('memory-hog'), 'ok')()).toBe(42);
  });

  it('memory-hog declares its memory without a maximum', () => {
    expect(memoryLimits(wasmBytes('memory-hog'))).toEqual([{ initial: 1, maximum: undefined }]);
  });
});

describe('math and calc (runtime linking)', () => {
  it("calc.square_plus(x) = x·x + x through math's add and mul, which count their calls", async () => {
    const math = await instantiate('math');
    const calc = await WebAssembly.instantiate(compile('calc'), { math: math.exports });
    expect(fn<[bigint], bigint>(calc, 'square_plus')(7n)).toBe(56n);
    expect(fn<[bigint, bigint], bigint>(math, 'add')(2n ** 63n - 1n, 1n)).toBe(-(2n ** 63n));
    expect(fn<[], bigint>(calc, 'math_calls')()).toBe(3n);
  });
});

describe('poly-client and poly-server (pub/sub)', () => {
  /** Both modules on one in-process bus: messages wait in a queue until `flush`. */
  async function wire() {
    const queue: [string, Uint8Array][] = [];
    const subscribers: [string, WebAssembly.Instance][] = [];
    const text = new TextDecoder();
    const load = async (name: string) => {
      let self!: WebAssembly.Instance;
      const bytes = (ptr: number, len: number) => new Uint8Array(memoryOf(self).buffer, ptr, len).slice();
      const imports = {
        pubsub: {
          publish: (tp: number, tl: number, dp: number, dl: number) => (queue.push([text.decode(bytes(tp, tl)), bytes(dp, dl)]), 0),
          subscribe: (tp: number, tl: number) => (subscribers.push([text.decode(bytes(tp, tl)), self]), 0),
        },
      };
      self = await WebAssembly.instantiate(compile(name), imports);
      return self;
    };
    const flush = () => {
      for (let m = queue.shift(); m; m = queue.shift()) {
        const [topic, data] = m;
        for (const [t, instance] of subscribers) {
          if (t !== topic) continue;
          const alloc = fn<[number], number>(instance, 'alloc');
          const topicBytes = new TextEncoder().encode(topic);
          const tp = alloc(topicBytes.length);
          const dp = alloc(data.length);
          new Uint8Array(memoryOf(instance).buffer).set(topicBytes, tp);
          new Uint8Array(memoryOf(instance).buffer).set(data, dp);
          fn<[number, number, number, number], void>(instance, 'on_message')(tp, topicBytes.length, dp, data.length);
        }
      }
    };
    return { client: await load('poly-client'), server: await load('poly-server'), flush };
  }

  it('solve(1, -3, 2) reaches the server, which answers with the roots 2 and 1', async () => {
    const { client, server, flush } = await wire();
    expect(fn<[], number>(server, 'start')()).toBe(0);
    expect(fn<[], number>(client, 'root_count')()).toBe(-1);
    expect(fn<[number, number, number], number>(client, 'solve')(1, -3, 2)).toBe(0);
    flush();
    expect([fn<[], number>(client, 'root_count')(), fn<[], number>(client, 'root1')(), fn<[], number>(client, 'root2')()]).toEqual([2, 2, 1]);
  });

  it('reports one root for a zero discriminant or a linear equation, none for complex roots', async () => {
    const { client, server, flush } = await wire();
    fn<[], number>(server, 'start')();
    const roots = (a: number, b: number, c: number) => {
      fn<[number, number, number], number>(client, 'solve')(a, b, c);
      flush();
      return [fn<[], number>(client, 'root_count')(), fn<[], number>(client, 'root1')(), fn<[], number>(client, 'root2')()];
    };
    expect(roots(1, -4, 4)).toEqual([1, 2, NaN]);
    expect(roots(0, 2, -6)).toEqual([1, 3, NaN]);
    expect(roots(1, 0, 1)).toEqual([0, NaN, NaN]);
    expect(roots(2, 0, -8)).toEqual([2, 2, -2]);
  });
});

describe('camera and wasi-reader', () => {
  it('wasi-reader ships the deterministic 1000-byte data.bin', () => {
    const data = readFileSync(join(MODULES_DIR, 'wasi-reader', 'data.bin'));
    expect(data.length).toBe(1000);
    for (let i = 0; i < data.length; i++) if (data[i] !== ((37 * i + 11) & 0xff)) throw new Error(`data.bin byte ${i} differs`);
  });

  it('the camera import is a plain function import', () => {
    const camera = WebAssembly.Module.imports(compile('camera')).filter((i) => i.module === 'camera');
    expect(camera).toEqual([{ module: 'camera', name: 'takeImageStaticSize', kind: 'function' }]);
  });
});

// Minimal reader for the memory section (id 5) of a wasm binary.
function memoryLimits(bytes: Uint8Array): Array<{ initial: number; maximum: number | undefined }> {
  let pos = 8;
  const leb = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[pos++]!;
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) return result;
    }
  };
  while (pos < bytes.length) {
    const id = bytes[pos++]!;
    const size = leb();
    const end = pos + size;
    if (id === 5) {
      const count = leb();
      const limits = [];
      for (let i = 0; i < count; i++) {
        const flags = leb();
        const initial = leb();
        limits.push({ initial, maximum: flags & 1 ? leb() : undefined });
      }
      return limits;
    }
    pos = end;
  }
  return [];
}
