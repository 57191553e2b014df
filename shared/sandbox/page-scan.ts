/**
 * The scans a whole snapshot makes of a module's linear memory (unit-snapshot.ts): is a
 * 64 KiB page all zeros, and does it equal another page. A 16 MiB memory is 256 pages; a
 * buffer of one value compares every page with the one before it in full. In JavaScript
 * those loops run cold in each worker — a worker takes at most one whole snapshot, at the
 * start of a move — and took 8–25 ms for 16 MiB of repeated data on a 2-core machine;
 * a small wasm module that imports the same `WebAssembly.Memory` compares 64 bytes a step
 * with SIMD and is compiled before it runs (3–6 ms measured alone, under load). Where it
 * cannot be used — an engine without SIMD, a shared or 64-bit memory, which its import
 * does not match — the scans fall back to the loops in JavaScript; both answer the same.
 * @module
 */
import { PAGE } from './unit.ts';

/**
 * The helper's binary, from:
 * ```wat
 * (module
 *   (import "e" "m" (memory 0))
 *   (func (export "zero") (param $p i32) (param $n i32) (result i32)
 *     (block $out
 *       (loop $l
 *         (br_if $out (i32.eqz (local.get $n)))
 *         (if (v128.any_true (v128.or (v128.or (v128.load (local.get $p)) (v128.load offset=16 (local.get $p)))
 *                                     (v128.or (v128.load offset=32 (local.get $p)) (v128.load offset=48 (local.get $p)))))
 *           (then (return (i32.const 0))))
 *         (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *         (local.set $n (i32.sub (local.get $n) (i32.const 1)))
 *         (br $l)))
 *     (i32.const 1))
 *   (func (export "same") (param $a i32) (param $b i32) (param $n i32) (result i32)
 *     (block $out
 *       (loop $l
 *         (br_if $out (i32.eqz (local.get $n)))
 *         (if (v128.any_true (v128.or (v128.or (v128.xor (v128.load (local.get $a)) (v128.load (local.get $b)))
 *                                              (v128.xor (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $b))))
 *                                     (v128.or (v128.xor (v128.load offset=32 (local.get $a)) (v128.load offset=32 (local.get $b)))
 *                                              (v128.xor (v128.load offset=48 (local.get $a)) (v128.load offset=48 (local.get $b))))))
 *           (then (return (i32.const 0))))
 *         (local.set $a (i32.add (local.get $a) (i32.const 64)))
 *         (local.set $b (i32.add (local.get $b) (i32.const 64)))
 *         (local.set $n (i32.sub (local.get $n) (i32.const 1)))
 *         (br $l)))
 *     (i32.const 1)))
 * ```
 * (`$n` counts 64-byte steps, so a page at the top of a 4 GiB memory does not wrap.)
 */
const SCAN_WASM = Uint8Array.of(
  0, 97, 115, 109, 1, 0, 0, 0, 1, 14, 2, 96, 2, 127, 127, 1, 127, 96, 3, 127, 127, 127, 1, 127,
  2, 8, 1, 1, 101, 1, 109, 2, 0, 0, 3, 3, 2, 0, 1, 7, 15, 2, 4, 122, 101, 114, 111, 0,
  0, 4, 115, 97, 109, 101, 0, 1, 10, 183, 1, 2, 70, 0, 2, 64, 3, 64, 32, 1, 69, 13, 1, 32,
  0, 253, 0, 4, 0, 32, 0, 253, 0, 4, 16, 253, 80, 32, 0, 253, 0, 4, 32, 32, 0, 253, 0, 4,
  48, 253, 80, 253, 80, 253, 83, 4, 64, 65, 0, 15, 11, 32, 0, 65, 192, 0, 106, 33, 0, 32, 1, 65,
  1, 107, 33, 1, 12, 0, 11, 11, 65, 1, 11, 110, 0, 2, 64, 3, 64, 32, 2, 69, 13, 1, 32, 0,
  253, 0, 4, 0, 32, 1, 253, 0, 4, 0, 253, 81, 32, 0, 253, 0, 4, 16, 32, 1, 253, 0, 4, 16,
  253, 81, 253, 80, 32, 0, 253, 0, 4, 32, 32, 1, 253, 0, 4, 32, 253, 81, 32, 0, 253, 0, 4, 48,
  32, 1, 253, 0, 4, 48, 253, 81, 253, 80, 253, 80, 253, 83, 4, 64, 65, 0, 15, 11, 32, 0, 65, 192,
  0, 106, 33, 0, 32, 1, 65, 192, 0, 106, 33, 1, 32, 2, 65, 1, 107, 33, 2, 12, 0, 11, 11, 65,
  1, 11
);

/** Scans of one memory's pages (page numbers, not byte offsets). */
export interface PageScan {
  /** True when page `p` is all zeros. */
  zero(p: number): boolean;
  /** True when pages `p` and `q` hold the same bytes. */
  same(p: number, q: number): boolean;
}

let compiled: WebAssembly.Module | null | undefined;
const scans = new WeakMap<WebAssembly.Memory, PageScan>();

/** The scans of `memory`'s pages: the wasm helper where it links, else JavaScript. */
export function pageScan(memory: WebAssembly.Memory): PageScan {
  let scan = scans.get(memory);
  if (!scan) {
    scan = helperScan(memory) ?? jsScan(memory);
    scans.set(memory, scan);
  }
  return scan;
}

/** The wasm helper over `memory`, or null where it does not compile or link. */
export function helperScan(memory: WebAssembly.Memory): PageScan | null {
  try {
    compiled ??= new WebAssembly.Module(SCAN_WASM);
  } catch {
    compiled = null;
  }
  if (!compiled) return null;
  try {
    const exports = new WebAssembly.Instance(compiled, { e: { m: memory } }).exports as {
      zero(at: number, steps: number): number;
      same(at: number, other: number, steps: number): number;
    };
    const steps = PAGE / 64;
    // Byte offsets past 2^31 arrive as negative i32s, which wasm reads as the same unsigned address.
    return { zero: (p) => exports.zero(p * PAGE, steps) === 1, same: (p, q) => exports.same(p * PAGE, q * PAGE, steps) === 1 };
  } catch {
    return null;
  }
}

/** The same scans as loops over 32-bit words. */
export function jsScan(memory: WebAssembly.Memory): PageScan {
  const words = (p: number): Uint32Array => new Uint32Array(memory.buffer, p * PAGE, PAGE >>> 2);
  return {
    zero(p) {
      const w = words(p);
      for (let i = 0; i < w.length; i++) if (w[i] !== 0) return false;
      return true;
    },
    same(p, q) {
      const x = words(p);
      const y = words(q);
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
      return true;
    },
  };
}
