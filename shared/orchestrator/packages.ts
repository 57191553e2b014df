/**
 * The package manager: publish a module from any peer, list, show and remove versions,
 * and resolve what a device needs to run one — the module, the provider modules it links
 * at runtime, and every data file — into one set of blobs.
 *
 * Publishing stores the wasm and data files in this peer's blob store and writes a
 * {@link ModuleRecord} (id = sha256 of the wasm) into the registry; the exports, imports
 * and memory are read from the binary, never trusted from the publisher. Other peers
 * fetch the blobs peer-to-peer, verified, when a deployment needs them.
 *
 * Runtime linking: an import whose module name is not a host module (`sys`, `camera`,
 * `wasi_snapshot_preview1`, …) is served by another published module of that name — its
 * provider. Resolution picks the provider's newest version, checks that it exports every
 * imported function, recurses into the provider's own imports, and refuses a missing
 * provider (ERR_MISSING_PROVIDER) or a cycle (ERR_CYCLIC_DEPENDENCY).
 * @module
 */
import { sha256Hex } from '../bytes.ts';
import { InvalidParamsError } from '../errors.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import { checkDescription, type ModuleDescription } from '../registry/description.ts';
import type { Registry } from '../registry/registry.ts';
import type { ModuleRecord, WasmItem } from '../registry/schema.ts';
import { instanceFootprint } from '../sandbox/budget.ts';
import { HOST_IMPORTS, WASI_MODULE } from '../sandbox/capabilities.ts';
import { type ModuleSignature, ModuleSignatureInvalidError, verifyModuleSignature } from '../trust/module-signature.ts';
import { parseModule } from '../wasm/binary.ts';
import { CyclicDependencyError, MissingProviderError, ModuleInUseError, UnknownModuleError } from './errors.ts';

/** What a publisher hands in. */
export interface PublishInput {
  wasm: Uint8Array;
  /** Name, version, functions; `dataFiles` (mount → file name) is replaced by hashes. */
  description: ModuleDescription;
  /** Deployment-stage mount name → the file's bytes. */
  dataFiles?: Record<string, Uint8Array>;
  /** The file name the binary was uploaded as, kept for clients that show it. */
  originalFilename?: string;
  /** The publisher's signature over the wasm's sha256, name and version; checked before anything is stored. */
  signature?: ModuleSignature;
}

/** Everything a device needs to run a module. */
export interface ModuleClosure {
  module: ModuleRecord;
  /** Provider modules in dependency order (a provider comes before its users). */
  providers: ModuleRecord[];
  /** Every blob involved: wasm binaries and data files, without duplicates. */
  blobs: string[];
  /** Host imports of the module and its providers (`module.field`), without linked ones. */
  hostImports: string[];
}

/** Import module names served by hosts rather than by other modules. */
const HOST_MODULES = new Set([WASI_MODULE, 'wasi_ephemeral_nn', ...Object.keys(HOST_IMPORTS).map((n) => n.slice(0, n.indexOf('.')))]);

/** True when an import from `moduleName` is served by the host, not by a provider module. */
export function isHostModule(moduleName: string): boolean {
  return HOST_MODULES.has(moduleName);
}

/** Compare dotted versions numerically (`1.10.0` > `1.9.3`); pre-release tags sort before. */
export function compareVersions(a: string, b: string): number {
  const [coreA = '', tagA] = a.split(/[-+]/, 2);
  const [coreB = '', tagB] = b.split(/[-+]/, 2);
  const pa = coreA.split('.').map(Number);
  const pb = coreB.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  if (tagA === tagB) return 0;
  if (tagA === undefined) return 1;
  if (tagB === undefined) return -1;
  return tagA < tagB ? -1 : 1;
}

/** The package manager of one peer (every peer has one; the registry is shared). */
export class PackageManager {
  readonly #registry: Registry;
  readonly #blobs: BlobStore;
  readonly #self: string;
  readonly #now: () => number;
  readonly #saved: () => Promise<void>;

  /** `saved` resolves once the registry's changes so far are stored; `publish` answers after it. */
  constructor(options: { registry: Registry; blobs: BlobStore; self: string; now?: () => number; saved?: () => Promise<void> }) {
    this.#registry = options.registry;
    this.#blobs = options.blobs;
    this.#self = options.self;
    this.#now = options.now ?? (() => Date.now());
    this.#saved = options.saved ?? (() => Promise.resolve());
  }

