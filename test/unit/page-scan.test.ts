// The page scans of a whole snapshot (shared/sandbox/page-scan.ts): the wasm helper and
// the JavaScript loops answer the same for zero, equal and nearly equal pages.
import { describe, expect, it } from 'vitest';
import { helperScan, jsScan, pageScan } from '../../shared/sandbox/page-scan.ts';
import { takeSnapshot } from '../../shared/sandbox/unit-snapshot.ts';
import type { Unit } from '../../shared/sandbox/unit.ts';

const PAGE = 65536;

/** A memory of 8 pages: 0 zero, 1 and 2 equal, 3 = 2 but its last byte, 4 = 2 but its first, 5 a lone byte at its end, 6 a negative zero double, 7 zero. */
function laidOut(memory: WebAssembly.Memory): void {
  const bytes = new Uint8Array(memory.buffer);
  for (let i = 0; i < PAGE; i++) bytes[PAGE + i] = (i * 31) % 251;
  bytes.copyWithin(2 * PAGE, PAGE, 2 * PAGE);
  bytes.copyWithin(3 * PAGE, PAGE, 2 * PAGE);
  bytes[4 * PAGE - 1] ^= 1;
  bytes.copyWithin(4 * PAGE, PAGE, 2 * PAGE);
  bytes[4 * PAGE] ^= 0x80;
  bytes[6 * PAGE - 1] = 1;
  new DataView(memory.buffer).setFloat64(6 * PAGE + 8, -0);
}

describe('page scans', () => {
  it('tell zero, equal and nearly equal pages apart, the wasm helper as the loops do', () => {
    const memory = new WebAssembly.Memory({ initial: 8 });
    laidOut(memory);
    const fast = pageScan(memory);
    const slow = jsScan(memory);
    expect(helperScan(memory), 'the helper links to a plain memory').not.toBeNull();
    for (const scan of [fast, slow]) {
      expect([0, 1, 2, 3, 4, 5, 6, 7].map((p) => scan.zero(p))).toEqual([true, false, false, false, false, false, false, true]);
      expect(scan.same(1, 2)).toBe(true);
      expect(scan.same(2, 3)).toBe(false);
      expect(scan.same(2, 4)).toBe(false);
      expect(scan.same(0, 7)).toBe(true);
      expect(scan.same(6, 7), 'a negative zero is not zero bits').toBe(false);
    }
  });

  it('falls back to the loops where the helper cannot link (a shared memory), with the same answers', () => {
    const memory = new WebAssembly.Memory({ initial: 8, maximum: 8, shared: true });
    laidOut(memory);
    expect(helperScan(memory)).toBeNull();
    const scan = pageScan(memory);
    expect([0, 1, 5, 6, 7].map((p) => scan.zero(p))).toEqual([true, false, false, false, true]);
    expect(scan.same(1, 2)).toBe(true);
    expect(scan.same(2, 3)).toBe(false);
  });

  it('leaves zero pages out of a snapshot and sends a page equal to the one before it as a reference', () => {
    const memory = new WebAssembly.Memory({ initial: 8 });
    laidOut(memory);
    const unit = { memory, globals: [], tables: new Map(), providers: new Map(), instance: { exports: {} }, dir: { dir: { contents: new Map() } } } as unknown as Unit;
    const { snapshot } = takeSnapshot(unit);
    expect(Object.keys(snapshot.pages).map(Number)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(snapshot.pages[2], 'page 2 repeats page 1').toBe(snapshot.pages[1]);
    expect(snapshot.pages[3]).not.toBe(snapshot.pages[1]);
    expect(snapshot.pages[3]![PAGE - 1]).toBe(new Uint8Array(memory.buffer)[4 * PAGE - 1]);
    // The first page has no page before it to repeat.
    const first = new WebAssembly.Memory({ initial: 2 });
    new Uint8Array(first.buffer).fill(7);
    const taken = takeSnapshot({ ...unit, memory: first } as Unit).snapshot;
    expect(Object.keys(taken.pages).map(Number)).toEqual([0, 1]);
    expect(taken.pages[1], 'page 1 repeats page 0').toBe(taken.pages[0]);
    expect(taken.pages[0]!.every((b) => b === 7)).toBe(true);
  });
});
