/**
 * The shape of one host capability (a wasm import module the worker serves: `sys`,
 * `camera`, …) and what its functions may reach of the instance they serve. A capability
 * is one file in this folder and one line in `table.ts`; nothing else changes.
 * @module
 */
import type { HostServices } from '../../ports/sandbox.ts';
import type { WriteMap } from '../host-writes.ts';
import type { HostOp } from '../protocol.ts';

/** What a capability's functions may use of the instance they serve, and of its host. */
export interface HostContext {
  /** The instance's exported memory; throws when it has none. */
  memory(): WebAssembly.Memory;
  /** The instance's exports (filled in once it is instantiated; e.g. its `alloc`). */
  exports(): WebAssembly.Exports;
  /** Blocking call to the host thread through the bridge (camera, rpc, pub/sub, …). */
  bridge(op: HostOp, args: unknown[], transfer?: Transferable[]): Uint8Array;
  /** Append to the module's stdout. */
  stdout(text: string): void;
  /** Append to the module's stderr. */
  stderr(text: string): void;
  /** A file of the module's WASI directory, or undefined. */
  file(name: string): Uint8Array | undefined;
}

/** A host function as wasm calls it: numbers in, a number (or nothing) out. */
export type HostFunction = (...args: number[]) => unknown;

/** One import module the worker can serve. */
export interface HostCapability {
  /** The wasm import module name. */
  readonly module: string;
  /**
   * Every function it serves, with the host service each needs (null: the worker serves
   * it alone). A peer grants only those whose service it has.
   */
  readonly functions: Readonly<Record<string, keyof HostServices | null>>;
  /**
   * True when its functions write into the module's memory themselves (not through the
   * module's own stores): a module whose writes are tracked then counts the whole memory
   * as written after each call, unless `writes` says where.
   */
  readonly writesMemory: boolean;
  /** Where each of its functions writes (host-writes.ts); a function it does not list counts the whole memory. */
  readonly writes?: WriteMap;
  /** The functions of one instance; called once per instance, before it is instantiated. */
  create(ctx: HostContext): Record<string, HostFunction>;
}

/** A copy of `len` bytes of the module's memory at `ptr`. */
export function bytesAt(ctx: HostContext, ptr: number, len: number): Uint8Array {
  return new Uint8Array(ctx.memory().buffer, ptr >>> 0, len >>> 0).slice();
}

/** The f64 at byte `at` of a bridge answer. */
export function f64At(answer: Uint8Array, at = 0): number {
  return new DataView(answer.buffer, answer.byteOffset, answer.byteLength).getFloat64(at, true);
}
