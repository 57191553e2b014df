/**
 * Where host functions write into a module's memory, so that a module whose own stores are
 * tracked (wasm/instrument.ts) need not count its whole memory as written after each call
 * into the host.
 *
 * The state copy after a call copies the span the call wrote. Stores the module makes
 * itself are in the span already; what the host writes for it (a WASI read into its
 * buffer, a clock into its out-pointer) is the host's to record. Without a map, every
 * call of a host function that can write widens the span to the whole memory: a module
 * that reads one file per call then copies all of its memory per call (a 13 MiB classify
 * instance: about 2 ms a call). With one, the span takes in only the bytes each function
 * may write, computed from its arguments before it runs (a scatter read's buffers are read
 * from its iovecs first, as the function itself reads them).
 *
 * Each entry is an upper bound: a function may write less than its ranges (a read that
 * stops short), never more. A function with no entry, arguments the entry cannot read
 * (an iovec array out of bounds, too many iovecs), or a range past 4 GiB counts as
 * writing everything, as before. `test/unit/host-writes.test.ts` runs every WASI function
 * of the shim and checks that each byte it changed lies in the ranges its entry gave.
 * @module
 */

/** `[at, length)` byte ranges of the caller's memory. */
export type WriteRanges = readonly (readonly [number, number])[];

/**
 * The ranges a host function may write, from its arguments (as the wasm caller passed them:
 * i32 as numbers, i64 as bigints) and a view of memory before the call; `null`: anywhere.
 */
export type WritesOf = (args: readonly unknown[], memory: () => DataView) => WriteRanges | null;

/** Per function name. A function not listed may write anywhere. */
export type WriteMap = Readonly<Record<string, WritesOf>>;

/** The most iovecs whose buffers are listed one by one; more count as writing anywhere. */
const MAX_IOVECS = 1024;

/** An i32 argument as an unsigned address. */
export function ptr(args: readonly unknown[], i: number): number {
  return Number(args[i]) >>> 0;
}

/** Out-parameters: for each `[i, length]`, `length` bytes at the address in argument `i`. */
export const out =
  (...params: (readonly [i: number, length: number])[]): WritesOf =>
  (args) =>
    params.map(([i, length]) => [ptr(args, i), length] as const);

/** Writes nothing. */
export const none: WritesOf = () => [];

/** The buffers of the iovec array at argument `at` (`count` in the next argument), as a scatter read fills them. */
function iovecs(args: readonly unknown[], memory: () => DataView, at: number): [number, number][] | null {
  const base = ptr(args, at);
  const count = ptr(args, at + 1);
  if (count > MAX_IOVECS) return null;
  const view = memory();
  if (base + 8 * count > view.byteLength) return null;
  const ranges: [number, number][] = [];
  for (let i = 0; i < count; i++) ranges.push([view.getUint32(base + 8 * i, true), view.getUint32(base + 8 * i + 4, true)]);
  return ranges;
}

/** A scatter read: its iovecs' buffers, and `extra` more ranges. */
const scatter =
  (at: number, ...extra: [number, number][]): WritesOf =>
  (args, memory) => {
    const buffers = iovecs(args, memory, at);
    return buffers && [...buffers, ...extra.map(([i, length]) => [ptr(args, i), length] as const)];
  };

/** Bytes of strings as `args_get` and `environ_get` lay them out: each UTF-8, NUL-terminated. */
function stringsBytes(strings: readonly string[]): number {
  const encoder = new TextEncoder();
  return strings.reduce((n, s) => n + encoder.encode(s).byteLength + 1, 0);
}

/**
 * WASI preview 1 (`wasi_snapshot_preview1`), by the ABI's out-parameters. `args` and `env`
 * are the instance's, for `args_get` and `environ_get` (pointer arrays and string buffers).
 * Struct sizes: fdstat 24, filestat 64, prestat 8, event 32 bytes; timestamps and file
 * sizes 8, fds and counts 4.
 */
