/**
 * The depth and size limits of JSON input (shared/protocol/json-limits.ts): the scanner
 * over text and bytes, and the walk over values that arrive parsed.
 */
import { MeshError } from '../../shared/errors.ts';
import { checkValue, scanJson } from '../../shared/protocol/json-limits.ts';

const refusal = (fn: () => void): MeshError => {
  try {
    fn();
  } catch (error) {
    return error as MeshError;
  }
  throw new Error('expected a refusal');
};

describe('scanJson', () => {
  const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

  it('counts [ and { outside strings, in text and in bytes alike', () => {
    for (const form of [(s: string) => s, utf8]) {
      expect(() => scanJson(form('[[[1]]]'), { maxDepth: 3 })).not.toThrow();
      expect(refusal(() => scanJson(form('[[[[1]]]]'), { maxDepth: 3 })).data).toEqual({ limit: 'maxDepth', max: 3 });
      expect(refusal(() => scanJson(form('{"a": {"b": [{"c": 1}]}}'), { maxDepth: 3 })).code).toBe('ERR_INVALID_PARAMS');
      // Brackets inside strings, escaped quotes and non-ASCII text are not nesting.
      expect(() => scanJson(form('["[[[[{{{{", "\\"[[[[", "ü€😀[[[["]'), { maxDepth: 1 })).not.toThrow();
      // Siblings do not add up: depth is nesting, not count.
      expect(() => scanJson(form(`[${'[1],'.repeat(1000)}[1]]`), { maxDepth: 2 })).not.toThrow();
    }
  });

  it('refuses 100,000 levels without parsing, and text over the size limit, naming the limit', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const error = refusal(() => scanJson(deep, {}, 'the body'));
    expect(error.code).toBe('ERR_INVALID_PARAMS');
    expect(error.message).toContain('the body is nested deeper than 64 levels');
    expect(refusal(() => scanJson('[1, 2, 3]', { maxBytes: 8 })).data).toEqual({ limit: 'maxBytes', max: 8 });
    // Malformed text is the parser's to refuse: the scanner only guards depth and size.
    expect(() => scanJson(']]]] not json {{')).not.toThrow();
  });
});

describe('checkValue', () => {
  it('walks a value 100,000 levels deep without recursion and refuses it', () => {
    let v: unknown = 1;
    for (let i = 0; i < 100_000; i++) v = { a: [v] };
    expect(refusal(() => checkValue(v, { maxDepth: 64 })).data).toEqual({ limit: 'maxDepth', max: 64 });
  });

  it('refuses a cycle and a value with too many parts; byte arrays are one value', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(refusal(() => checkValue(cyclic)).code).toBe('ERR_INVALID_PARAMS');
    expect(refusal(() => checkValue(Array.from({ length: 1001 }, () => 1), { maxNodes: 1000 })).data).toEqual({ limit: 'maxNodes', max: 1000 });
    expect(() => checkValue({ bytes: new Uint8Array(1_000_000), args: [1, 2n, 'x', null] }, { maxNodes: 10, maxDepth: 2 })).not.toThrow();
  });
});
