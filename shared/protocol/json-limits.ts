/**
 * Depth and size limits of JSON-shaped input, checked before the input is parsed or
 * used. `JSON.parse`, structured cloning, Yjs and JSON.stringify all recurse: a body
 * nested 100,000 levels deep parses in V8 but overflows the stack of whatever walks it
 * next — the request history, the registry, an error message — far from where it came
 * in. So text is scanned first ({@link scanJson}: one pass, counting `[` and `{` outside
 * strings, no parse) and values that arrive already parsed (RPC parameters) are walked
 * without recursion ({@link checkValue}). Both fail with ERR_INVALID_PARAMS naming the
 * limit: `data` is `{ limit, max }`.
 *
 * Hand-written rather than a library's: what is wanted is a refusal before any parser
 * runs, and the JSON parsers on npm with depth options parse as they go (they stop at
 * the limit, after allocating everything above it) or bring a streaming tokenizer ten
 * times this size.
 * @module
 */
import { InvalidParamsError } from '../errors.ts';

/** Limits of one JSON input. */
export interface JsonLimits {
  /** Deepest nesting of arrays and objects (a scalar is depth 0, `[1]` depth 1). */
  maxDepth: number;
  /** Longest text, in bytes (UTF-8) for byte input, in UTF-16 code units for strings. */
  maxBytes: number;
}

/**
 * Defaults for bodies and manifests: far deeper than any manifest, OpenAPI description
 * or call WasmIoT sends (they nest a dozen levels), far shallower than what hurts.
 */
export const DEFAULT_JSON_LIMITS: Readonly<JsonLimits> = { maxDepth: 64, maxBytes: 16 * 1024 * 1024 };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

function tooDeep(max: number, what: string): never {
  throw new InvalidParamsError(`${what} is nested deeper than ${max} levels (maxDepth)`, { limit: 'maxDepth', max });
}

function tooLarge(size: number, max: number, what: string): never {
  throw new InvalidParamsError(`${what} has ${size} bytes; at most ${max} are accepted (maxBytes)`, { limit: 'maxBytes', max });
}

/**
 * Check JSON text against `limits` without parsing it: the size, then the nesting of
 * `[` and `{` outside strings. Malformed text passes (the parser will say what is wrong
 * with it); only what would be too deep or too large is refused. `what` names the input
 * in the message ("the body", "the manifest").
 * @throws InvalidParamsError (`ERR_INVALID_PARAMS`, data `{ limit, max }`).
 */
export function scanJson(text: string | Uint8Array, limits: Partial<JsonLimits> = {}, what = 'the JSON'): void {
  const { maxDepth, maxBytes } = { ...DEFAULT_JSON_LIMITS, ...limits };
  const length = text.length;
  if (length > maxBytes) tooLarge(length, maxBytes, what);
  // UTF-8 continuation and lead bytes are all ≥ 0x80, and UTF-16 code units of the
  // same ASCII characters equal these bytes: one loop serves both forms.
  const at = typeof text === 'string' ? (i: number) => text.charCodeAt(i) : (i: number) => text[i]!;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < length; i++) {
    const c = at(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) tooDeep(maxDepth, what);
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
}

/** Limits of a parsed value. */
export interface ValueLimits {
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
  /** Most arrays, objects and scalars in it, all counted. */
  maxNodes: number;
}

function isScalar(v: unknown): boolean {
  return typeof v !== 'object' || v === null;
}

/** Defaults for call arguments and other values that arrive parsed. */
export const DEFAULT_VALUE_LIMITS: Readonly<ValueLimits> = { maxDepth: 64, maxNodes: 1_000_000 };

/**
 * Check a value that arrived already parsed (RPC parameters, a manifest handed to the
 * orchestrator) against `limits`, walking it with an explicit stack: no recursion, so
 * no input can overflow the caller's stack. Byte arrays count as one scalar. A cycle
 * counts as depth (it never ends) and is refused like too deep a value.
 * @throws InvalidParamsError (`ERR_INVALID_PARAMS`, data `{ limit, max }`).
 */
export function checkValue(value: unknown, limits: Partial<ValueLimits> = {}, what = 'the value'): void {
  const { maxDepth, maxNodes } = { ...DEFAULT_VALUE_LIMITS, ...limits };
  // The common case, a call's arguments as a short list of scalars: nothing to walk.
  if (Array.isArray(value) && value.length < maxNodes && maxDepth >= 1 && value.every(isScalar)) return;
  const stack: [unknown, number][] = [[value, 0]];
  let nodes = 0;
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (++nodes > maxNodes) throw new InvalidParamsError(`${what} has more than ${maxNodes} values (maxNodes)`, { limit: 'maxNodes', max: maxNodes });
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) continue;
    if (depth + 1 > maxDepth) tooDeep(maxDepth, what);
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const child of children) stack.push([child, depth + 1]);
  }
}