  /**
   * Publish a module version. The binary is parsed (ERR_INVALID_WASM when it is not
   * WebAssembly), the description checked against its exports (ERR_INVALID_PARAMS), and
   * every deployment-stage mount must have its data file. Publishing the same bytes
   * again replaces the record (a new description for the same binary) — unless a
   * deployment uses it and the description or data files differ: then it is refused
   * with ERR_MODULE_IN_USE, so nothing changes under a running deployment. `replacing`
   * names a deployment the caller is about to replace, whose use does not count.
   */
  async publish(input: PublishInput, options: { replacing?: string } = {}): Promise<ModuleRecord> {
    const info = parseModule(input.wasm);
    const exported = info.exports.filter((e) => e.kind === 'function').map((e) => e.name);
    const checked = checkDescription({ ...input.description, dataFiles: undefined }, exported);
    if (!checked.ok) throw new InvalidParamsError(checked.error);
    const description = checked.value;
    const files = input.dataFiles ?? {};
    const deploymentMounts = new Set(Object.values(description.functions).flatMap((f) => f.mounts.filter((m) => m.stage === 'deployment').map((m) => m.name)));
    for (const mount of deploymentMounts) {
      if (!files[mount]) throw new InvalidParamsError(`deployment-stage mount ${mount} has no data file`, { mount });
    }
    for (const mount of Object.keys(files)) {
      if (!deploymentMounts.has(mount)) throw new InvalidParamsError(`data file ${mount} belongs to no deployment-stage mount`, { mount });
    }
    const id = await sha256Hex(input.wasm);
    if (input.signature && !(await verifyModuleSignature({ id, name: description.name, version: description.version }, input.signature))) {
      throw new ModuleSignatureInvalidError(`the signature given for ${description.name}@${description.version} does not verify against its content hash, name and version`, { module: id, publisher: input.signature.publisher });
    }
    const dataHashes: Record<string, string> = {};
    for (const [mount, bytes] of Object.entries(files)) dataHashes[mount] = await sha256Hex(bytes);
    const previous = this.#registry.modules.get(id);
    if (previous && !sameContent(previous, description, dataHashes)) {
      const user = this.#users(previous.id).find((d) => d.id !== options.replacing);
      if (user) {
        throw new ModuleInUseError(
          `module ${previous.name}@${previous.version} is used by deployment ${user.name}: its description cannot change under it (publish a changed binary as a new version, or remove the deployment first)`,
          { deployment: user.id, module: previous.id },
        );
      }
    }
    await this.#blobs.put(input.wasm, id);
    const dataFiles: Record<string, string> = {};
    for (const [mount, bytes] of Object.entries(files)) dataFiles[mount] = await this.#blobs.put(bytes, dataHashes[mount]);
    const record: ModuleRecord = {
      id,
      name: description.name,
      version: description.version,
      size: input.wasm.byteLength,
      exports: info.exports.map((e) => ({ name: e.name, kind: e.kind })),
      imports: info.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind })),
      functions: description.functions,
      dataFiles,
      publishedBy: this.#self,
      publishedAt: this.#now(),
    };
    if (input.originalFilename) record.originalFilename = input.originalFilename.slice(0, 255);
    if (input.signature) record.signature = { publisher: input.signature.publisher.toLowerCase(), signature: input.signature.signature.toLowerCase() };
    if (info.memory) record.memory = info.memory.max === undefined ? { min: info.memory.min } : { min: info.memory.min, max: info.memory.max };
    record.footprint = instanceFootprint(info);
    this.#registry.modules.set(record);
    // A publish that was answered survives a crash right after.
    await this.#saved();
    return record;
  }

  /** Every published version, by name then newest first; only `name`'s when given. */
  list(name?: string): ModuleRecord[] {
    return this.#registry.modules
      .values()
      .filter((m) => name === undefined || m.name === name)
      .sort((a, b) => (a.name === b.name ? compareVersions(b.version, a.version) : a.name < b.name ? -1 : 1));
  }

  /**
   * The module a reference names: a sha256 id, `name@version`, or a name (its newest
   * version). Throws ERR_UNKNOWN_MODULE.
   */
  resolve(ref: string): ModuleRecord {
    const byId = this.#registry.modules.get(ref);
    if (byId) return byId;
    const at = ref.lastIndexOf('@');
    const name = at > 0 ? ref.slice(0, at) : ref;
    const version = at > 0 ? ref.slice(at + 1) : undefined;
    const versions = this.list(name);
    const found = version === undefined ? versions[0] : versions.find((m) => m.version === version);
    if (!found) {
      const known = versions.map((m) => m.version).join(', ');
      throw new UnknownModuleError(`no module ${ref} is published${known ? ` (versions of ${name}: ${known})` : ''}`, { module: ref });
    }
    return found;
  }

  /**
   * Remove a module version from the registry and this peer's store. Refused with
   * ERR_MODULE_IN_USE while a deployment (or a provider link of one) uses it.
   */
  async remove(ref: string): Promise<ModuleRecord> {
    const record = this.resolve(ref);
    const user = this.#users(record.id)[0];
    if (user) throw new ModuleInUseError(`module ${record.name}@${record.version} is used by deployment ${user.name}`, { deployment: user.id });
    this.#registry.modules.delete(record.id);
    const stillUsed = new Set(this.#registry.modules.values().flatMap((m) => [m.id, ...Object.values(m.dataFiles)]));
    for (const hash of [record.id, ...Object.values(record.dataFiles)]) {
      if (!stillUsed.has(hash)) await this.#blobs.delete(hash);
    }
    return record;
  }

  /** Deployments whose steps use module `id`, as the module of a step or a provider. */
  #users(id: string): { id: string; name: string }[] {
    const out: { id: string; name: string }[] = [];
    for (const d of this.#registry.deployments.values()) {
      const steps = d.record.steps ?? [];
      if (steps.some((s) => s.module === id || s.providers.includes(id))) out.push({ id: d.record.id, name: d.record.name });
    }
    return out;
  }

  /**
   * Everything a device needs to run `ref`: the module, its providers (resolved by
   * import module name, newest version, transitively) and all their blobs.
   */
  closure(ref: string): ModuleClosure {
    const module = this.resolve(ref);
    const providers: ModuleRecord[] = [];
    const done = new Set<string>();
    const visit = (m: ModuleRecord, path: string[]): void => {
      for (const [providerName, names] of linkedImports(m.imports)) {
        if (path.includes(providerName)) {
          throw new CyclicDependencyError(`modules import each other in a cycle: ${[...path, providerName].join(' → ')}`, { cycle: [...path, providerName] });
        }
        const provider = this.list(providerName)[0];
        if (!provider) throw new MissingProviderError(`${m.name} imports ${providerName}.${names[0]}, but no module ${providerName} is published`, { module: m.name, provider: providerName });
        const exported = new Set(provider.exports.filter((e) => e.kind === 'function').map((e) => e.name));
        const missing = names.find((n) => !exported.has(n));
        if (missing) throw new MissingProviderError(`${m.name} imports ${providerName}.${missing}, which ${providerName}@${provider.version} does not export`, { module: m.name, provider: providerName, import: missing });
        if (done.has(provider.id)) continue;
        visit(provider, [...path, providerName]);
        done.add(provider.id);
        providers.push(provider);
      }
    };
    visit(module, [module.name]);
    const blobs = new Set<string>();
    const hostImports = new Set<string>();
    for (const m of [module, ...providers]) {
      blobs.add(m.id);
      for (const h of Object.values(m.dataFiles)) blobs.add(h);
      for (const i of m.imports) if (i.kind === 'function' && i.module && isHostModule(i.module)) hostImports.add(`${i.module}.${i.name}`);
    }
    return { module, providers, blobs: [...blobs], hostImports: [...hostImports].sort() };
  }
}

/** True when `record` already says what a publish of `description` and `dataFiles` would. */
function sameContent(record: ModuleRecord, description: ModuleDescription, dataFiles: Record<string, string>): boolean {
  return record.name === description.name && record.version === description.version
    && canonical(record.functions) === canonical(description.functions) && canonical(record.dataFiles) === canonical(dataFiles);
}

/** JSON with object keys sorted, so that equal descriptions compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v);
}

/** Imports served by other modules, grouped by provider name (in first-seen order). */
function linkedImports(imports: readonly WasmItem[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const i of imports) {
    if (!i.module || isHostModule(i.module)) continue;
    const names = out.get(i.module) ?? [];
    names.push(i.name);
    out.set(i.module, names);
  }
  return out;
}
