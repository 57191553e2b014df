/**
 * A tiny validator kit for data that arrives from other peers: every check returns a
 * path-qualified reason instead of throwing, so a malformed entry can be logged and
 * ignored. Pure functions, no dependencies. Containers check their items without a path
 * and name it only when one fails (checking it again): valid data, the usual case, builds
 * no path strings.
 * @module
 */

/** Outcome of a check: the value typed, or why it failed. */
export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

/** A check for values of type T. */
export type Check<T> = (value: unknown, path?: string) => Checked<T>;

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = (path: string, what: string): Checked<never> => ({ ok: false, error: `${path || 'value'}: ${what}` });

/** `check`'s failure on `value` again, now named by `path` (checks are pure: it fails again). */
function failedAt<T>(check: Check<T>, value: unknown, path: string): Checked<never> {
  const r = check(value, path);
  return r.ok ? fail(path, 'invalid') : r;
}

/** A string, optionally bounded in length and matching a pattern. */
export function str(opts: { max?: number; min?: number; pattern?: RegExp } = {}): Check<string> {
  return (v, p = '') => {
    if (typeof v !== 'string') return fail(p, 'expected a string');
    if (v.length > (opts.max ?? 10_000)) return fail(p, 'string too long');
    if (v.length < (opts.min ?? 0)) return fail(p, 'string too short');
    if (opts.pattern && !opts.pattern.test(v)) return fail(p, `does not match ${opts.pattern}`);
    return ok(v);
  };
}

/** A finite number, optionally an integer within bounds. */
export function num(opts: { int?: boolean; min?: number; max?: number } = {}): Check<number> {
  return (v, p = '') => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(p, 'expected a finite number');
    if (opts.int && !Number.isInteger(v)) return fail(p, 'expected an integer');
    if (opts.min !== undefined && v < opts.min) return fail(p, `below ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) return fail(p, `above ${opts.max}`);
    return ok(v);
  };
}

/** A boolean. */
export const bool: Check<boolean> = (v, p = '') => (typeof v === 'boolean' ? ok(v) : fail(p, 'expected a boolean'));

/** Any value (already known to be plain data). */
export const any: Check<unknown> = (v) => ok(v);

/** One of the given literals. */
export function literal<T extends string | number>(...options: T[]): Check<T> {
  return (v, p = '') => (options.includes(v as T) ? ok(v as T) : fail(p, `expected one of ${options.join(', ')}`));
}

/** An array whose items pass `item`, at most `max` long. */
export function arr<T>(item: Check<T>, max = 10_000): Check<T[]> {
  return (v, p = '') => {
    if (!Array.isArray(v)) return fail(p, 'expected an array');
    if (v.length > max) return fail(p, `more than ${max} items`);
    for (let i = 0; i < v.length; i++) {
      if (!item(v[i]).ok) return failedAt(item, v[i], `${p}[${i}]`);
    }
    return ok(v as T[]);
  };
}

/** A plain object used as a dictionary: string keys, values passing `value`. */
export function dict<T>(value: Check<T>, max = 10_000): Check<Record<string, T>> {
  return (v, p = '') => {
    if (!isPlainObject(v)) return fail(p, 'expected an object');
    const entries = Object.entries(v);
    if (entries.length > max) return fail(p, `more than ${max} keys`);
    for (const [k, item] of entries) {
      if (!value(item).ok) return failedAt(value, item, `${p}.${k}`);
    }
    return ok(v as Record<string, T>);
  };
}

type Shape = Record<string, Check<unknown> | Optional<unknown>>;
type Optional<T> = { optional: Check<T> };
type ShapeType<S extends Shape> = {
  [K in keyof S as S[K] extends Optional<unknown> ? never : K]: S[K] extends Check<infer T> ? T : never;
} & {
  [K in keyof S as S[K] extends Optional<unknown> ? K : never]?: S[K] extends Optional<infer T> ? T : never;
};

/** Mark a field of {@link obj} as optional (absent or undefined). */
export function opt<T>(check: Check<T>): Optional<T> {
  return { optional: check };
}

/** An object with the given fields; unknown fields are allowed and kept. */
export function obj<S extends Shape>(shape: S): Check<ShapeType<S>> {
  // Read once: this runs for every message and registry entry a peer receives.
  const fields = Object.entries(shape).map(([key, spec]) => (typeof spec === 'object' ? { key, check: spec.optional, optional: true } : { key, check: spec, optional: false }));
  return (v, p = '') => {
    if (!isPlainObject(v)) return fail(p, 'expected an object');
    for (const { key, check, optional } of fields) {
      const field = (v as Record<string, unknown>)[key];
      if (field === undefined) {
        if (optional) continue;
        return fail(`${p}.${key}`, 'missing');
      }
      if (!check(field).ok) return failedAt(check, field, `${p}.${key}`);
    }
    return ok(v as ShapeType<S>);
  };
}

/** True for `{}`-style objects (not arrays, not byte arrays, not null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A Uint8Array, at most `max` bytes. */
export function bytes(max = Infinity): Check<Uint8Array> {
  return (v, p = '') => {
    if (!(v instanceof Uint8Array)) return fail(p, 'expected bytes');
    if (v.byteLength > max) return fail(p, `more than ${max} bytes`);
    return ok(v);
  };
}
