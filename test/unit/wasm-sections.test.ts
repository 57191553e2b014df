/**
 * The one section walker (shared/wasm/sections.ts) and the readers built on it: the
 * parser, the rewriter and the write tracker see the same sections and refuse the same
 * malformed modules by the same named error.
 */
import { expect } from 'chai';
import { Reader } from '../../shared/wasm/cursor.ts';
import { parseModule } from '../../shared/wasm/binary.ts';
import { trackWrites } from '../../shared/wasm/instrument.ts';
import { readLimits, skipConstExpr, walkSections } from '../../shared/wasm/sections.ts';
import { wat } from '../helpers/wat.ts';

const HEADER = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
const module = (...sections: number[][]): Uint8Array => new Uint8Array([...HEADER, ...sections.flat()]);
const section = (id: number, ...content: number[]): number[] => [id, content.length, ...content];
const custom = (name: string): number[] => section(0, name.length, ...new TextEncoder().encode(name));

function failure(f: () => unknown): { code?: string; message: string; data?: { section: string; offset: number } } {
  try {
    f();
  } catch (e) {
    return e as { code?: string; message: string; data?: { section: string; offset: number } };
  }
  throw new Error('expected a failure');
}

describe('Section walker', () => {
  it('lists every section with its place, custom sections anywhere', () => {
    const bytes = module(custom('a'), section(1, 0), custom('b'), section(3, 0), section(10, 0));
    const walked = walkSections(bytes);
    expect(walked.map((s) => s.name)).to.deep.equal(['custom', 'type', 'custom', 'function', 'code']);
    expect(walked[1]).to.deep.include({ id: 1, offset: 12, contentOffset: 14, size: 1, end: 15 });
    expect(walked.at(-1)!.end).to.equal(bytes.length);
  });

  it('takes tag before global and datacount before code, as the format orders them', () => {
    expect(walkSections(module(section(13, 0), section(6, 0), section(12, 1, 0), section(10, 0))).map((s) => s.name)).to.deep.equal(['tag', 'global', 'datacount', 'code']);
  });

  for (const [what, bytes, pattern] of [
    ['a duplicate section', module(section(1, 0), section(1, 0)), /type section: duplicate section at offset 11/],
    ['a section out of order', module(section(3, 0), section(1, 0)), /type section: section out of order/],
    ['an unknown section id', module(section(14, 0)), /unknown section id 14/],
    ['a size past the end', module([1, 0x10, 0]), /section size 16 runs past the end/],
    ['a bad magic number', new TextEncoder().encode('not wasm at all'), /bad magic/],
  ] as const) {
    it(`refuses ${what} the same way in the parser and the write tracker`, () => {
      const parsed = failure(() => parseModule(bytes));
      const tracked = failure(() => trackWrites(bytes));
      expect(parsed.code).to.equal('ERR_INVALID_WASM');
      expect(parsed.message).to.match(pattern);
      expect(tracked.message).to.equal(parsed.message);
    });
  }

  it('leaves a component (another binary version) to the tracker untouched', () => {
    expect(trackWrites(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]))).to.equal(null);
  });

  it('tracks a module and keeps its custom sections where they were', async () => {
    const bytes = await wat('(module (memory (export "memory") 1) (func (export "f") i32.const 0 i32.const 1 i32.store))');
    const withCustom = new Uint8Array([...bytes, ...custom('trailer')]);
    const tracked = trackWrites(withCustom)!;
    const walked = walkSections(tracked.bytes);
    expect(walked.at(-1)!.name).to.equal('custom');
    expect(parseModule(tracked.bytes).customSections).to.deep.equal(['trailer']);
  });
});

describe('Limits and constant expressions', () => {
  it('reads limits with and without a maximum, 64-bit ones too', () => {
    expect(readLimits(new Reader(new Uint8Array([1, 2, 9]), 0, 3, 't'), 'memory')).to.deep.equal({ flags: 1, min: 2, max: 9 });
    expect(readLimits(new Reader(new Uint8Array([4, 0x80, 0x01]), 0, 3, 't'), 'table')).to.deep.equal({ flags: 4, min: 128 });
  });

  it('refuses flags a table cannot have (shared) by name', () => {
    const error = failure(() => readLimits(new Reader(new Uint8Array([3, 1, 1]), 0, 3, 'table section'), 'table'));
    expect(error.code).to.equal('ERR_INVALID_WASM');
    expect(error.message).to.contain('unsupported table flags 0x3');
  });

  it('skips a constant expression to its end and refuses anything not constant', () => {
    const r = new Reader(new Uint8Array([0x41, 0x2a, 0x23, 0, 0x6a, 0x0b, 0xff]), 0, 7, 'global section');
    skipConstExpr(r);
    expect(r.pos).to.equal(6);
    const error = failure(() => skipConstExpr(new Reader(new Uint8Array([0x10, 0, 0x0b]), 0, 3, 'global section')));
    expect(error.message).to.contain('unsupported instruction 0x10 in a constant expression');
  });
});
