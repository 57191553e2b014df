/**
 * A whole snapshot cut into parts that can travel and be restored one after another, so
 * that a large state is restored while the rest of it is still on its way (live
 * migration streams its base so). The first part is a whole snapshot of its own pages —
 * globals, files, tables, the memory's size — whose restore clears everything else; each
 * later part (`part: true`) holds only pages. Restoring the parts in order gives the
 * whole snapshot.
 *
 * A page that repeats an earlier one (the same bytes object, as the sandbox hands a run
 * of equal pages over) goes in the part of the page it repeats, so that it still travels
 * as a reference; a part holds at most `pagesPerPart` distinct pages.
 * @module
 */
import type { InstanceSnapshot } from '../ports/sandbox.ts';

/** `snapshot` (a whole one) in parts of at most `pagesPerPart` distinct pages, to be restored in order. */
export function splitSnapshot(snapshot: InstanceSnapshot, pagesPerPart: number): InstanceSnapshot[] {
  if (snapshot.delta || snapshot.part) throw new RangeError('only a whole snapshot is cut into parts');
  if (!Number.isInteger(pagesPerPart) || pagesPerPart < 1) throw new RangeError('pagesPerPart must be a positive integer');
  const pages: Record<number, Uint8Array>[] = [{}];
  const distinct = [0];
  const partOf = new Map<Uint8Array, number>();
  for (const p of Object.keys(snapshot.pages).map(Number).sort((a, b) => a - b)) {
    const bytes = snapshot.pages[p]!;
    let part = partOf.get(bytes);
    if (part === undefined) {
      part = pages.length - 1;
      if (distinct[part]! >= pagesPerPart) {
        pages.push({});
        distinct.push(0);
        part++;
      }
      distinct[part]!++;
      partOf.set(bytes, part);
    }
    pages[part]![p] = bytes;
  }
  return pages.map((own, i): InstanceSnapshot => {
    if (i === 0) return { ...snapshot, pages: own };
    return { moduleId: snapshot.moduleId, pages: own, memoryPages: snapshot.memoryPages, globals: {}, files: {}, part: true };
  });
}

/**
 * Consecutive parts of one snapshot (`parts[0]` first, in order) as one part that
 * restores to the same state as they do one after another: the first's globals, files
 * and tables, and whether it is whole, with every part's pages (a later part's page
 * over an earlier one's) and the largest memory. A target that has several parts in
 * hand restores them in one step instead of one step each.
 */
export function joinParts(parts: InstanceSnapshot[]): InstanceSnapshot {
  if (parts.length === 0) throw new RangeError('no parts to join');
  if (parts.length === 1) return parts[0]!;
  if (parts.slice(1).some((p) => !p.part) || parts.some((p) => p.delta)) throw new RangeError('only a run of parts is joined, whole or part first');
  const pages: Record<number, Uint8Array> = {};
  for (const p of parts) Object.assign(pages, p.pages);
  return { ...parts[0]!, pages, memoryPages: Math.max(...parts.map((p) => p.memoryPages)) };
}
