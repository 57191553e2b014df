/**
 * Write tracking (shared/wasm/instrument.ts): a tracked module computes exactly what the
 * original does, and its span covers every byte it wrote — by stores of every width and
 * offset, SIMD and lane stores, memory.fill, memory.copy and memory.init — in whole
 * pages. Modules it cannot track are left alone.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DIRTY_HI_EXPORT, DIRTY_LO_EXPORT, DIRTY_PAGE_EXPORT, readSpan, resetSpan, type SpanGlobals, trackWrites } from '../../shared/wasm/instrument.ts';
import { wat } from '../helpers/wat.ts';

interface Pair {
  plain: WebAssembly.Exports;
  tracked: WebAssembly.Exports;
  span: SpanGlobals;
}

function pair(bytes: Uint8Array): Pair {
  const t = trackWrites(bytes);
  if (!t) throw new Error('not tracked');
  const plain = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {}).exports;
  const tracked = new WebAssembly.Instance(new WebAssembly.Module(t.bytes), {}).exports;
  const span = { lo: tracked[t.lo], hi: tracked[t.hi], page: tracked[t.page] } as SpanGlobals;
  resetSpan(span);
  return { plain, tracked, span };
}

const memoryOf = (e: WebAssembly.Exports): Uint8Array => new Uint8Array((e.memory as WebAssembly.Memory).buffer);

/** Run `name(...args)` on both; same result and same memory; the span covers every byte that changed. */
function runBoth(p: Pair, name: string, ...args: (number | bigint)[]): { lo: number; hi: number } {
  const before = memoryOf(p.tracked).slice();
  const a = (p.plain[name] as (...x: unknown[]) => unknown)(...args);
  const b = (p.tracked[name] as (...x: unknown[]) => unknown)(...args);
  expect(b).toEqual(a);
  const after = memoryOf(p.tracked);
  expect(Buffer.compare(after, memoryOf(p.plain))).toBe(0);
  const span = readSpan(p.span);
  let first = -1;
  let last = -1;
  for (let i = 0; i < after.length; i++) {
    if (i < before.length ? after[i] !== before[i] : after[i] !== 0) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first >= 0) expect(first >= span.lo && last < span.hi, `bytes ${first} to ${last} changed, the span is [${span.lo}, ${span.hi})`).toBe(true);
  resetSpan(p.span);
  return span;
}

/** Every core store: [export name, instruction, value]. */
const WIDTHS = [
  ['i32_store8', 'i32.store8', 'i32.const 1'],
  ['i32_store16', 'i32.store16', 'i32.const 0x0202'],
  ['i32_store', 'i32.store', 'i32.const 0x03030303'],
  ['i64_store', 'i64.store', 'i64.const 0x0404040404040404'],
  ['i64_store8', 'i64.store8', 'i64.const 5'],
  ['i64_store16', 'i64.store16', 'i64.const 0x0606'],
  ['i64_store32', 'i64.store32', 'i64.const 0x07070707'],
  ['f32_store', 'f32.store', 'f32.const 1.5'],
  ['f64_store', 'f64.store', 'f64.const 2.5'],
];

const STORES = `
(module
  (memory (export "memory") 5)
  (data (i32.const 300000) "abcdefgh")
  (data $passive "ijklmnop")
  ${WIDTHS.map(([name, store, value]) => `(func (export "${name}") (param $at i32) (${store} offset=3 (local.get $at) (${value})))`).join('\n  ')}
  (func (export "far") (param $offset i32)
    (i32.store offset=200000 (local.get $offset) (i32.const -1)))
  (func (export "straddle")
    (i64.store (i32.const 65532) (i64.const -1)))
  (func (export "reads") (result i32)
    (i32.add (i32.load (i32.const 4)) (i32.load offset=200000 (i32.const 0))))
  (func (export "loop") (param $n i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 offset=1000 (local.get $i) (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
  (func (export "bulk")
    (memory.fill (i32.const 70000) (i32.const 9) (i32.const 10))
    (memory.copy (i32.const 140000) (i32.const 300000) (i32.const 8))
    (memory.init $passive (i32.const 190000) (i32.const 0) (i32.const 8))))`;

