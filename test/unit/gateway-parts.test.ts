/**
 * The gateway's pure parts: routing, bracketed form fields, positional arguments, the
 * error table, describe forms, and the `--gateway-port` option of `liquidmesh peer`.
 */
import { readFile } from 'node:fs/promises';
import { positionalArgs } from '../../node-host/gateway/context.ts';
import { binaryForName, describeFromForm } from '../../node-host/gateway/describe.ts';
import { errorResponse, STATUS_OF_CODE } from '../../node-host/gateway/http.ts';
import { nestFields } from '../../node-host/gateway/multipart.ts';
import { Router } from '../../node-host/gateway/router.ts';
import { parsePeerArgs } from '../../node-host/peer-command.ts';
import { InvalidParamsError, MeshError } from '../../shared/errors.ts';
import { parseModule } from '../../shared/wasm/binary.ts';

describe('HTTP gateway parts', () => {
  it('routes literal paths before parameters, and tells a wrong method from an unknown path', () => {
    const noop = (): void => {};
    const r = new Router().on('GET', '/file/module/:id/description', noop).on('GET', '/file/module/:id/:file', noop).on('GET', '/:d/modules/:m/:f', noop);
    expect(r.match('GET', '/file/module/abc/description')).toMatchObject({ kind: 'found', params: { id: 'abc' } });
    expect(r.match('GET', '/file/module/abc/wasm')).toMatchObject({ kind: 'found', params: { id: 'abc', file: 'wasm' } });
    expect(r.match('GET', '/0/modules/fibo%20x/fibo')).toMatchObject({ params: { d: '0', m: 'fibo x', f: 'fibo' } });
    expect(r.match('POST', '/0/modules/fibo/fibo')).toEqual({ kind: 'method', allow: ['GET'] });
    expect(r.match('GET', '/nothing')).toEqual({ kind: 'none' });
    expect(r.match('GET', '/0/modules/%E0%A4%A/f')).toEqual({ kind: 'none' });
  });

  it('nests bracketed fields into objects and arrays, never into prototypes', () => {
    const tree = nestFields([['fibo[method]', 'GET'], ['fibo[mounts][0][name]', 'a'], ['fibo[mounts][1][name]', 'b'], ['__proto__[x]', 'y']]);
    expect(tree.fibo).toEqual({ method: 'GET', mounts: [{ name: 'a' }, { name: 'b' }] });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(() => nestFields([['a', '1'], ['a[b]', '2']])).toThrow(MeshError);
  });

  it('maps query values to parameters by name, then by position', () => {
    const fn = { method: 'GET' as const, params: [{ name: 'param0', type: 'integer' as const }, { name: 'param1', type: 'integer' as const }], result: { type: 'integer' as const }, mounts: [] };
    expect(positionalArgs({ named: [['iterations', '7']], files: {} }, fn)).toEqual(['7', undefined]);
    expect(positionalArgs({ named: [['param1', '2'], ['param0', '1']], files: {} }, fn)).toEqual(['1', '2']);
    expect(positionalArgs({ named: [['x', '1'], ['param0', '5']], files: {} }, fn)).toEqual(['5', '1']);
    expect(positionalArgs({ named: [], list: [3, 4], files: {} }, fn)).toEqual([3, 4]);
  });

  it('answers named errors with their status and anything else with 500', () => {
    expect(errorResponse(new InvalidParamsError('bad')).status).toBe(400);
    expect(errorResponse(new MeshError('ERR_UNKNOWN_MODULE', 'no')).body).toEqual({ errorText: 'Not found', error: 'no', code: 'ERR_UNKNOWN_MODULE' });
    expect(errorResponse(new MeshError('ERR_UNKNOWN_MODULE', 'no'), 'x', { ERR_UNKNOWN_MODULE: 400 }).status).toBe(400);
    expect(errorResponse(new TypeError('oops'))).toMatchObject({ status: 500, body: { code: 'ERR_INTERNAL' } });
    expect(Object.values(STATUS_OF_CODE).every((s) => s >= 400 && s < 600 && s !== 500)).toBe(true);
  });

  it('describes a module from the reference form, and tells apart one binary under two names', async () => {
    const wasm = new Uint8Array(await readFile(new URL('../../modules/fibo/fibo.wasm', import.meta.url)));
    const exports = parseModule(wasm).exports;
    const d = describeFromForm('fibonacci', '1.0.0', { fibo: { method: 'get', param0: 'integer', output: 'integer' } }, new Map(), exports);
    expect(d.functions.fibo).toEqual({ method: 'GET', params: [{ name: 'param0', type: 'integer' }], result: { type: 'integer' }, mounts: [] });
    expect(() => describeFromForm('f', '1.0.0', { fib: { method: 'GET' } }, new Map(), exports)).toThrow(/exports no such function/);
    expect(() => describeFromForm('f', '1.0.0', { fibo: { mounts: [{ name: 'model', stage: 'deployment' }] } }, new Map(), exports)).toThrow(/model/);
    expect(binaryForName(wasm, 'fibo', () => undefined)).toBe(wasm);
    const renamed = binaryForName(wasm, 'fiboMod', () => 'fibo');
    expect(renamed.byteLength).toBeGreaterThan(wasm.byteLength);
    expect(parseModule(renamed).exports.map((e) => e.name)).toEqual(exports.map((e) => e.name));
    await WebAssembly.compile(renamed as Uint8Array<ArrayBuffer>);
  });

  it('parses --gateway-port and --gateway-host of liquidmesh peer', () => {
    expect(parsePeerArgs(['--name', 'a', '--gateway-port', '3000', '--gateway-host', '0.0.0.0'])).toMatchObject({ gatewayPort: 3000, gatewayHost: '0.0.0.0' });
    expect(parsePeerArgs(['--name', 'a']).gatewayPort).toBeUndefined();
    expect(() => parsePeerArgs(['--name', 'a', '--gateway-port', 'x'])).toThrow(/gateway-port/);
    expect(() => parsePeerArgs(['--name', 'a', '--engine', 'chromium', '--gateway-port', '1'])).toThrow(/engine node/);
  });
});
