/**
 * Resource budgets of module instances. A module's binary declares what instantiation
 * will allocate before any of its code runs — memory pages, table elements, globals,
 * data segments copied into memory — so a 44-byte module declaring a ten-million-entry
 * table costs hundreds of MiB the moment it loads. These budgets are checked against
 * the declarations, at load, before anything is compiled or instantiated:
 *
 * - per instance ({@link checkModuleBudget}): each declared quantity against a limit of
 *   {@link SandboxLimits}; ERR_MODULE_BUDGET names the quantity, its value and the limit
 *   (initial memory above the cap is ERR_MEMORY_LIMIT, from the rewrite in binary.ts);
 * - per peer ({@link instanceFootprint}): what an instance holds, in bytes, which the
 *   supervisor adds up across everything it runs and compares with the peer's memory
 *   budget, and which placement uses to keep a deployment off a peer it would overfill.
 * @module
 */
import type { SandboxLimits } from '../ports/sandbox.ts';
import type { ModuleInfo } from '../wasm/binary.ts';
import { ModuleBudgetError } from './errors.ts';

/** Bytes in one WebAssembly page. */
export const PAGE_BYTES = 65536;

/**
 * What one table element costs the engine, in bytes. Measured in V8 (Node 20): 28 bytes
 * per funcref element of an instantiated table; rounded up.
 */
export const TABLE_ELEMENT_BYTES = 32;

/** The per-instance budget limits of {@link SandboxLimits}, with their defaults. */
export type ModuleBudgetLimits = Pick<SandboxLimits, 'maxTableElements' | 'maxGlobals' | 'maxDataSegments' | 'maxDataBytes'>;

/**
 * The default cap of an instance's linear memory, in pages (256 MiB). A module whose
 * initial memory is above the cap is refused with ERR_MEMORY_LIMIT when the binary is
 * rewritten (shared/wasm/binary.ts); the cap also bounds what it may grow to.
 */
export const DEFAULT_MAX_MEMORY_PAGES = 4096;

/**
 * Defaults of the limits besides memory (whose cap is {@link DEFAULT_MAX_MEMORY_PAGES}
 * and whose excess is ERR_MEMORY_LIMIT). Every sample module and the classify model fit
 * with a wide margin (the largest figures among them, Rust and Emscripten builds
 * included: 111 table elements, 12 globals, 19 data segments, 12 KiB of data), while no table (100,000 × 32 bytes ≈ 3 MiB) or
 * data (16 MiB) within them costs more than a small slice of a Raspberry Pi's memory.
 */
export const DEFAULT_BUDGET_LIMITS: Readonly<ModuleBudgetLimits> = {
  maxTableElements: 100_000,
  maxGlobals: 10_000,
  maxDataSegments: 10_000,
  maxDataBytes: 16 * 1024 * 1024,
};

/** One quantity over its limit, as ERR_MODULE_BUDGET's `data` says it. */
export interface BudgetExcess {
  /** The limit's name in {@link SandboxLimits}. */
  limit: keyof ModuleBudgetLimits;
  value: number;
  max: number;
}

/** The first declared quantity of `info` over its limit, or undefined when all fit. */
export function budgetExcess(info: ModuleInfo, limits: ModuleBudgetLimits): BudgetExcess | undefined {
  const tableElements = info.tables.filter((t) => !t.imported).reduce((sum, t) => sum + t.min, 0);
  const checks: [keyof ModuleBudgetLimits, number][] = [
    ['maxTableElements', tableElements],
    ['maxGlobals', info.globals.length + info.importedGlobalCount],
    ['maxDataSegments', info.data.segments],
    ['maxDataBytes', info.data.bytes],
  ];
  for (const [limit, value] of checks) {
    if (value > limits[limit]) return { limit, value, max: limits[limit] };
  }
  return undefined;
}

const WHAT: Record<keyof ModuleBudgetLimits, string> = {
  maxTableElements: 'table elements',
  maxGlobals: 'globals',
  maxDataSegments: 'data segments',
  maxDataBytes: 'bytes of data segments',
};

/**
 * Refuse a module whose declarations exceed a per-instance limit. `what` names it in
 * the message ("module", "provider math").
 * @throws ModuleBudgetError (`ERR_MODULE_BUDGET`, data `{ limit, value, max }`).
 */
export function checkModuleBudget(info: ModuleInfo, limits: ModuleBudgetLimits, what = 'module'): void {
  const excess = budgetExcess(info, limits);
  if (!excess) return;
  throw new ModuleBudgetError(`${what} declares ${excess.value} ${WHAT[excess.limit]}; an instance may have at most ${excess.max} (${excess.limit})`, { ...excess });
}

/**
 * The bytes an instance of `info` holds as the peer budget counts them: its declared
 * memory — the initial size, or the declared maximum when it has one, capped at
 * `maxMemoryPages` (the most it can grow to) — plus its table elements at
 * {@link TABLE_ELEMENT_BYTES} each, plus the bytes of its data segments.
 * Imported memories and tables are the host's, counted where they are made.
 */
export function instanceFootprint(info: ModuleInfo, maxMemoryPages: number = DEFAULT_MAX_MEMORY_PAGES): number {
  let pages = 0;
  for (const m of info.memories) {
    if (m.imported) continue;
    pages += Math.min(Math.max(m.min, m.max ?? m.min), Math.max(m.min, maxMemoryPages));
  }
  let elements = 0;
  for (const t of info.tables) if (!t.imported) elements += t.min;
  return pages * PAGE_BYTES + elements * TABLE_ELEMENT_BYTES + info.data.bytes;
}

/**
 * A peer's default memory budget across all its instances: half the memory the device
 * describes, or none (0: unlimited) when it does not know its memory.
 */
export function defaultMemoryBudget(deviceMemoryBytes: number): number {
  return Number.isFinite(deviceMemoryBytes) && deviceMemoryBytes > 0 ? Math.floor(deviceMemoryBytes / 2) : 0;
}
