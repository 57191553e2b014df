/**
 * Parsing of deployment manifests. Three forms are accepted, told apart by shape, and
 * all turn into one normalised {@link Manifest}:
 * - WasmIoT's sequence form `{name, sequence: [{device, module, func}]}` (a chain);
 * - the supervisor form `{deploymentId, modules, instructions}`, both the older one of
 *   the supervisor's README (`paths`) and the DeploymentNode (`from`/`to`, chained by `to`);
 * - our graph form `{name, steps: [{id, module, func, device?, next?}], entry?}` (a DAG,
 *   fan-out allowed).
 * Every problem is an InvalidManifestError whose message starts with the JSON path.
 * Fields are read by name, never by position (the reference's `Object.values` bug).
 * Also here: MQTT-style topic matching for the topic grants manifests carry.
 * @module
 */
import { type Check, isPlainObject, str } from '../protocol/check.ts';
import { checkValue, type ValueLimits } from '../protocol/json-limits.ts';
import { InvalidManifestError } from './errors.ts';
import type { Manifest, ModuleSources, StepSpec, TopicGrants } from './manifest-types.ts';

/** Most steps a manifest may have. */
export const MAX_MANIFEST_STEPS = 256;

type Obj = Record<string, unknown>;
type Engine = Manifest['engines'][number];
type StepFields = Omit<StepSpec, 'next'>;
/** A step before ordering: `next` holds declaration indices. */
interface Node {
  id: string;
  fields: StepFields;
  next: number[];
}

const ENGINES: readonly Engine[] = ['browser', 'chromium', 'node'];
const NAME = str({ min: 1, max: 200 });
const MODULE = str({ min: 1, max: 256 });
const TOPIC = str({ min: 1, max: 200 });
const URL_TEXT = str({ max: 4096 });

function fail(path: string, problem: string, data: Obj = {}): never {
  throw new InvalidManifestError(`${path}: ${problem}`, { path, ...data });
}

