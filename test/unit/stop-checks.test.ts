/**
 * Stop checks (shared/wasm/stop-checks.ts): a checked module computes what the original
 * does — calls, tables, exports, the start function and `ref.func` still name the same
 * functions after the renumbering — and a call that would run forever (a loop, a tail-call
 * cycle, recursion that never nests deeper than the stack allows) reaches the host's poll
 * and ends when the poll throws.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { addStopChecks, FUEL_PER_POLL, STOP_MODULE, STOP_POLL } from '../../shared/wasm/stop-checks.ts';
import { wat } from '../helpers/wat.ts';

class Stopped extends Error {}

/** Instantiate `bytes` checked; the poll counts its calls and throws once `stopAfter` polls are done. */
function checked(bytes: Uint8Array, imports: WebAssembly.Imports = {}, stopAfter = Number.POSITIVE_INFINITY): { exports: WebAssembly.Exports; polls: () => number } {
  const c = addStopChecks(bytes);
  if (!c) throw new Error('not checked');
  let polls = 0;
  const poll = (): number => {
    polls++;
    if (polls > stopAfter) throw new Stopped('stopped');
    return FUEL_PER_POLL;
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(c.bytes), { ...imports, [STOP_MODULE]: { [STOP_POLL]: poll } });
  return { exports: instance.exports, polls: () => polls };
}

const plain = (bytes: Uint8Array, imports: WebAssembly.Imports = {}): WebAssembly.Exports => new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), imports).exports;
const fn = (e: WebAssembly.Exports, name: string) => e[name] as (...args: number[]) => number;

describe('stop checks', () => {
  it('stop an endless loop when the poll throws, after polling only every so many iterations', async () => {
    const bytes = await wat(`(module (func (export "forever") (loop br 0)))`);
    const m = checked(bytes, {}, 3);
    expect(() => fn(m.exports, 'forever')()).toThrow(Stopped);
    expect(m.polls()).toBe(4);
  });

  it('stop a cycle of tail calls, and recursion that only ever goes wide', async () => {
    const bytes = await wat(
      `(module
        (func $ping (export "ping") (param i32) (return_call $pong (local.get 0)))
        (func $pong (param i32) (return_call $ping (i32.add (local.get 0) (i32.const 1))))
        (func $fib (export "fib") (param i32) (result i32)
          (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) (then (local.get 0))
            (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1))) (call $fib (i32.sub (local.get 0) (i32.const 2))))))))`,
      { tail_call: true },
    );
    expect(() => fn(checked(bytes, {}, 2).exports, 'ping')(0)).toThrow(Stopped);
    // fib(60) would take hours; there is no loop in it, only calls.
    expect(() => fn(checked(bytes, {}, 2).exports, 'fib')(60)).toThrow(Stopped);
    expect(fn(checked(bytes).exports, 'fib')(20)).toBe(6765);
  });

  it('keep every function reference: imports, calls, tables, exports, the start function, ref.func in globals and elements', async () => {
    const source = `(module
      (import "env" "twice" (func $twice (param i32) (result i32)))
      (type $un (func (param i32) (result i32)))
      (table 4 funcref)
      (elem (i32.const 0) $inc $dec)
      (elem (i32.const 2) funcref (ref.func $sq) (ref.func $twice))
      (elem declare func $dec)
      (global $started (mut i32) (i32.const 0))
      (global $ref funcref (ref.func $sq))
      (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
      (func $dec (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1)))
      (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
      (func $init (global.set $started (i32.const 42)))
      (start $init)
      (func (export "via_table") (param i32 i32) (result i32) (call_indirect (type $un) (local.get 0) (local.get 1)))
      (func (export "direct") (param i32) (result i32) (call $twice (call $sq (local.get 0))))
      (func (export "started") (result i32) (global.get $started))
      (func (export "sum_to") (param i32) (result i32) (local i32)
        (block (loop (br_if 1 (i32.eqz (local.get 0)))
          (local.set 1 (i32.add (local.get 1) (local.get 0)))
          (local.set 0 (call $dec (local.get 0))) (br 0)))
        (local.get 1))
      (func (export "ref_is_sq") (param i32) (result i32) (table.set (i32.const 3) (ref.func $dec)) (call_indirect (type $un) (local.get 0) (i32.const 3)))
      (export "sq" (func $sq)))`;
    const bytes = await wat(source, { reference_types: true, bulk_memory: true });
    const env = { env: { twice: (x: number) => 2 * x } };
    const a = plain(bytes, env);
    const { exports: b, polls } = checked(bytes, env);
    for (const [name, args] of [['via_table', [5, 0]], ['via_table', [5, 1]], ['via_table', [5, 2]], ['via_table', [5, 3]], ['direct', [3]], ['started', []], ['sum_to', [100_000]], ['ref_is_sq', [9]], ['sq', [12]]] as const) {
      expect(fn(b, name)(...args), `${name}(${args.join(', ')})`).toBe(fn(a, name)(...args));
    }
    // 100 000 loop turns and as many calls: the host was asked about twenty times, not 200 000.
    expect(polls()).toBeGreaterThan(10);
    expect(polls()).toBeLessThan(30);
  });

  it('refuse a module naming a global it does not have, which would reach the countdown, with ERR_INVALID_WASM', async () => {
    // (module (global (mut i32) (i32.const 0)) (func (loop (global.set 1 (i32.const 99)) (br 0)))): global 1 does not exist.
    const bytes = Uint8Array.of(
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
      0x03, 0x02, 0x01, 0x00,
      0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b,
      0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x03, 0x40, 0x41, 0xe3, 0x00, 0x24, 0x01, 0x0c, 0x00, 0x0b, 0x0b,
    );
    expect(WebAssembly.validate(bytes)).toBe(false);
    expect(() => addStopChecks(bytes)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_WASM' }));
  });

  it('leave a module with no code alone, and refuse bytes that are not a module with ERR_INVALID_WASM', async () => {
    expect(addStopChecks(await wat('(module (memory 1))'))).toBeNull();
    expect(() => addStopChecks(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_WASM' }));
  });

  it('produce modules that validate from every sample binary, and name a countdown the host can find', () => {
    const samples = readdirSync(new URL('../../modules/', import.meta.url), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.wasm'));
    expect(samples.length).toBeGreaterThan(15);
    let done = 0;
    for (const file of samples) {
      const c = addStopChecks(readFileSync(new URL(`../../modules/${file}`, import.meta.url)));
      if (!c) continue;
      done++;
      expect(WebAssembly.validate(c.bytes), file).toBe(true);
      expect(WebAssembly.Module.exports(new WebAssembly.Module(c.bytes)).map((e) => e.name), file).toContain(c.fuel);
    }
    expect(done).toBeGreaterThan(15);
  });
});
