/**
 * `POST /deploy` of the supervisor API: a DeploymentNode (the orchestrator's form with
 * `endpoints` / `mounts`, or the older one of seed 001 with `instructions…paths` and
 * `urls.other` as a list). The binary, description and data-file URLs are fetched under
 * the outbound policy of outbound-fetch.ts (or read from the mesh when they are the
 * gateway's own, own-urls.ts), the module is published under the node's module name (so
 * `/{deploymentId}/modules/{name}/{function}` works), and the deployment is made under
 * the given `deploymentId`, pinned to this device, as the reference supervisor would
 * run it. An id that exists is refused (ERR_DEPLOYMENT_EXISTS, before anything is
 * fetched) unless the request says it replaces it — `?replace=true` or `"replace": true`
 * in the body — which makes a new revision (a hot update).
 */
import { createHash } from 'node:crypto';
import { InvalidParamsError } from '../../shared/errors.ts';
import { DeploymentExistsError, DeploymentFailedError } from '../../shared/orchestrator/errors.ts';
import { InvalidManifestError } from '../../shared/orchestrator/errors.ts';
import { parseManifest } from '../../shared/orchestrator/manifest.ts';
import { settled } from '../../shared/orchestrator/orchestrator.ts';
import { isPlainObject } from '../../shared/protocol/check.ts';
import { scanJson } from '../../shared/protocol/json-limits.ts';
import type { DeploymentRecord, FunctionDescription, ModuleRecord, MountDescription } from '../../shared/registry/schema.ts';
import { parseModule } from '../../shared/wasm/binary.ts';
import type { GatewayContext } from './context.ts';
import { binaryForName, functionFromOperation, functionsFromDocument, withSignatureDefaults } from './describe.ts';
import { FetchFailedError } from './http.ts';
import type { UrlFetch } from './own-urls.ts';

type Obj = Record<string, unknown>;

function own(o: unknown, key: string): unknown {
  return isPlainObject(o) && Object.hasOwn(o, key) ? o[key] : undefined;
}

/** Mounts of one function from a DeploymentNode's `mounts` entry. */
function mountsOf(entry: unknown): MountDescription[] | undefined {
  if (!isPlainObject(entry)) return undefined;
  const out: MountDescription[] = [];
  for (const stage of ['deployment', 'execution', 'output'] as const) {
    const list = entry[stage];
    if (!Array.isArray(list)) continue;
    for (const m of list) {
      const name = own(m, 'path') ?? own(m, 'name');
      if (typeof name !== 'string' || name === '') continue;
      const mount: MountDescription = { name, stage };
      const mediaType = own(m, 'media_type') ?? own(m, 'mediaType');
      if (typeof mediaType === 'string' && mediaType) mount.mediaType = mediaType;
      out.push(mount);
    }
  }
  return out;
}

/** The function a DeploymentNode says `module.func` is, if it says anything. */
function functionFromNode(body: Obj, module: string, func: string, type: Parameters<typeof functionFromOperation>[2]): FunctionDescription | undefined {
  let fn: FunctionDescription | undefined;
  const paths = own(own(own(own(own(body, 'instructions'), 'modules'), module), func), 'paths');
  if (isPlainObject(paths)) {
    const item = Object.values(paths).find(isPlainObject);
    const method = item ? ['get', 'post', 'put', 'delete'].find((m) => isPlainObject(item[m])) : undefined;
    if (item && method) fn = functionFromOperation(method, item[method] as Obj, type);
  }
  const endpoint = own(own(own(body, 'endpoints'), module), func);
  if (!fn && isPlainObject(endpoint)) {
    const response = own(endpoint, 'response');
    const mediaType = own(response, 'media_type');
    const op: Obj = {
      parameters: own(own(endpoint, 'request'), 'parameters') ?? [],
      responses: { 200: { content: typeof mediaType === 'string' ? { [mediaType]: { schema: own(response, 'schema') ?? {} } } : {} } },
    };
    fn = functionFromOperation(String(own(endpoint, 'method') ?? 'get'), op, type);
  }
  const mounts = mountsOf(own(own(own(body, 'mounts'), module), func));
  if (fn && mounts) fn = { ...fn, mounts, method: mounts.some((m) => m.stage === 'execution') ? 'POST' : fn.method };
  return fn;
}

function basename(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').filter(Boolean).pop() ?? 'data');
  } catch {
    return 'data';
  }
}