/** An own property (never one inherited from Object.prototype). */
function own(o: Obj, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** Set a key even when it is `__proto__`. */
function put<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function need<T>(check: Check<T>, value: unknown, path: string): T {
  if (value === undefined) fail(path, 'missing');
  const r = check(value, path);
  if (!r.ok) throw new InvalidManifestError(r.error, { path });
  return r.value;
}

function object(value: unknown, path: string): Obj {
  if (value === undefined) fail(path, 'missing');
  if (!isPlainObject(value)) fail(path, 'expected an object');
  return value;
}

function list(value: unknown, path: string, max: number): unknown[] {
  if (value === undefined) fail(path, 'missing');
  if (!Array.isArray(value)) fail(path, 'expected an array');
  if (value.length > max) fail(path, `more than ${max} items`);
  return value;
}

/** How deep and large a manifest may be: WasmIoT's, with OpenAPI documents inside, nest about a dozen levels. */
export const MANIFEST_LIMITS: Readonly<ValueLimits> = { maxDepth: 64, maxNodes: 200_000 };

function absent(value: unknown): boolean {
  return value === undefined || value === null;
}

/**
 * Validate and normalise a manifest in any accepted form. Returns a fresh object that
 * shares nothing with `value`; unknown top-level keys are ignored.
 * @throws InvalidManifestError (ERR_INVALID_MANIFEST) naming the JSON path and the problem.
 * @throws InvalidParamsError (ERR_INVALID_PARAMS) for a manifest beyond {@link MANIFEST_LIMITS}.
 */
export function parseManifest(value: unknown): Manifest {
  // Whole, before any field is read: the record keeps the manifest as it came, and a
  // value too deep for the registry must never be half written into it.
  checkValue(value, MANIFEST_LIMITS, 'the manifest');
  const m = object(value, 'manifest');
  const has = (key: string): boolean => own(m, key) !== undefined;
  if (has('steps') && has('sequence')) fail('manifest', 'has both "sequence" and "steps"; use one form');
  let core: Pick<Manifest, 'name' | 'form' | 'steps' | 'deploymentId' | 'sources'>;
  if (has('steps')) core = parseGraph(m);
  else if (has('sequence')) core = parseSequence(m);
  else if (has('deploymentId') || has('instructions')) core = parseSupervisor(m);
  else {
    parseName(own(m, 'name'));
    fail('manifest.sequence', 'missing (expected "sequence", graph "steps", or supervisor "deploymentId" and "instructions")');
  }
  const manifest: Manifest = {
    name: core.name,
    form: core.form,
    steps: core.steps,
    topics: parseTopics(own(m, 'topics')),
    antiAffinity: parseAntiAffinity(own(m, 'antiAffinity')),
    engines: parseEngines(own(m, 'engines')),
    replicas: parseReplicas(own(m, 'replicas')),
  };
  if (core.deploymentId !== undefined) manifest.deploymentId = core.deploymentId;
  if (core.sources !== undefined) manifest.sources = core.sources;
  return manifest;
}

function parseName(value: unknown, path = 'manifest.name'): string {
  if (absent(value) || (typeof value === 'string' && value.trim() === '')) fail(path, 'missing; manifest must have a name');
  return need(NAME, value, path);
}

function parseStepFields(step: Obj, path: string): StepFields {
  const module = need(MODULE, own(step, 'module'), `${path}.module`);
  const func = need(NAME, own(step, 'func'), `${path}.func`);
  const device = own(step, 'device');
  // WasmIoT 2026's GUI sends "", "null" or "any" for "let the orchestrator choose".
  if (absent(device) || device === '' || device === 'null' || device === 'any') return { module, func, device: null };
  if (typeof device !== 'string') fail(`${path}.device`, 'expected a string or null');
  return { module, func, device: need(NAME, device, `${path}.device`) };
}

function parseSequence(m: Obj): Pick<Manifest, 'name' | 'form' | 'steps'> {
  const name = parseName(own(m, 'name'));
  const sequence = list(own(m, 'sequence'), 'manifest.sequence', MAX_MANIFEST_STEPS);
  if (sequence.length === 0) fail('manifest.sequence', 'must have at least one step');
  const steps = sequence.map((raw, i): StepSpec => {
    const path = `manifest.sequence[${i}]`;
    return { ...parseStepFields(object(raw, path), path), next: i + 1 < sequence.length ? [i + 1] : [] };
  });
  return { name, form: 'sequence', steps };
}

function parseGraph(m: Obj): Pick<Manifest, 'name' | 'form' | 'steps'> {
  const name = parseName(own(m, 'name'));
  const raw = list(own(m, 'steps'), 'manifest.steps', MAX_MANIFEST_STEPS);
  if (raw.length === 0) fail('manifest.steps', 'must have at least one step');
  const ids = new Map<string, number>();
  const declared = raw.map((item, i) => {
    const path = `manifest.steps[${i}]`;
    const step = object(item, path);
    const id = need(NAME, own(step, 'id'), `${path}.id`);
    const earlier = ids.get(id);
    if (earlier !== undefined) fail(`${path}.id`, `duplicate id "${id}" (also manifest.steps[${earlier}])`);
    ids.set(id, i);
    const next = own(step, 'next');
    const targets = absent(next) ? [] : list(next, `${path}.next`, MAX_MANIFEST_STEPS).map((t, j) => need(NAME, t, `${path}.next[${j}]`));
    return { id, fields: parseStepFields(step, path), targets, path };
  });
  const nodes = declared.map(({ id, fields, targets, path }): Node => {
    const next: number[] = [];
    targets.forEach((target, j) => {
      const index = ids.get(target);
      if (index === undefined) fail(`${path}.next[${j}]`, `no step with id "${target}"`);
      if (!next.includes(index)) next.push(index);
    });
    return { id, fields, next };
  });
  let entry: number | undefined;
  const rawEntry = own(m, 'entry');
  if (!absent(rawEntry)) {
    const id = need(NAME, rawEntry, 'manifest.entry');
    entry = ids.get(id);
    if (entry === undefined) fail('manifest.entry', `no step with id "${id}"`);
  }
  return { name, form: 'graph', steps: orderSteps(nodes, entry, 'manifest.steps') };
}

/**
 * Order a DAG of steps: `entry` (if any) first, then topological order with ties broken
 * by declaration order; `next` becomes indices into the result.
 */
function orderSteps(nodes: Node[], entry: number | undefined, path: string): StepSpec[] {
  const cycle = findCycle(nodes);
  if (cycle) {
    const ids = cycle.map((i) => nodes[i]!.id);
    fail(path, `steps form a cycle: ${ids.join(' -> ')}`, { cycle: ids });
  }
  const incoming = nodes.map(() => 0);
  for (const node of nodes) for (const t of node.next) if (t !== entry) incoming[t]!++;
  const order: number[] = [];
  const placed = nodes.map(() => false);
  const take = (i: number): void => {
    order.push(i);
    placed[i] = true;
    for (const t of nodes[i]!.next) if (t !== entry) incoming[t]!--;
  };
  if (entry !== undefined) take(entry);
  // Acyclic, so some unplaced step always has no unplaced predecessor.
  while (order.length < nodes.length) take(nodes.findIndex((_, i) => !placed[i] && incoming[i] === 0));
  const position = new Map(order.map((declared, at) => [declared, at]));
  return order.map((i) => ({ ...nodes[i]!.fields, next: nodes[i]!.next.map((t) => position.get(t)!) }));
}

/** The first cycle found by depth-first search in declaration order, as `[a, b, …, a]`. */
function findCycle(nodes: Node[]): number[] | null {
  const state = nodes.map(() => 0); // 0 unseen, 1 on the stack, 2 done
  const stack: number[] = [];
  const visit = (i: number): number[] | null => {
    state[i] = 1;
    stack.push(i);
    for (const t of nodes[i]!.next) {
      if (state[t] === 1) return [...stack.slice(stack.indexOf(t)), t];
      if (state[t] === 0) {
        const found = visit(t);
        if (found) return found;
      }
    }
    stack.pop();
    state[i] = 2;
    return null;
  };
  for (let i = 0; i < nodes.length; i++) {
    const found = state[i] === 0 ? visit(i) : null;
    if (found) return found;
  }
  return null;
}

function parseSupervisor(m: Obj): Pick<Manifest, 'name' | 'form' | 'steps' | 'deploymentId' | 'sources'> {
  const rawId = own(m, 'deploymentId');
  if (absent(rawId) || rawId === '') fail('manifest.deploymentId', 'missing; manifest must have a name (its deploymentId)');
  const deploymentId = typeof rawId === 'number' && Number.isFinite(rawId) ? String(rawId) : need(NAME, rawId, 'manifest.deploymentId');
  const sources: Record<string, ModuleSources> = {};
  const modules = own(m, 'modules');
  if (!absent(modules)) {
    list(modules, 'manifest.modules', MAX_MANIFEST_STEPS).forEach((item, i) => {
      const path = `manifest.modules[${i}]`;
      const name = need(NAME, own(object(item, path), 'name'), `${path}.name`);
      if (Object.hasOwn(sources, name)) fail(`${path}.name`, `duplicate module name "${name}"`);
      put(sources, name, parseSources(own(item as Obj, 'urls'), `${path}.urls`));
    });
  }
  const base = 'manifest.instructions.modules';
  const byModule = object(own(object(own(m, 'instructions'), 'manifest.instructions'), 'modules'), base);
  const nodes: Node[] = [];
  const targets: unknown[] = [];
  for (const [module, funcs] of Object.entries(byModule)) {
    need(NAME, module, `${base}[${JSON.stringify(module)}]`);
    for (const [func, instruction] of Object.entries(object(funcs, `${base}.${module}`))) {
      const path = `${base}.${module}.${func}`;
      need(NAME, func, `${base}.${module}[${JSON.stringify(func)}]`);
      if (nodes.length === MAX_MANIFEST_STEPS) fail(base, `more than ${MAX_MANIFEST_STEPS} functions`);
      targets.push(absent(instruction) ? null : own(object(instruction, path), 'to'));
      nodes.push({ id: `${module}.${func}`, fields: { module, func, device: null }, next: [] });
    }
  }
  if (nodes.length === 0) fail(base, 'must name at least one function');
  const endpoints = own(m, 'endpoints');
  targets.forEach((to, i) => {
    const next = resolveTo(to, `${base}.${nodes[i]!.fields.module}.${nodes[i]!.fields.func}.to`, nodes, isPlainObject(endpoints) ? endpoints : {});
    if (next !== null) nodes[i]!.next.push(next);
  });
  return { name: deploymentId, form: 'supervisor', steps: orderSteps(nodes, undefined, 'manifest.instructions'), deploymentId, sources };
}

function parseSources(value: unknown, path: string): ModuleSources {
  if (absent(value)) return { other: [] };
  const urls = object(value, path);
  const out: ModuleSources = { other: [] };
  for (const key of ['binary', 'description'] as const) {
    const url = own(urls, key);
    if (!absent(url)) out[key] = need(URL_TEXT, url, `${path}.${key}`);
  }
  const other = own(urls, 'other');
  if (Array.isArray(other)) out.other = list(other, `${path}.other`, 256).map((u, i) => need(URL_TEXT, u, `${path}.other[${i}]`));
  else if (isPlainObject(other)) {
    const mounts: Record<string, string> = {};
    const entries = Object.entries(other);
    if (entries.length > 256) fail(`${path}.other`, 'more than 256 keys');
    for (const [mount, url] of entries) put(mounts, mount, need(URL_TEXT, url, `${path}.other.${mount}`));
    out.other = mounts;
  } else if (!absent(other)) fail(`${path}.other`, 'expected an array of URLs or an object of mount → URL');
  return out;
}

/**
 * The step an instruction's `to` names, or null. Accepted: null; a path or URL ending in
 * `/modules/{module}/{func}` or equal to an `endpoints` entry's path (or url + path); an
 * object `{module, func}` (or `function`), or an endpoint object with `path`/`url`.
 */
function resolveTo(to: unknown, path: string, nodes: Node[], endpoints: Obj): number | null {
  if (absent(to) || to === '') return null;
  const find = (module: string, func: string): number | null => {
    const i = nodes.findIndex((n) => n.fields.module === module && n.fields.func === func);
    return i < 0 ? null : i;
  };
  if (typeof to === 'string') return matchEndpoint(to, nodes, endpoints, find);
  if (!isPlainObject(to)) fail(path, 'expected an endpoint (string or object) or null');
  const module = own(to, 'module');
  const func = own(to, 'func') ?? own(to, 'function');
  if (typeof module === 'string' && typeof func === 'string') return find(module, func);
  const url = typeof own(to, 'url') === 'string' ? (own(to, 'url') as string) : '';
  const endpointPath = typeof own(to, 'path') === 'string' ? (own(to, 'path') as string) : '';
  for (const candidate of [url + endpointPath, endpointPath, url]) {
    const found = candidate === '' ? null : matchEndpoint(candidate, nodes, endpoints, find);
    if (found !== null) return found;
  }
  return null;
}

function matchEndpoint(text: string, nodes: Node[], endpoints: Obj, find: (module: string, func: string) => number | null): number | null {
  const trim = (s: string): string => s.replace(/[?#].*$/, '').replace(/\/+$/, '');
  const target = trim(text);
  for (let i = 0; i < nodes.length; i++) {
    const { module, func } = nodes[i]!.fields;
    const byModule = own(endpoints, module);
    const endpoint = isPlainObject(byModule) ? own(byModule, func) : undefined;
    if (!isPlainObject(endpoint)) continue;
    const p = own(endpoint, 'path');
    const u = own(endpoint, 'url');
    if (typeof p !== 'string' || p === '') continue;
    if (target === trim(p) || (typeof u === 'string' && target === trim(u.replace(/\/+$/, '') + p))) return i;
  }
  const match = /\/modules\/([^/]+)\/([^/]+)$/.exec(target);
  if (!match) return null;
  try {
    return find(decodeURIComponent(match[1]!), decodeURIComponent(match[2]!));
  } catch {
    return null;
  }
}

function parseTopics(value: unknown): Record<string, TopicGrants> {
  const out: Record<string, TopicGrants> = {};
  if (absent(value)) return out;
  const topics = object(value, 'manifest.topics');
  const entries = Object.entries(topics);
  if (entries.length > MAX_MANIFEST_STEPS) fail('manifest.topics', `more than ${MAX_MANIFEST_STEPS} modules`);
  for (const [module, grants] of entries) {
    const path = `manifest.topics.${module}`;
    need(MODULE, module, `manifest.topics[${JSON.stringify(module)}]`);
    const g = object(grants, path);
    const read = (key: 'publish' | 'subscribe'): string[] => {
      const items = own(g, key);
      return absent(items) ? [] : list(items, `${path}.${key}`, 100).map((t, i) => parseTopic(t, `${path}.${key}[${i}]`));
    };
    put(out, module, { publish: read('publish'), subscribe: read('subscribe') });
  }
  return out;
}

function parseTopic(value: unknown, path: string): string {
  const topic = need(TOPIC, value, path);
  if (/\s/.test(topic)) fail(path, 'a topic must not contain whitespace');
  const segments = topic.split('/');
  segments.forEach((s, i) => {
    if (s.includes('*') && s !== '*') fail(path, `"*" must be a whole segment in "${topic}"`);
    if (s.includes('#') && (s !== '#' || i !== segments.length - 1)) fail(path, `"#" may only be the whole last segment in "${topic}"`);
  });
  return topic;
}

function parseAntiAffinity(value: unknown): boolean {
  if (absent(value)) return false;
  if (typeof value !== 'boolean') fail('manifest.antiAffinity', 'expected a boolean');
  return value;
}

/** Most hot standbys a step may have: each costs a round trip on every call. */
export const MAX_REPLICAS = 3;

function parseReplicas(value: unknown): number {
  if (absent(value)) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value)) fail('manifest.replicas', 'expected a whole number of standbys');
  if (value < 0 || value > MAX_REPLICAS) fail('manifest.replicas', `expected 0 to ${MAX_REPLICAS}`, { replicas: value });
  return value;
}

function parseEngines(value: unknown): Engine[] {
  if (absent(value)) return [];
  const out: Engine[] = [];
  list(value, 'manifest.engines', 16).forEach((e, i) => {
    if (!ENGINES.includes(e as Engine)) fail(`manifest.engines[${i}]`, `expected one of ${ENGINES.join(', ')}`);
    if (!out.includes(e as Engine)) out.push(e as Engine);
  });
  return out;
}
