// Every host function a tracked module calls records where it may have written: each byte a
// real call changes must lie in the ranges the write map gave before the call. Run against
// the WASI shim the sandbox uses and the wasi-nn imports, on a memory filled with a pattern.
import { File, OpenFile, PreopenDirectory, WASI, ConsoleStdout, Directory } from '@bjorn3/browser_wasi_shim';
import { expect } from 'chai';
import { type WriteMap, type WriteRanges, recordingWrites, wasiWrites } from '../../shared/sandbox/host-writes.ts';
import { wasiNn } from '../../shared/sandbox/host-imports/wasi-nn.ts';
import { encodeTensors } from '../../shared/sandbox/wasi-nn-host.ts';
import type { HostContext } from '../../shared/sandbox/host-imports/host-import.ts';
import { putTensor } from '../helpers/nn-tensor.ts';

const PATTERN = 0xa5;
/** Where the cases put their inputs: paths, iovecs, subscriptions (none is an output). */
const PATH = 0x8000;
const IOVS = 0x8100;
const SUBS = 0x8200;

function freshWasi(): { wasi: WASI; memory: WebAssembly.Memory } {
  const dir = new PreopenDirectory('.', new Map<string, File | Directory>([
    ['a.txt', new File(new TextEncoder().encode('the quick brown fox jumps over the lazy dog, twice over: the quick brown fox'))],
    ['sub', new Directory(new Map([['b.txt', new File(new Uint8Array(3))]]))],
  ]));
  const wasi = new WASI(['prog', 'ünïcode'], ['A=1', 'LONGER=value'], [new OpenFile(new File([])), new ConsoleStdout(() => undefined), new ConsoleStdout(() => undefined), dir]);
  const memory = new WebAssembly.Memory({ initial: 2 });
  wasi.inst = { exports: { memory } } as unknown as typeof wasi.inst;
  return { wasi, memory };
}

/** Run `name(...args)` on a patterned memory (after `setup`); the bytes it changed and the ranges the map gave. */
function run(map: WriteMap, call: (...args: unknown[]) => unknown, name: string, args: unknown[], memory: WebAssembly.Memory, setup?: (view: DataView, bytes: Uint8Array) => void): { changed: number[]; ranges: WriteRanges | null; result: unknown } {
  const bytes = new Uint8Array(memory.buffer);
  bytes.fill(PATTERN);
  setup?.(new DataView(memory.buffer), bytes);
  const before = bytes.slice();
  const ranges = map[name]!(args, () => new DataView(memory.buffer));
  let result: unknown;
  try {
    result = call(...args);
  } catch (error) {
    result = error;
  }
  const after = new Uint8Array(memory.buffer);
  const changed: number[] = [];
  for (let i = 0; i < before.length; i++) if (after[i] !== before[i]) changed.push(i);
  return { changed, ranges, result };
}

function outside(changed: number[], ranges: WriteRanges | null): number[] {
  if (ranges === null) return [];
  return changed.filter((i) => !ranges.some(([at, length]) => i >= at && i < at + length));
}

const path = (text: string) => (_view: DataView, bytes: Uint8Array) => bytes.set(new TextEncoder().encode(text), PATH);
const iovs = (list: [number, number][]) => (view: DataView) => list.forEach(([at, length], i) => (view.setUint32(IOVS + 8 * i, at, true), view.setUint32(IOVS + 8 * i + 4, length, true)));