export function wasiWrites(args: readonly string[], env: readonly string[]): WriteMap {
  // args_get and environ_get: an array of pointers, then the strings they point to.
  const strings = (list: readonly string[]): WritesOf => out([0, 4 * list.length], [1, stringsBytes(list)]);
  return {
    args_sizes_get: out([0, 4], [1, 4]),
    args_get: strings(args),
    environ_sizes_get: out([0, 4], [1, 4]),
    environ_get: strings(env),
    clock_res_get: out([1, 8]),
    clock_time_get: out([2, 8]),
    fd_advise: none,
    fd_allocate: none,
    fd_close: none,
    fd_datasync: none,
    fd_fdstat_get: out([1, 24]),
    fd_fdstat_set_flags: none,
    fd_fdstat_set_rights: none,
    fd_filestat_get: out([1, 64]),
    fd_filestat_set_size: none,
    fd_filestat_set_times: none,
    fd_pread: scatter(1, [4, 4]),
    fd_prestat_get: out([1, 8]),
    fd_prestat_dir_name: (a) => [[ptr(a, 1), ptr(a, 2)]],
    fd_pwrite: out([4, 4]),
    fd_read: scatter(1, [3, 4]),
    fd_readdir: (a) => [
      [ptr(a, 1), ptr(a, 2)],
      [ptr(a, 4), 4],
    ],
    fd_renumber: none,
    fd_seek: out([3, 8]),
    fd_sync: none,
    fd_tell: out([1, 8]),
    fd_write: out([3, 4]),
    path_create_directory: none,
    path_filestat_get: out([4, 64]),
    path_filestat_set_times: none,
    path_link: none,
    path_open: out([8, 4]),
    path_readlink: (a) => [
      [ptr(a, 3), ptr(a, 4)],
      [ptr(a, 5), 4],
    ],
    path_remove_directory: none,
    path_rename: none,
    path_symlink: none,
    path_unlink_file: none,
    poll_oneoff: (a) => [
      [ptr(a, 1), 32 * ptr(a, 2)],
      [ptr(a, 3), 4],
    ],
    proc_exit: none,
    proc_raise: none,
    random_get: (a) => [[ptr(a, 0), ptr(a, 1)]],
    sched_yield: none,
    sock_accept: out([2, 4]),
    sock_recv: scatter(1, [4, 4], [5, 2]),
    sock_send: out([4, 4]),
    sock_shutdown: none,
  };
}

/**
 * Wrap `imports` so that each function records what it may have written in the span
 * (`record`): where `writes` says, or, for a function it does not list or arguments it
 * cannot read, the whole memory (`everything`).
 */
export function recordingWrites(
  imports: WebAssembly.ModuleImports,
  writes: WriteMap | undefined,
  memory: () => WebAssembly.Memory | null,
  record: (at: number, length: number) => void,
  everything: () => void,
): WebAssembly.ModuleImports {
  const wrapped: WebAssembly.ModuleImports = {};
  for (const [name, value] of Object.entries(imports)) {
    if (typeof value !== 'function') {
      wrapped[name] = value;
      continue;
    }
    const f = value as (...args: unknown[]) => unknown;
    const where = writes && Object.hasOwn(writes, name) ? writes[name] : undefined;
    if (!where) {
      wrapped[name] = (...args: unknown[]) => {
        try {
          return f(...args);
        } finally {
          everything();
        }
      };
      continue;
    }
    wrapped[name] = (...args: unknown[]) => {
      let ranges: WriteRanges | null = null;
      try {
        ranges = where(args, () => new DataView(memory()?.buffer ?? new ArrayBuffer(0)));
      } catch {
        ranges = null;
      }
      try {
        return f(...args);
      } finally {
        if (ranges === null || ranges.some(([at, length]) => at + length > 0xffffffff)) everything();
        else for (const [at, length] of ranges) if (length > 0) record(at, length);
      }
    };
  }
  return wrapped;
}
