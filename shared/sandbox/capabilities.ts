/**
 * The one place a module's imports are checked, denied by default. The table of host
 * imports comes from the capability files (host-imports/): each function says whether
 * the worker serves it alone (clock, printing, WASI) or needs a host service (camera,
 * sensors, rpc, pub/sub) reached through the blocking bridge. A module importing
 * anything not in the table, or not granted to its deployment, is refused at load with
 * an error naming the import — never given a silent stub.
 * @module
 */
import type { HostServices } from '../ports/sandbox.ts';
import type { FuncType, ModuleInfo } from '../wasm/binary.ts';
import { ImportDeniedError, ImportNotSupportedError, LinkFailedError } from './errors.ts';
import { HOST_CAPABILITIES } from './host-imports/table.ts';

/**
 * Host import name (`module.field`) → the service it needs, or null when the worker serves
 * it itself; built from the capability files in host-imports/.
 */
export const HOST_IMPORTS: Readonly<Record<string, keyof HostServices | null>> = Object.fromEntries(
  [...HOST_CAPABILITIES.values()].flatMap((c) => Object.entries(c.functions).map(([name, need]) => [`${c.module}.${name}`, need])),
);

/** The WASI module name; all of preview 1 is served by the shim inside the worker. */
export const WASI_MODULE = 'wasi_snapshot_preview1';

/** Import names this peer can serve given its services, wildcards for whole modules. */
export function grantableImports(services: HostServices): string[] {
  const out = [`${WASI_MODULE}.*`];
  for (const [name, need] of Object.entries(HOST_IMPORTS)) if (need === null || services[need]) out.push(name);
  return out;
}

/** The first host import of `info` that must answer from the host thread (through the bridge), or undefined. */
export function hostThreadImport(info: ModuleInfo): string | undefined {
  for (const imp of info.imports) {
    const name = `${imp.module}.${imp.name}`;
    if (imp.kind === 'function' && (HOST_IMPORTS[name] ?? null) !== null) return name;
  }
  return undefined;
}

/** True when `name` (`module.field`) matches one of the grant patterns (`module.field` or `module.*`). */
export function isGranted(name: string, grants: readonly string[]): boolean {
  const module = name.slice(0, name.indexOf('.'));
  return grants.includes(name) || grants.includes(`${module}.*`) || grants.includes('*');
}

/** Modules linked at load, for {@link checkImports}. */
export interface LinkedModules {
  /** Provider modules by import module name: their exports serve imports without grants. */
  providers?: ReadonlyMap<string, ModuleInfo>;
  /** Who imports, for messages (default `module`; e.g. `provider math`). */
  subject?: string;
}

/**
 * Check a module's function imports: each must be servable here (ERR_IMPORT_NOT_SUPPORTED)
 * and granted (ERR_IMPORT_DENIED). Non-function imports (memory, tables, globals) are not
 * provided by any host and are refused as unsupported. An import from a linked provider
 * needs no grant but must name a function the provider exports with the same signature
 * (ERR_LINK_FAILED otherwise).
 */
export function checkImports(info: ModuleInfo, grants: readonly string[], services: HostServices, linked: LinkedModules = {}): void {
  const servable = grantableImports(services);
  const who = linked.subject ?? 'module';
  for (const imp of info.imports) {
    const name = `${imp.module}.${imp.name}`;
    const provider = linked.providers?.get(imp.module);
    if (provider && imp.kind === 'function') {
      const exp = provider.exports.find((e) => e.name === imp.name);
      if (exp?.kind !== 'function') {
        throw new LinkFailedError(`${who} imports ${name}, but provider ${imp.module} exports no function ${imp.name}`, { import: name });
      }
      if (signature(exp.type) !== signature(imp.type)) {
        throw new LinkFailedError(`${who} imports ${name} as ${signature(imp.type)}, but provider ${imp.module} exports it as ${signature(exp.type)}`, { import: name });
      }
      continue;
    }
    if (imp.kind !== 'function' || !isGranted(name, servable)) {
      throw new ImportNotSupportedError(`${who} imports ${imp.kind} ${name}, which this peer cannot provide`, { import: name });
    }
    if (!isGranted(name, grants)) {
      throw new ImportDeniedError(`${who} imports ${name}, which its deployment was not granted`, { import: name });
    }
  }
}

function signature(type: FuncType | undefined): string {
  return type ? `(${type.params.join(', ')}) -> (${type.results.join(', ')})` : '(?)';
}
