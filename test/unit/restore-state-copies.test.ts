// After a restore, the state a failed call rolls back to and the state a successor resumes
// from are the restored state — also where the restore skipped copying pages it knew were
// zero, and where the spare readied the buffers of the turns.
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import type { Sandbox, SandboxInstance } from '../../shared/ports/sandbox.ts';
import { wat } from '../helpers/wat.ts';

/** i32 cells by address; `fail` writes then traps; `spin` writes then never returns. */
const CELLS = `(module
  (memory (export "memory") 64)
  (func (export "set") (param $at i32) (param $v i32) (i32.store (local.get $at) (local.get $v)))
  (func (export "get") (param $at i32) (result i32) (i32.load (local.get $at)))
  (func (export "fail") (param $at i32) (i32.store (local.get $at) (i32.const 99)) unreachable)
  (func (export "spin") (param $at i32) (i32.store (local.get $at) (i32.const 77)) (loop $l (br $l))))`;

const PAGE = 65536;
const scalar = (fn: string, ...args: number[]) => ({ fn, convention: { kind: 'scalar' as const, args } });

// Two layouts: two pages far apart with zeros between, and a state spanning the whole
// 4 MiB memory, for which the spare faults in the buffers of the turns the restore readies.
for (const [first, last] of [
  [10, 40],
  [0, 63],
]) describe(`state copies after a restore (non-zero pages ${first} and ${last})`, () => {
  let sandbox: Sandbox;
  afterEach(async () => {
    await sandbox?.close();
  });

  const restored = async (): Promise<SandboxInstance> => {
    sandbox = createNodeSandbox();
    const wasm = await wat(CELLS);
    const source = await sandbox.load({ wasm, grants: [] });
    // Sparse: two non-zero pages far apart, zeros between and around them.
    await source.call(scalar('set', first! * PAGE + 8, 1234));
    await source.call(scalar('set', last! * PAGE + 16, 5678));
    const target = await sandbox.load({ wasm, grants: [], limits: { callTimeoutMs: 300 } });
    // Something the restore must overwrite with zeros.
    await target.call(scalar('set', 20 * PAGE, 42));
    await target.restore(await source.snapshot());
    await source.close();
    return target;
  };
  const cells = async (i: SandboxInstance): Promise<unknown[]> =>
    Promise.all([first! * PAGE + 8, last! * PAGE + 16, 20 * PAGE, 30 * PAGE].map(async (at) => (await i.call(scalar('get', at))).value));

  it('rolls a failed call back to the restored state', async () => {
    const target = await restored();
    await expect(target.call(scalar('fail', 30 * PAGE))).rejects.toMatchObject({ code: 'ERR_WASM_TRAP' });
    expect(await cells(target)).toEqual([1234, 5678, 0, 0]);
    await target.call(scalar('set', 50 * PAGE, 1));
    await expect(target.call(scalar('fail', first! * PAGE + 8))).rejects.toMatchObject({ code: 'ERR_WASM_TRAP' });
    expect(await cells(target)).toEqual([1234, 5678, 0, 0]);
  });

  it('resumes a stopped call’s successor from the restored state', async () => {
    const target = await restored();
    await expect(target.call(scalar('spin', 30 * PAGE))).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
    expect(await cells(target)).toEqual([1234, 5678, 0, 0]);
    // Once more on the successor, whose state buffers were never written by a restore.
    await target.call(scalar('set', 30 * PAGE + 4, 9));
    await expect(target.call(scalar('spin', 20 * PAGE))).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
    expect(await cells(target)).toEqual([1234, 5678, 0, 0]);
    expect((await target.call(scalar('get', 30 * PAGE + 4))).value).toBe(9);
  });
});
