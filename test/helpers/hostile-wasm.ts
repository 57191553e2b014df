/**
 * Small hostile WebAssembly binaries, assembled byte by byte: modules that declare more
 * than an instance may have (a ten-million-entry table in 17 bytes, a data segment of
 * many MiB, thousands of globals or segments), unbounded recursion, a declared memory
 * of a chosen size, and malformed binaries (truncated, wrong magic, a section size
 * past the end, a LEB128 that never ends). Pure: used by Node tests and the browser
 * acceptance suites alike.
 */

const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** Unsigned LEB128. */
export function leb(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return out;
}

function section(id: number, body: number[] | Uint8Array): Uint8Array {
  const head = [id, ...leb(body.length)];
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

function join(...parts: (number[] | Uint8Array)[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const str = (s: string): number[] => [...leb(s.length), ...new TextEncoder().encode(s)];

/** `ok: () -> i32` returning 42, plus whatever `extra` sections (by id) say, in id order. */
function withOk(extra: Record<number, Uint8Array>): Uint8Array {
  const body = [0x00, 0x41, 42, 0x0b];
  const sections: Record<number, Uint8Array> = {
    1: section(1, [1, 0x60, 0, 1, 0x7f]),
    3: section(3, [1, 0]),
    7: section(7, [1, ...str('ok'), 0x00, 0]),
    10: section(10, [1, ...leb(body.length), ...body]),
    ...extra,
  };
  // Section order of the spec: type, import, function, table, memory, global, export, start, element, datacount, code, data.
  const order = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11];
  return join(MAGIC, ...order.filter((id) => sections[id]).map((id) => sections[id]!));
}

/** A module whose only content is a funcref table of `elements` elements (17 bytes for ten million). */
export function tableBomb(elements: number): Uint8Array {
  return withOk({ 4: section(4, [1, 0x70, 0x00, ...leb(elements)]) });
}

/** A module with one memory of `pages` pages and an active data segment of `bytes` zero bytes. */
export function dataBomb(bytes: number, pages = Math.ceil(bytes / 65536) + 1): Uint8Array {
  const head = [1, 0x00, 0x41, 0x00, 0x0b, ...leb(bytes)];
  const body = new Uint8Array(head.length + bytes);
  body.set(head);
  return withOk({ 5: section(5, [1, 0x00, ...leb(pages)]), 11: section(11, body) });
}

/** A module defining `count` immutable i32 globals. */
export function globalsBomb(count: number): Uint8Array {
  const one = [0x7f, 0x00, 0x41, 0x00, 0x0b];
  const body: number[] = [...leb(count)];
  for (let i = 0; i < count; i++) body.push(...one);
  return withOk({ 6: section(6, body) });
}

/** A module with `count` empty passive data segments. */
export function segmentsBomb(count: number): Uint8Array {
  const body: number[] = [...leb(count)];
  for (let i = 0; i < count; i++) body.push(0x01, 0x00);
  return withOk({ 12: section(12, leb(count)), 11: section(11, body) });
}

/** A module with a memory of `min` pages (and `max`, if given) and `ok: () -> i32`. */
export function memoryModule(min: number, max?: number): Uint8Array {
  return withOk({ 5: section(5, max === undefined ? [1, 0x00, ...leb(min)] : [1, 0x01, ...leb(min), ...leb(max)]) });
}

/** `ok: () -> i32` (42) and `recurse: (i32) -> i32`, which calls itself without end. */
export function recursion(): Uint8Array {
  const ok = [0x00, 0x41, 42, 0x0b];
  // recurse(n) = recurse(n + 1) + 1: not a tail call, so every level takes a frame.
  const recurse = [0x00, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x10, 0x01, 0x41, 0x01, 0x6a, 0x0b];
  return join(
    MAGIC,
    section(1, [2, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7f, 1, 0x7f]),
    section(3, [2, 0, 1]),
    section(7, [2, ...str('ok'), 0x00, 0, ...str('recurse'), 0x00, 1]),
    section(10, [2, ...leb(ok.length), ...ok, ...leb(recurse.length), ...recurse]),
  );
}

/** Malformed binaries, each with what is wrong with it. */
export function malformed(): Record<string, Uint8Array> {
  const good = recursion();
  return {
    truncated: good.subarray(0, good.length - 5),
    'wrong magic': join([0x00, 0x61, 0x73, 0x6e, 0x01, 0x00, 0x00, 0x00], good.subarray(8)),
    'huge section size': join(MAGIC, [0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]),
    'bogus LEB128': join(MAGIC, [0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
    'header only, too short': new Uint8Array([0x00, 0x61, 0x73]),
  };
}

/**
 * `grow: (i32) -> i32` grows its funcref table (1 element, no maximum) by n null
 * elements and returns what `table.grow` returns (the old size, or -1); `ok: () -> i32`.
 */
export function tableGrower(): Uint8Array {
  const ok = [0x00, 0x41, 42, 0x0b];
  const grow = [0x00, 0xd0, 0x70, 0x20, 0x00, 0xfc, 0x0f, 0x00, 0x0b];
  return join(
    MAGIC,
    section(1, [2, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7f, 1, 0x7f]),
    section(3, [2, 0, 1]),
    section(4, [1, 0x70, 0x00, 0x01]),
    section(7, [2, ...str('ok'), 0x00, 0, ...str('grow'), 0x00, 1]),
    section(10, [2, ...leb(ok.length), ...ok, ...leb(grow.length), ...grow]),
  );
}
