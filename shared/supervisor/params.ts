/**
 * Turning request parameters (JSON values or query strings) into wasm arguments, by
 * position, as the export's signature wants them: i32 and i64 integers (i64 as BigInt),
 * f32 and f64 numbers. A missing or unparsable parameter is a named error naming it —
 * never a silent 0.
 * @module
 */
import { InvalidParamsError } from '../errors.ts';
import type { WasmValue } from '../ports/sandbox.ts';
import type { FuncType, ValueType } from '../wasm/binary.ts';

const INTEGER = /^[+-]?\d+$/;
const I64_MIN = -(2n ** 63n);
const U64_MAX = 2n ** 64n - 1n;

/**
 * Put `raw` in positional order: an array as it is, an object by the described names
 * (`param0`, `param1`, … in WasmIoT) or, without names, by `param<i>` keys.
 */
export function positional(raw: unknown[] | Record<string, unknown>, names: readonly string[], count: number): unknown[] {
  if (Array.isArray(raw)) return raw;
  return Array.from({ length: count }, (_, i) => raw[names[i] ?? `param${i}`] ?? raw[`param${i}`]);
}

/** Convert one value to the wasm type, or throw ERR_INVALID_PARAMS naming the parameter. */
export function toWasmValue(value: unknown, type: ValueType, name: string): WasmValue {
  if (value === undefined || value === null || value === '') {
    throw new InvalidParamsError(`missing parameter ${name} (${type})`, { param: name, type });
  }
  const text = typeof value === 'string' ? value.trim() : value;
  switch (type) {
    case 'i32': {
      const n = typeof text === 'bigint' ? Number(text) : typeof text === 'number' ? text : INTEGER.test(String(text)) ? Number(text) : NaN;
      // Accept the unsigned reading too (0..2^32-1) and pass it as the same bits.
      if (!Number.isInteger(n) || n < -(2 ** 31) || n > 2 ** 32 - 1) return invalid(value, type, name);
      return n | 0;
    }
    case 'i64': {
      let n: bigint;
      if (typeof text === 'bigint') n = text;
      else if (typeof text === 'number' && Number.isSafeInteger(text)) n = BigInt(text);
      else if (typeof text === 'string' && INTEGER.test(text)) n = BigInt(text);
      else return invalid(value, type, name);
      if (n < I64_MIN || n > U64_MAX) return invalid(value, type, name);
      return BigInt.asIntN(64, n);
    }
    case 'f32':
    case 'f64': {
      const n = typeof text === 'number' ? text : typeof text === 'string' && text !== '' ? Number(text) : NaN;
      if (!Number.isFinite(n)) return invalid(value, type, name);
      return n;
    }
    default:
      throw new InvalidParamsError(`parameter ${name}: ${type} parameters cannot be passed from a request`, { param: name, type });
  }
}

function invalid(value: unknown, type: ValueType, name: string): never {
  throw new InvalidParamsError(`parameter ${name}: ${JSON.stringify(String(value)).slice(0, 60)} is not a valid ${type}`, { param: name, type });
}

/** All arguments of a call to a function of type `type`. */
export function toWasmArgs(type: FuncType, raw: unknown[] | Record<string, unknown>, names: readonly string[] = []): WasmValue[] {
  const values = positional(raw, names, type.params.length);
  if (values.length > type.params.length) {
    throw new InvalidParamsError(`the function takes ${type.params.length} parameter(s), got ${values.length}`);
  }
  return type.params.map((t, i) => toWasmValue(values[i], t, names[i] ?? `param${i}`));
}

/** A wasm result as plain JSON: numbers, or a decimal string for i64 beyond 2^53. */
export function toJsonValue(value: WasmValue | undefined): number | string | null {
  if (value === undefined) return null;
  if (typeof value === 'bigint') return value >= -(2n ** 53n) && value <= 2n ** 53n ? Number(value) : value.toString();
  return value;
}
