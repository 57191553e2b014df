/**
 * Preparing a module for the sandbox (shared/sandbox/prepare.ts): stop checks are added
 * by default, as browsers need them, and left out where the platform stops a worker's
 * wasm on its own (Node's sandbox), with the module otherwise prepared alike.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { prepareModule } from '../../shared/sandbox/prepare.ts';
import { FUEL_EXPORT, STOP_MODULE } from '../../shared/wasm/stop-checks.ts';
import { wat } from '../helpers/wat.ts';

const fibo = async (): Promise<Uint8Array> => new Uint8Array(await readFile(new URL('../../modules/stateful-fibo/stateful-fibo.wasm', import.meta.url)));
const options = { maxMemoryPages: 256, maxTableElements: 1000, exportTables: true, what: 'module' };

describe('preparing a module', () => {
  it('adds stop checks by default and leaves them out when asked, keeping the same state globals', async () => {
    const wasm = await fibo();
    const checked = await prepareModule(wasm, options);
    const plain = await prepareModule(wasm, { ...options, stopChecks: false });
    expect(WebAssembly.Module.imports(checked.module).some((i) => i.module === STOP_MODULE)).toBe(true);
    expect(WebAssembly.Module.exports(checked.module).some((e) => e.name === FUEL_EXPORT)).toBe(true);
    expect(WebAssembly.Module.imports(plain.module).some((i) => i.module === STOP_MODULE)).toBe(false);
    expect(WebAssembly.Module.exports(plain.module).some((e) => e.name === FUEL_EXPORT)).toBe(false);
    expect(plain.globals).toEqual(checked.globals);
    expect(plain.dirty === undefined).toBe(checked.dirty === undefined);
  });

  it('on Node stops an endless loop at its time limit without stop checks, and the instance answers again', async () => {
    const wasm = await wat(`(module
      (func (export "spin") (loop $l (br $l)))
      (func (export "twenty") (result i32) (i32.const 20)))`);
    const sandbox = createNodeSandbox({ limits: { callTimeoutMs: 300 } });
    try {
      const instance = await sandbox.load({ wasm, grants: [] });
      await expect(instance.call({ fn: 'spin', convention: { kind: 'scalar', args: [] } })).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
      expect((await instance.call({ fn: 'twenty', convention: { kind: 'scalar', args: [] } })).value).toBe(20);
      await instance.close();
    } finally {
      await sandbox.close();
    }
  });
});
