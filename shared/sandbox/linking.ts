/**
 * Runtime linking (the dynamic linking of WasmIoT's design): an app module may import
 * functions that other modules — providers, resolved by the package manager — export.
 * At load each provider is checked like the app (size, its own imports against the
 * host-import table and the same grants), the providers are put in instantiation order
 * (each after the providers it imports from; a cycle is refused), and each is prepared
 * like the app (prepare.ts) and compiled, ready for the worker, which
 * instantiates them before the app and hands their exports to the app's imports.
 * @module
 */
import type { LoadSpec, SandboxLimits } from '../ports/sandbox.ts';
import { type ModuleInfo, parseModule } from '../wasm/binary.ts';
import { checkModuleBudget } from './budget.ts';
import { checkImports, HOST_IMPORTS, WASI_MODULE } from './capabilities.ts';
import { LinkFailedError, ModuleTooLargeError } from './errors.ts';
import { prepareModule } from './prepare.ts';
import type { ProviderInit } from './protocol.ts';

/**
 * Check the imports of the app (`info`) and of every provider of `spec`, order the
 * providers and compile them. Resolves to the providers in instantiation order.
 * @throws ImportNotSupportedError / ImportDeniedError as {@link checkImports} does, for
 *   the app or a provider (the message says which).
 * @throws LinkFailedError (`ERR_LINK_FAILED`) when an import names a provider function
 *   that does not exist or has another signature, the providers import each other in a
 *   cycle, or a provider's name is empty, taken by another provider or by a host module.
 * @throws ModuleTooLargeError, MemoryLimitError, InvalidWasmError, ModuleLoadError for a
 *   provider as for the app.
 */
export async function linkProviders(info: ModuleInfo, spec: LoadSpec, limits: SandboxLimits, stopChecks = true): Promise<ProviderInit[]> {
  const providers = spec.providers ?? [];
  const services = spec.services ?? {};
  const hostModules = new Set([WASI_MODULE, ...Object.keys(HOST_IMPORTS).map((n) => n.slice(0, n.indexOf('.')))]);
  const infos = new Map<string, ModuleInfo>();
  for (const p of providers) {
    if (!p.name || hostModules.has(p.name)) {
      throw new LinkFailedError(`a provider may not be named "${p.name}": ${p.name ? 'that is a host module' : 'the name is empty'}`, { provider: p.name });
    }
    if (infos.has(p.name)) throw new LinkFailedError(`two providers are named ${p.name}`, { provider: p.name });
    if (p.wasm.byteLength > limits.maxModuleBytes) {
      throw new ModuleTooLargeError(`provider ${p.name} of ${p.wasm.byteLength} bytes exceeds the limit of ${limits.maxModuleBytes}`);
    }
    const pinfo = parseModule(p.wasm);
    checkModuleBudget(pinfo, limits, `provider ${p.name}`);
    infos.set(p.name, pinfo);
  }
  checkImports(info, spec.grants, services, { providers: infos });
  for (const [name, pinfo] of infos) checkImports(pinfo, spec.grants, services, { providers: infos, subject: `provider ${name}` });
  const out: ProviderInit[] = [];
  for (const name of linkOrder(infos)) {
    const p = providers.find((q) => q.name === name)!;
    const prepared = await prepareModule(p.wasm, { maxMemoryPages: limits.maxMemoryPages, maxTableElements: limits.maxTableElements, exportTables: false, what: `provider ${name}`, stopChecks });
    const entry: ProviderInit = { name, module: prepared.module, globals: prepared.globals, files: p.files ?? {} };
    if (prepared.dirty) entry.dirty = prepared.dirty;
    out.push(entry);
  }
  return out;
}

/** Provider names, each after the providers it imports from. */
function linkOrder(infos: ReadonlyMap<string, ModuleInfo>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw new LinkFailedError(`providers import each other in a cycle: ${cycle.join(' → ')}`, { cycle });
    }
    state.set(name, 'visiting');
    for (const imp of infos.get(name)!.imports) if (infos.has(imp.module)) visit(imp.module, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of infos.keys()) visit(name, []);
  return order;
}
