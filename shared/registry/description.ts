/**
 * A module's description: how to call each of its functions and which data files ship
 * with it. This is what a publisher writes (`modules/<name>/description.json`) and what
 * the package manager stores beside the binary.
 * @module
 */
import { checkFunction, type FunctionDescription } from './schema.ts';
import { type Check, type Checked, dict, obj, opt, str } from '../protocol/check.ts';

/** The description of a module. */
export interface ModuleDescription {
  name: string;
  version: string;
  functions: Record<string, FunctionDescription>;
  /** Deployment-stage mount name → data file (a file name when publishing, a sha256 once stored). */
  dataFiles?: Record<string, string>;
}

const shape: Check<ModuleDescription> = obj({
  name: str({ min: 1, max: 200 }),
  version: str({ pattern: /^\d+\.\d+\.\d+([-+][\w.-]+)?$/ }),
  functions: dict(checkFunction, 1000),
  dataFiles: opt(dict(str({ min: 1, max: 255, pattern: /^[^/\\\0]+$/ }), 100)),
}) as Check<ModuleDescription>;

/**
 * Validate a description, also against the functions a binary exports when given:
 * every described function must exist, every data file must belong to a
 * deployment-stage mount, and a `bytes` function must say which ABI it uses.
 */
export function checkDescription(value: unknown, exportedFunctions?: readonly string[]): Checked<ModuleDescription> {
  const r = shape(value, 'description');
  if (!r.ok) return r;
  const d = r.value;
  if (Object.keys(d.functions).length === 0) return { ok: false, error: 'description.functions: no function described' };
  const deploymentMounts = new Set<string>();
  for (const [name, f] of Object.entries(d.functions)) {
    if (exportedFunctions && !exportedFunctions.includes(name)) {
      return { ok: false, error: `description.functions.${name}: the module exports no such function` };
    }
    for (const m of f.mounts) if (m.stage === 'deployment') deploymentMounts.add(m.name);
    for (const b of f.buffers ?? []) {
      if (!f.mounts.some((m) => m.name === b && m.stage !== 'output')) return { ok: false, error: `description.functions.${name}.buffers: ${b} is not a deployment- or execution-stage mount of the function` };
    }
    if (f.pointer && exportedFunctions && !exportedFunctions.includes(f.pointer)) {
      return { ok: false, error: `description.functions.${name}.pointer: the module exports no ${f.pointer}` };
    }
  }
  for (const mount of Object.keys(d.dataFiles ?? {})) {
    if (!deploymentMounts.has(mount)) return { ok: false, error: `description.dataFiles.${mount}: no deployment-stage mount of that name` };
  }
  return { ok: true, value: d };
}
