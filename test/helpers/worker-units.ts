/**
 * The parts of a sandbox worker's runtime put together in the test's own thread: a
 * module prepared as the sandbox prepares it, instantiated with a recording bridge.
 */
import type { BridgeCall } from '../../shared/sandbox/bridge-call.ts';
import { instantiate } from '../../shared/sandbox/instantiate.ts';
import { prepareModule } from '../../shared/sandbox/prepare.ts';
import { CONTROL_BYTES, type InitMessage } from '../../shared/sandbox/protocol.ts';
import type { Unit } from '../../shared/sandbox/unit.ts';
import { FUEL_PER_POLL } from '../../shared/wasm/stop-checks.ts';
import { wat } from './wat.ts';

/**
 * A small stateful module: `count` and the i32 at byte 100 go up with `inc`; `incThenFail`
 * changes both, then traps; `alloc` is a bump allocator from 1024; `echo` is the bytes
 * convention, `double`/`buf` the in-place one, `sum2` the message and buffers ones.
 */
export const COUNTER_WAT = `(module
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (global $heap (mut i32) (i32.const 1024))
  (func $alloc (export "alloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p
    global.get $heap local.get $n i32.add global.set $heap
    local.get $p)
  (func $inc (export "inc") (result i32)
    global.get $count i32.const 1 i32.add global.set $count
    i32.const 100 global.get $count i32.store
    global.get $count)
  (func (export "incThenFail") call $inc drop unreachable)
  (func (export "grow") (result i32) i32.const 1 memory.grow)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "echo") (param $p i32) (param $n i32) (param $lenp i32) (result i32)
    local.get $lenp local.get $n i32.store local.get $p)
  (func (export "buf") (result i32) i32.const 2048)
  (func (export "double")
    i32.const 2048 i32.const 2048 i32.load8_u i32.const 2 i32.mul i32.store8)
  (func (export "sum2") (param i32 i32 i32 i32) (result i32) local.get 1 local.get 3 i32.add))`;

/** Host operations a bridge was asked for, in order. */
export interface RecordingBridge {
  bridge: BridgeCall;
  calls: { op: string; args: unknown[] }[];
}

/** A bridge answering every op with `answer(op, args)` and recording it. */
export function recordingBridge(answer: (op: string, args: unknown[]) => Uint8Array = () => new Uint8Array(0)): RecordingBridge {
  const calls: { op: string; args: unknown[] }[] = [];
  return { calls, bridge: (op, args) => (calls.push({ op, args }), answer(op, args)) };
}

/** The init message a worker would get for `source`, prepared as the sandbox does (writes tracked unless `track` is false). */
export async function initFor(source: string, options: { track?: boolean } = {}): Promise<InitMessage> {
  const bytes = await wat(source);
  const prepared = await prepareModule(bytes, { maxMemoryPages: 16, maxTableElements: 1000, exportTables: true, what: 'module' });
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  new Int32Array(control)[1] = -1;
  const init: InitMessage = {
    t: 'init',
    module: prepared.module,
    functions: [],
    globals: prepared.globals,
    tables: prepared.tables,
    files: {},
    env: {},
    args: [],
    bridge: new SharedArrayBuffer(1024),
    control,
    callTimeoutMs: 10_000,
    trackState: true,
    providers: [],
  };
  if (prepared.dirty && options.track !== false) init.dirty = prepared.dirty;
  return init;
}

/** A unit of `source` in this thread. */
export async function unitOf(source: string, bridge: BridgeCall = recordingBridge().bridge, options: { track?: boolean } = {}): Promise<{ unit: Unit; init: InitMessage }> {
  const init = await initFor(source, options);
  // Nothing stops a unit in this thread: its stop checks always let it go on.
  return { unit: instantiate(init, init.files, bridge, () => FUEL_PER_POLL), init };
}