describe('host functions record where they write', () => {
  it('lists every WASI function of the shim', () => {
    const { wasi } = freshWasi();
    const map = wasiWrites([], []);
    expect(Object.keys(wasi.wasiImport).filter((name) => !Object.hasOwn(map, name))).to.deep.equal([]);
  });

  // Each case runs on a fresh shim: [function, arguments, setup, whether it must write]. fd 3 is
  // the preopened directory; path_open's fd lands at 0x100, so later cases open their own.
  const OPEN = (p: string, oflags = 0) => (wasi: WASI, memory: WebAssembly.Memory): number => {
    new Uint8Array(memory.buffer).set(new TextEncoder().encode(p), PATH);
    const errno = (wasi.wasiImport.path_open as (...a: unknown[]) => number)(3, 0, PATH, p.length, oflags, 0x1fffffffn, 0x1fffffffn, 0, 0x7000);
    if (errno !== 0) throw new Error(`path_open ${p}: ${errno}`);
    return new DataView(memory.buffer).getUint32(0x7000, true);
  };
  type Case = { name: string; args: (fd: number) => unknown[]; setup?: (view: DataView, bytes: Uint8Array) => void; open?: string; writes: boolean };
  const cases: Case[] = [
    { name: 'args_sizes_get', args: () => [0x100, 0x104], writes: true },
    { name: 'args_get', args: () => [0x100, 0x200], writes: true },
    { name: 'environ_sizes_get', args: () => [0x100, 0x104], writes: true },
    { name: 'environ_get', args: () => [0x100, 0x200], writes: true },
    { name: 'clock_res_get', args: () => [1, 0x100], writes: true },
    { name: 'clock_time_get', args: () => [0, 0n, 0x100], writes: true },
    { name: 'clock_time_get', args: () => [1, 0n, 0x100], writes: true },
    { name: 'fd_fdstat_get', args: () => [3, 0x100], writes: true },
    { name: 'fd_filestat_get', args: (fd) => [fd, 0x100], open: 'a.txt', writes: true },
    { name: 'fd_prestat_get', args: () => [3, 0x100], writes: true },
    { name: 'fd_prestat_dir_name', args: () => [3, 0x100, 1], writes: true },
    { name: 'path_open', args: () => [3, 0, PATH, 5, 0, 0x1fffffffn, 0x1fffffffn, 0, 0x100], setup: path('a.txt'), writes: true },
    { name: 'fd_read', args: (fd) => [fd, IOVS, 2, 0x100], setup: iovs([[0x1000, 10], [0x2000, 50]]), open: 'a.txt', writes: true },
    { name: 'fd_read', args: (fd) => [fd, IOVS, 1, 0x100], setup: iovs([[0x1000, 4096]]), open: 'a.txt', writes: true },
    { name: 'fd_pread', args: (fd) => [fd, IOVS, 2, 3n, 0x100], setup: iovs([[0x1000, 10], [0x2000, 50]]), open: 'a.txt', writes: true },
    { name: 'fd_seek', args: (fd) => [fd, 7n, 0, 0x100], open: 'a.txt', writes: true },
    { name: 'fd_tell', args: (fd) => [fd, 0x100], open: 'a.txt', writes: true },
    { name: 'fd_write', args: () => [1, IOVS, 1, 0x100], setup: iovs([[0x1000, 16]]), writes: true },
    { name: 'fd_pwrite', args: (fd) => [fd, IOVS, 1, 2n, 0x100], setup: iovs([[0x1000, 16]]), open: 'a.txt', writes: true },
    { name: 'fd_readdir', args: () => [3, 0x1000, 4096, 0n, 0x100], writes: true },
    { name: 'fd_readdir', args: () => [3, 0x1000, 30, 0n, 0x100], writes: true },
    { name: 'path_filestat_get', args: () => [3, 0, PATH, 5, 0x100], setup: path('a.txt'), writes: true },
    { name: 'path_readlink', args: () => [3, PATH, 5, 0x1000, 64, 0x100], setup: path('a.txt'), writes: false },
    { name: 'poll_oneoff', args: () => [SUBS, 0x1000, 1, 0x100], setup: (view) => (view.setBigUint64(SUBS, 42n, true), view.setUint8(SUBS + 8, 0), view.setUint32(SUBS + 16, 1, true), view.setBigUint64(SUBS + 24, 1n, true)), writes: true },
    { name: 'random_get', args: () => [0x1000, 64], writes: true },
    { name: 'sock_accept', args: () => [3, 0, 0x100], writes: false },
    { name: 'sock_recv', args: () => [3, IOVS, 1, 0, 0x100, 0x104], setup: iovs([[0x1000, 16]]), writes: false },
    { name: 'sock_send', args: () => [3, IOVS, 1, 0, 0x100], setup: iovs([[0x1000, 16]]), writes: false },
    { name: 'fd_advise', args: (fd) => [fd, 0n, 10n, 0], open: 'a.txt', writes: false },
    { name: 'fd_allocate', args: (fd) => [fd, 0n, 100n], open: 'a.txt', writes: false },
    { name: 'fd_close', args: (fd) => [fd], open: 'a.txt', writes: false },
    { name: 'fd_datasync', args: (fd) => [fd], open: 'a.txt', writes: false },
    { name: 'fd_sync', args: (fd) => [fd], open: 'a.txt', writes: false },
    { name: 'fd_fdstat_set_flags', args: (fd) => [fd, 0], open: 'a.txt', writes: false },
    { name: 'fd_fdstat_set_rights', args: (fd) => [fd, 0n, 0n], open: 'a.txt', writes: false },
    { name: 'fd_filestat_set_size', args: (fd) => [fd, 5n], open: 'a.txt', writes: false },
    { name: 'fd_filestat_set_times', args: (fd) => [fd, 1n, 2n, 0], open: 'a.txt', writes: false },
    { name: 'fd_renumber', args: (fd) => [fd, 0], open: 'a.txt', writes: false },
    { name: 'path_create_directory', args: () => [3, PATH, 3], setup: path('new'), writes: false },
    { name: 'path_filestat_set_times', args: () => [3, 0, PATH, 5, 1n, 2n, 0], setup: path('a.txt'), writes: false },
    { name: 'path_link', args: () => [3, 0, PATH, 5, 3, PATH + 16, 5], setup: (v, b) => (path('a.txt')(v, b), b.set(new TextEncoder().encode('c.txt'), PATH + 16)), writes: false },
    { name: 'path_symlink', args: () => [PATH, 5, 3, PATH + 16, 5], setup: (v, b) => (path('a.txt')(v, b), b.set(new TextEncoder().encode('d.txt'), PATH + 16)), writes: false },
    { name: 'path_rename', args: () => [3, PATH, 5, 3, PATH + 16, 5], setup: (v, b) => (path('a.txt')(v, b), b.set(new TextEncoder().encode('e.txt'), PATH + 16)), writes: false },
    { name: 'path_unlink_file', args: () => [3, PATH, 5], setup: path('a.txt'), writes: false },
    { name: 'path_remove_directory', args: () => [3, PATH, 3], setup: path('sub'), writes: false },
    { name: 'proc_raise', args: () => [2], writes: false },
    { name: 'sched_yield', args: () => [], writes: false },
    { name: 'sock_shutdown', args: () => [3, 0], writes: false },
    { name: 'proc_exit', args: () => [0], writes: false },
  ];

  it('has a case for every function of the map', () => {
    expect(Object.keys(wasiWrites([], [])).filter((name) => !cases.some((c) => c.name === name))).to.deep.equal([]);
  });

  for (const c of cases) {
    it(`WASI ${c.name}(${c.args(4).map(String).join(', ')})${c.open ? ` on ${c.open}` : ''} writes only inside its ranges`, () => {
      const { wasi, memory } = freshWasi();
      const fd = c.open ? OPEN(c.open)(wasi, memory) : 3;
      const map = wasiWrites(wasi.args, wasi.env);
      const f = wasi.wasiImport[c.name as keyof typeof wasi.wasiImport] as (...a: unknown[]) => unknown;
      const r = run(map, f, c.name, c.args(fd), memory, c.setup);
      expect(outside(r.changed, r.ranges), `bytes ${c.name} wrote outside its ranges ${JSON.stringify(r.ranges)}`).to.deep.equal([]);
      expect(r.ranges, 'a map entry that reads its arguments').to.not.equal(null);
      // A case meant to write did: it ran as intended, so the check above says something.
      if (c.writes) expect(r.changed.length, `${c.name} returned ${String(r.result)} and wrote nothing`).to.be.greaterThan(0);
    });
  }

  it('counts the whole memory as written where an iovec array cannot be read', () => {
    const { wasi, memory } = freshWasi();
    const map = wasiWrites(wasi.args, wasi.env);
    expect(map.fd_read!([3, 0x1fff8, 2, 0x100], () => new DataView(memory.buffer))).to.equal(null);
    expect(map.fd_read!([3, IOVS, 100_000, 0x100], () => new DataView(memory.buffer))).to.equal(null);
  });

  it('wasi-nn: every function of the import writes only inside its ranges', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const output = new Float32Array([0.25, 0.5, 0.125, 0.125]);
    const bridge = (op: string): Uint8Array => {
      const answer = op === 'nnLoad' ? new Uint8Array(8) : (() => {
        const tensors = encodeTensors([{ type: 'f32', dims: [1, 4], data: new Uint8Array(output.buffer) }]);
        const a = new Uint8Array(4 + tensors.byteLength);
        a.set(tensors, 4);
        return a;
      })();
      if (op === 'nnLoad') new DataView(answer.buffer).setUint32(4, 7, true);
      return answer;
    };
    const ctx = { memory: () => memory, bridge, file: () => new Uint8Array(4), stderr: () => undefined } as unknown as HostContext;
    const imports = wasiNn.create(ctx) as Record<string, (...a: unknown[]) => unknown>;
    const map = wasiNn.writes!;
    // An f32 (type 1) tensor of shape [1, 4]: dims at 0x3000, struct at 0x3100, its 16 bytes at 0x3200.
    const tensor = (view: DataView): void => putTensor(view, 0x3100, { dimsAt: 0x3000, dims: [1, 4], type: 1, dataAt: 0x3200, bytes: 16 });
    const steps: [string, unknown[], ((v: DataView, b: Uint8Array) => void) | undefined][] = [
      ['load', [IOVS, 1, 1, 0, 0x100], iovs([[0x1000, 4]])],
      ['load_by_name', [PATH, 5, 0x100], path('model')],
      ['init_execution_context', [7, 0x100], undefined],
      ['set_input', [1, 0, 0x3100], tensor],
      ['compute', [1], undefined],
      ['get_output', [1, 0, 0x1000, 64, 0x100], undefined],
    ];
    for (const [name, args, setup] of steps) {
      const r = run(map, imports[name]!, name, args, memory, setup);
      expect(r.result, `${name} succeeded`).to.equal(0);
      expect(outside(r.changed, r.ranges), `bytes ${name} wrote outside its ranges`).to.deep.equal([]);
    }
    expect(Object.keys(imports).filter((name) => !Object.hasOwn(map, name))).to.deep.equal([]);
  });

  it('recordingWrites records the ranges, and the whole memory for a function the map does not list', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const recorded: [number, number][] = [];
    let everything = 0;
    const imports = recordingWrites(
      { listed: (p: number) => new DataView(memory.buffer).setUint32(p, 1, true), unlisted: () => 0, throws: () => { throw new Error('trap'); } },
      { listed: (a) => [[Number(a[0]) >>> 0, 4]], throws: () => [[16, 8]] },
      () => memory,
      (at, length) => recorded.push([at, length]),
      () => everything++,
    ) as Record<string, (...a: unknown[]) => unknown>;
    imports.listed!(64);
    imports.unlisted!();
    expect(() => imports.throws!()).to.throw('trap');
    expect(recorded).to.deep.equal([[64, 4], [16, 8]]);
    expect(everything).to.equal(1);
  });
});
