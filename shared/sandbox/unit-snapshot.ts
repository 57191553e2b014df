/**
 * Snapshots of an app unit for migration: taken (only non-zero pages travel) and
 * restored (whole, or only the pages that changed since the snapshot restored before).
 * @module
 */
import type { InstanceSnapshot } from '../ports/sandbox.ts';
import { pageScan } from './page-scan.ts';
import { changedTables, dirFiles, EVERYTHING, NOTHING, PAGE, type Range, readGlobals, replaceFiles, union, type Unit, writeGlobals, writeState, writeTables } from './unit.ts';

/** A snapshot of a unit and the buffer its pages live in (to transfer, not clone). */
export interface TakenSnapshot {
  snapshot: Omit<InstanceSnapshot, 'moduleId'>;
  transfer: ArrayBuffer[];
}

/**
 * The app's state only: linked providers are shared library code whose state (if any)
 * stays where it runs; a restore leaves the target's providers as they are. With
 * `written` (the bytes written since the previous snapshot), a delta over that snapshot:
 * every page the range touches, zero or not, and the globals, files and tables whole.
 */
export function takeSnapshot(l: Unit, written?: Range): TakenSnapshot {
  const pages: Record<number, Uint8Array> = {};
  const memoryPages = l.memory ? l.memory.buffer.byteLength / PAGE : 0;
  let copy: ArrayBuffer | null = null;
  if (l.memory) {
    const all = new Uint8Array(l.memory.buffer);
    // Only non-zero pages travel: most of a typical linear memory is zeros. They are
    // copied into one buffer, which is handed to the host (transferred, not cloned).
    const used: number[] = [];
    // A non-zero page equal to the one before it (a buffer of one value, a repeating
    // pattern) is not copied: it names the same bytes, and travels as a reference.
    const repeats = new Map<number, number>();
    if (written) {
      const first = Math.floor(Math.max(0, written.lo) / PAGE);
      const end = Math.min(memoryPages, Math.ceil(written.hi / PAGE));
      for (let p = first; p < end; p++) used.push(p);
    } else {
      const scan = pageScan(l.memory);
      let previous = -1;
      for (let p = 0; p < memoryPages; p++) {
        if (scan.zero(p)) continue;
        if (p > 0 && previous === p - 1 && scan.same(p, previous)) repeats.set(p, repeats.get(previous) ?? previous);
        else used.push(p);
        previous = p;
      }
    }
    copy = new ArrayBuffer(used.length * PAGE);
    const out = new Uint8Array(copy);
    used.forEach((p, i) => {
      out.set(all.subarray(p * PAGE, (p + 1) * PAGE), i * PAGE);
      pages[p] = out.subarray(i * PAGE, (i + 1) * PAGE);
    });
    for (const [p, of] of repeats) pages[p] = pages[of]!;
  }
  const tables = changedTables(l);
  const snapshot: Omit<InstanceSnapshot, 'moduleId'> = { pages, memoryPages, globals: readGlobals(l), files: dirFiles(l) };
  if (written) snapshot.delta = true;
  return { snapshot: tables ? { ...snapshot, tables } : snapshot, transfer: copy ? [copy] : [] };
}

/**
 * Put a snapshot into a unit. Returns the memory it wrote: a delta's or a part's pages (so that state
 * copies taken next move only those), or a whole snapshot's pages (memory is zero
 * elsewhere).
 * @throws SnapshotInvalidError when it names tables or functions the unit cannot hold.
 */
export function restoreSnapshot(l: Unit, s: InstanceSnapshot): Range {
  // A later part of a base shipped in parts: its pages, nothing else (the first part set
  // the globals, files and tables, and cleared what memory held before).
  if (s.part) return l.memory ? writePages(l, s) : NOTHING;
  writeTables(l, s.tables ?? {});
  let written: Range = EVERYTHING;
  if (s.delta && l.memory) {
    // Only the pages that changed since the snapshot restored before: the rest stay.
    written = writePages(l, s);
    writeGlobals(l, s.globals);
  } else {
    // Straight into linear memory: every page the snapshot holds, zeros elsewhere.
    if (l.memory) {
      const current = l.memory.buffer.byteLength / PAGE;
      if (s.memoryPages > current) l.memory.grow(s.memoryPages - current);
      const target = new Uint8Array(l.memory.buffer);
      // Grown pages are zero already, and the snapshot's pages are written whole below:
      // only the other pages memory had before are cleared (not all of it, twice over).
      for (let p = 0; p < current; p++) if ((s.pages[p]?.byteLength ?? 0) < PAGE) target.fill(0, p * PAGE, (p + 1) * PAGE);
      writeGlobals(l, s.globals);
      written = NOTHING;
      for (const [p, page] of Object.entries(s.pages)) {
        target.set(page.subarray(0, PAGE), Number(p) * PAGE);
        written = union(written, { lo: Number(p) * PAGE, hi: (Number(p) + 1) * PAGE });
      }
    } else writeState(l, null, s.memoryPages, s.globals);
  }
  replaceFiles(l, s.files);
  return written;
}

/** Write a delta's or a part's pages into memory, grown to its size; the range written. */
function writePages(l: Unit, s: InstanceSnapshot): Range {
  const memory = l.memory!;
  const current = memory.buffer.byteLength / PAGE;
  if (s.memoryPages > current) memory.grow(s.memoryPages - current);
  const target = new Uint8Array(memory.buffer);
  let written = NOTHING;
  for (const [p, page] of Object.entries(s.pages)) {
    target.set(page, Number(p) * PAGE);
    written = union(written, { lo: Number(p) * PAGE, hi: (Number(p) + 1) * PAGE });
  }
  // Grown pages are zero in memory but not in older copies.
  if (s.memoryPages > current) written = union(written, { lo: current * PAGE, hi: s.memoryPages * PAGE });
  return written;
}