/** Fetch, publish and deploy what a DeploymentNode names; resolves once it is ready. */
export async function deployNode(g: GatewayContext, body: unknown, options: { timeoutMs: number; fetch: UrlFetch; replace?: boolean }): Promise<DeploymentRecord> {
  const { orchestrator, peer } = g.node;
  const manifest = parseManifest(body);
  if (manifest.form !== 'supervisor') throw new InvalidManifestError('manifest: POST /deploy takes a DeploymentNode ({deploymentId, modules, instructions}); use POST /file/manifest for other forms');
  const node = body as Obj;
  const replace = options.replace === true || own(node, 'replace') === true;
  const id = manifest.deploymentId!;
  if (!replace && peer.registry.deployments.get(id)) {
    throw new DeploymentExistsError(`deployment ${id} exists; send ?replace=true (or "replace": true) to replace it`, { deployment: id });
  }
  const ids = new Map<string, string>();
  for (const moduleName of new Set(manifest.steps.map((s) => s.module))) {
    const sources = manifest.sources?.[moduleName];
    if (!sources?.binary) {
      ids.set(moduleName, orchestrator.packages.resolve(moduleName).id);
      continue;
    }
    const limit = g.limits.bodyBytes;
    const wasm = binaryForName(await options.fetch(sources.binary, limit), moduleName, (hash) => peer.registry.modules.get(hash)?.name);
    let doc: unknown;
    if (sources.description) {
      const text = new TextDecoder().decode(await options.fetch(sources.description, g.limits.jsonBytes));
      scanJson(text, {}, `the description at ${sources.description}`);
      try {
        doc = JSON.parse(text);
      } catch {
        throw new FetchFailedError(`the description at ${sources.description} is not JSON`, { url: sources.description });
      }
    }
    const dataFiles: Record<string, Uint8Array> = {};
    const other = Array.isArray(sources.other) ? sources.other.map((u) => [basename(u), u] as const) : Object.entries(sources.other);
    for (const [mount, url] of other) dataFiles[mount] = await options.fetch(url, limit);
    const exports = parseModule(wasm).exports;
    const types = new Map(exports.filter((e) => e.kind === 'function' && e.type).map((e) => [e.name, e.type!]));
    const wanted = manifest.steps.filter((s) => s.module === moduleName).map((s) => s.func);
    let functions = functionsFromDocument(doc, exports);
    for (const fn of wanted) {
      if (!types.has(fn)) throw new InvalidParamsError(`module ${moduleName} (${sources.binary}) exports no function ${fn}`, { module: moduleName, function: fn });
      const fromNode = functionFromNode(node, moduleName, fn, types.get(fn));
      if (fromNode) functions[fn] = fromNode;
    }
    functions = withSignatureDefaults(functions, wanted, exports);
    // Data files no mount claims are deployment-stage files of every function called.
    const claimed = new Set(Object.values(functions).flatMap((f) => f.mounts.filter((m) => m.stage === 'deployment').map((m) => m.name)));
    for (const mount of Object.keys(dataFiles)) {
      if (claimed.has(mount)) continue;
      for (const fn of wanted) functions[fn] = { ...functions[fn]!, mounts: [...functions[fn]!.mounts, { name: mount, stage: 'deployment' }] };
    }
    // The same binary keeps its version: its record changes only if its description does.
    const same = peer.registry.modules.get(createHash('sha256').update(wasm).digest('hex'));
    const existing: ModuleRecord | undefined = orchestrator.packages.list(moduleName)[0];
    const version = same?.name === moduleName ? same.version : existing ? nextVersion(existing.version) : '1.0.0';
    const record = await orchestrator.packages.publish({ wasm, description: { name: moduleName, version, functions }, dataFiles }, { replacing: id });
    ids.set(moduleName, record.id);
  }
  const graph = {
    name: manifest.name,
    steps: manifest.steps.map((s, i) => ({ id: String(i), module: ids.get(s.module)!, func: s.func, device: peer.id, next: s.next.map(String) })),
  };
  const written = orchestrator.deploy(graph, { id, replace });
  const done = await orchestrator.waitFor(written.id, (v) => v.record.revision >= written.revision && settled(v), options.timeoutMs);
  if (done.record.status !== 'ready') {
    throw new DeploymentFailedError(`deployment ${done.record.name} ${done.record.status}: ${done.record.reason ?? 'no reason recorded'}`, { deployment: done.record.id, status: done.record.status, reason: done.record.reason ?? null });
  }
  return done.record;
}

function nextVersion(version: string): string {
  const [major = '1', minor = '0', patch = '0'] = version.split(/[-+]/, 1)[0]!.split('.');
  return `${major}.${minor}.${Number(patch) + 1}`;
}
