/**
 * A binary as the sandbox runs it: stop checks at its loops (stop-checks.ts), its writes tracked (instrument.ts), its memory and
 * tables capped, its mutable globals and funcref tables exported (binary.ts), compiled. The
 * app of an instance and each linked provider go through it.
 * @module
 */
import { rewriteModule } from '../wasm/binary.ts';
import { trackWrites } from '../wasm/instrument.ts';
import { addStopChecks } from '../wasm/stop-checks.ts';
import { ModuleLoadError } from './errors.ts';
import type { SpanNames } from './protocol.ts';

/** A module ready for a worker. */
export interface PreparedModule {
  module: WebAssembly.Module;
  /** Export names of the mutable globals that are its state. */
  globals: string[];
  /** Export names of its funcref tables (when asked for). */
  tables: string[];
  /** Export names of its written span, absent when its writes are not tracked. */
  dirty?: SpanNames;
  /** Whether it carries stop checks (a module the rewrite cannot decode does not). */
  stopChecks: boolean;
}

/**
 * Prepare `wasm` for the sandbox. `what` names it in errors ("module", "provider x");
 * `stopChecks: false` leaves out the stop checks (stop-checks.ts).
 * @throws MemoryLimitError, InvalidWasmError (from the rewrite), ModuleLoadError (it does not compile).
 */
export async function prepareModule(wasm: Uint8Array, options: { maxMemoryPages: number; maxTableElements: number; exportTables: boolean; what: string; stopChecks?: boolean }): Promise<PreparedModule> {
  // Stop checks only where terminating a worker may not stop its wasm (default on; see WorkerSandboxOptions.stopChecks).
  const checked = options.stopChecks === false ? null : addStopChecks(wasm);
  const tracked = trackWrites(checked?.bytes ?? wasm);
  const rewritten = rewriteModule(tracked?.bytes ?? checked?.bytes ?? wasm, {
    maxMemoryPages: options.maxMemoryPages,
    maxTableElements: options.maxTableElements,
    exportMutableGlobals: true,
    exportTables: options.exportTables,
  });
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(rewritten.bytes as Uint8Array<ArrayBuffer>);
  } catch (error) {
    throw new ModuleLoadError(`${options.what} does not compile: ${(error as Error).message}`);
  }
  // The span's own globals are bookkeeping, not state.
  const bookkeeping = new Set([...(tracked ? [tracked.lo, tracked.hi, tracked.page] : []), ...(checked ? [checked.fuel] : [])]);
  const prepared: PreparedModule = {
    module,
    globals: rewritten.globalExports.map((g) => g.name).filter((name) => !bookkeeping.has(name)),
    tables: rewritten.tableExports.map((t) => t.name),
    stopChecks: checked !== null,
  };
  if (tracked) prepared.dirty = { lo: tracked.lo, hi: tracked.hi, page: tracked.page };
  return prepared;
}