describe('trackWrites', () => {
  it('keeps what every store writes, and covers it with the span: its page and the next', async () => {
    const p = pair(await wat(STORES));
    for (const [name] of WIDTHS) {
      // Each in a page of its own, at an offset so the memarg's offset matters.
      expect(runBoth(p, name!, 2 * 65536 + 1000), name).toEqual({ lo: 2 * 65536, hi: 4 * 65536 });
      expect(runBoth(p, name!, 65536 - 3), name).toEqual({ lo: 65536, hi: 3 * 65536 });
    }
  });

  it('widens the span by whole pages, to the page a store lands on and the next', async () => {
    const p = pair(await wat(STORES));
    expect(runBoth(p, 'far', 8)).toEqual({ lo: 3 * 65536, hi: 5 * 65536 });
    // A store across a page boundary is covered on both sides.
    expect(runBoth(p, 'straddle')).toEqual({ lo: 0, hi: 2 * 65536 });
  });

  it('leaves the span empty when a function only reads', async () => {
    const p = pair(await wat(STORES));
    const span = runBoth(p, 'reads');
    expect(span.lo >= span.hi).toBe(true);
  });

  it('covers a loop that writes across pages', async () => {
    const p = pair(await wat(STORES));
    // Bytes 1000 to 141000: pages 0 to 2, and the page after the last.
    expect(runBoth(p, 'loop', 140_000)).toEqual({ lo: 0, hi: 4 * 65536 });
  });

  it('covers memory.fill, memory.copy and memory.init by their destinations', async () => {
    const p = pair(await wat(STORES));
    const span = runBoth(p, 'bulk');
    expect(span.lo).toBeLessThanOrEqual(70000);
    expect(span.hi).toBeGreaterThanOrEqual(190008);
  });

  it('covers SIMD stores and lane stores', async () => {
    const p = pair(await wat(`
      (module
        (memory (export "memory") 2)
        (func (export "simd")
          (v128.store offset=16 (i32.const 0) (v128.const i32x4 1 2 3 4))
          (v128.store32_lane offset=70000 1 (i32.const 0) (v128.const i32x4 5 6 7 8))))`, { simd: true }));
    const span = runBoth(p, 'simd');
    expect(span).toEqual({ lo: 0, hi: 3 * 65536 });
  });

  it('keeps the module working when it has no globals or exports of its own', async () => {
    const p = pair(await wat('(module (memory 1) (func (export "f") (i32.store (i32.const 8) (i32.const 1))))'));
    const f = p.tracked.f as () => void;
    f();
    expect(readSpan(p.span)).toEqual({ lo: 0, hi: 2 * 65536 });
    expect(Object.keys(p.tracked)).toEqual(['f', DIRTY_LO_EXPORT, DIRTY_HI_EXPORT, DIRTY_PAGE_EXPORT]);
  });

  it('picks other export names when the module uses them already', async () => {
    const t = trackWrites(await wat(`(module (memory 1) (global (export "${DIRTY_LO_EXPORT}") i32 (i32.const 5)) (func (export "f")))`));
    expect(t?.lo).toBe(`${DIRTY_LO_EXPORT}_1`);
  });

  it('leaves alone modules it cannot track: no memory, memory64, shared memory', async () => {
    expect(trackWrites(await wat('(module (func (export "f")))'))).toBeNull();
    expect(trackWrites(await wat('(module (memory i64 1) (func (export "f") (i32.store (i64.const 0) (i32.const 1))))', { memory64: true }))).toBeNull();
    // (module (memory 1 1 shared) (func (i32.store (i32.const 0) (i32.const 1)))), by hand.
    const shared = Uint8Array.of(
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
      0x03, 0x02, 0x01, 0x00,
      0x05, 0x04, 0x01, 0x03, 0x01, 0x01,
      0x0a, 0x0b, 0x01, 0x09, 0x00, 0x41, 0x00, 0x41, 0x01, 0x36, 0x02, 0x00, 0x0b,
    );
    expect(WebAssembly.validate(shared)).toBe(true);
    expect(trackWrites(shared)).toBeNull();
  });

  it('refuses bytes that are not a module with ERR_INVALID_WASM', () => {
    expect(() => trackWrites(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_WASM' }));
  });

  it('produces modules that validate from every sample binary', () => {
    const samples = readdirSync(new URL('../../modules/', import.meta.url), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.wasm'));
    expect(samples.length).toBeGreaterThan(15);
    for (const file of samples) {
      const tracked = trackWrites(readFileSync(new URL(`../../modules/${file}`, import.meta.url)));
      if (tracked) expect(WebAssembly.validate(tracked.bytes), file).toBe(true);
    }
  });
});
