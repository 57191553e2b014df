/**
 * What every route of the gateway shares: the peer, limits, the result files, cached
 * lookups (device names; which peer runs a deployment's module and how its functions
 * are described — invalidated on every registry change, so the hot call route does no
 * registry scan), reading a call's input from any body type, and the answer of a call
 * in the reference's result convention.
 */
import type { OutputFile } from '../../shared/supervisor/supervisor.ts';
import type { FunctionDescription } from '../../shared/registry/schema.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { mediaTypeOf, parseJson, readBody } from './http.ts';
import { nestFields, parseMultipart, parseUrlEncoded } from './multipart.ts';
import { queryEntries } from './query.ts';
import { filePath, ResultFiles } from './results.ts';
import type { RouteContext } from './router.ts';

/** Body size limits, in bytes. */
export interface GatewayLimits {
  /** JSON and urlencoded bodies (default 1 MiB). */
  jsonBytes: number;
  /** Multipart and binary bodies, and files fetched for `POST /deploy` (default 64 MiB). */
  bodyBytes: number;
}

/** Where a deployment's module runs and how its functions are described. */
export interface ModuleTarget {
  deploymentId: string;
  /** Step index of the module's first step. */
  step: number;
  /** The module's name in the deployment. */
  module: string;
  moduleId: string;
  peer: string;
  functions: Record<string, FunctionDescription>;
  /** The step has a hot standby (ADR 0038): calls go through the orchestrator, which fails over to it. */
  standby: boolean;
}

/** What an HTTP request carries for a call, read from the query and the body, before it becomes a `CallInput`. */
export interface RequestFields {
  /** Name → value, from the query and the body fields. */
  named: [string, unknown][];
  /** Positional values (a JSON array body). */
  list?: unknown[];
  files: Record<string, Uint8Array>;
  input?: Uint8Array;
}

/** The HTTP body that answers a call or an execution (a `CallOutcome` in the reference's result convention). */
export interface ResultBody {
  /** The plain value, or the URL of the output file when the function writes one. */
  result: unknown;
  resultUrl: string;
  /** The wasm function's own return value. */
  value: number | string | null;
  files: { name: string; mediaType: string; size: number; url: string }[];
}

/** Shared state of one gateway. */
export class GatewayContext {
  readonly node: SupervisedPeer;
  readonly limits: GatewayLimits;
  readonly results = new ResultFiles();
  #names: Map<string, string> | null = null;
  readonly #targets = new Map<string, ModuleTarget | null>();
  readonly #deviceJson = new Map<string, { name: string; json: string }>();
  readonly #off: () => void;

  constructor(node: SupervisedPeer, limits: GatewayLimits) {
    this.node = node;
    this.limits = limits;
    this.#off = node.peer.registry.on('change', (c) => {
      if (c.map === 'devices') this.#names = null;
      else this.#targets.clear();
    });
  }

  /** Stop following the registry. */
  close(): void {
    this.#off();
  }

  /** This peer's id. */
  get self(): string {
    return this.node.peer.id;
  }

  /** A device's name (its short id when the registry does not know it). */
  nameOf(peer: string): string {
    if (!this.#names) this.#names = new Map(this.node.peer.registry.devices.values().map((d) => [d.id, d.name]));
    return this.#names.get(peer) ?? peer.slice(0, 12);
  }

  /** `{"id": …, "name": …}` of a device as JSON text, for call answers (kept until its name changes). */
  deviceJson(peer: string): string {
    const name = this.nameOf(peer);
    const kept = this.#deviceJson.get(peer);
    if (kept?.name === name) return kept.json;
    const json = JSON.stringify({ id: peer, name });
    if (this.#deviceJson.size > 1000) this.#deviceJson.clear();
    this.#deviceJson.set(peer, { name, json });
    return json;
  }

  /**
   * Where module `module` (its name, or its sha256) of deployment `ref` (id or name)
   * runs, from the registry as it is now; null when the deployment is not callable
   * (unknown, without that module, or not ready) — the orchestrator then explains why.
   */
  target(ref: string, module: string): ModuleTarget | null {
    const key = `${ref}\u0000${module}`;
    const cached = this.#targets.get(key);
    if (cached !== undefined) return cached;
    let found: ModuleTarget | null = null;
    try {
      const r = this.node.orchestrator.get(ref).record;
      const step = (r.steps ?? []).findIndex((s) => s.name === module || s.module === module);
      const peer = r.solution[String(step)];
      const record = step < 0 ? undefined : this.node.peer.registry.modules.get(r.steps![step]!.module);
      if (peer && record && (r.status === 'ready' || r.status === 'rolled-back')) {
        found = { deploymentId: r.id, step, module: record.name, moduleId: record.id, peer, functions: record.functions, standby: (r.standby?.[String(step)] ?? []).length > 0 };
      }
    } catch {
      found = null;
    }
    if (this.#targets.size > 1000) this.#targets.clear();
    this.#targets.set(key, found);
    return found;
  }

  /**
   * A call's input when it is all in the query (no body, or a GET or HEAD), without
   * waiting; null when there is a body to read ({@link requestFields}).
   */
  queryFields(ctx: RouteContext): RequestFields | null {
    const { req } = ctx;
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    if (hasBody && req.method !== 'GET' && req.method !== 'HEAD') return null;
    return { named: queryEntries(ctx.rawQuery), files: {} };
  }

  /** Read a call's input: query parameters, then a JSON, urlencoded, multipart or binary body. */
  async requestFields(ctx: RouteContext): Promise<RequestFields> {
    const fromQuery = this.queryFields(ctx);
    if (fromQuery) return fromQuery;
    const out: RequestFields = { named: queryEntries(ctx.rawQuery), files: {} };
    const { req } = ctx;
    const type = mediaTypeOf(req);
    if (type === 'application/json') {
      const body = parseJson(await readBody(req, this.limits.jsonBytes));
      if (Array.isArray(body)) out.list = body;
      else if (body !== null && typeof body === 'object') out.named.push(...Object.entries(body));
      else if (body !== undefined) out.list = [body];
    } else if (type === 'application/x-www-form-urlencoded') {
      out.named.push(...Object.entries(nestFields(parseUrlEncoded(await readBody(req, this.limits.jsonBytes)).fields)));
    } else if (type === 'multipart/form-data') {
      const form = await parseMultipart(req.headers, await readBody(req, this.limits.bodyBytes));
      out.named.push(...Object.entries(nestFields(form.fields)));
      for (const f of form.files) out.files[f.field] = f.bytes;
    } else {
      const bytes = await readBody(req, this.limits.bodyBytes);
      if (bytes.byteLength > 0) out.input = new Uint8Array(bytes);
    }
    return out;
  }

  /**
   * The answer of a call whose final outcome is `outcome`, run on `peer`; `where` (the
   * deployment and module that wrote them) also files its outputs under
   * `/module_results/{deployment}/{module}/{file}`.
   */
  answer(base: string, peer: string, outcome: { requestId: string; value: number | string | null; bytes?: Uint8Array; files: OutputFile[] }, fn?: FunctionDescription, where?: { deploymentId: string; module: string }): ResultBody {
    const files = outcome.files.map((f) => {
      const hash = this.results.put(f);
      if (where) this.results.index(where.deploymentId, where.module, f.name, hash);
      return { name: f.name, mediaType: f.mediaType, size: f.bytes.byteLength, url: base + filePath(hash, f.name) };
    });
    if (outcome.bytes) {
      const name = 'result';
      const mediaType = fn?.result.mediaType ?? 'application/octet-stream';
      files.push({ name, mediaType, size: outcome.bytes.byteLength, url: base + filePath(this.results.put({ name, mediaType, bytes: outcome.bytes }), name) });
    }
    return { result: files.length > 0 ? files[0]!.url : outcome.value, resultUrl: historyUrl(base, this.self, peer, outcome.requestId), value: outcome.value, files };
  }
}

/** URL of a request in the history of `peer`, as seen from the gateway of `self`. */
export function historyUrl(base: string, self: string, peer: string, requestId: string): string {
  return `${base}/request-history/${encodeURIComponent(requestId)}${peer === self ? '' : `?device=${peer}`}`;
}

/**
 * Arguments in the order of the function's parameters: a value named like the
 * parameter (or `param<i>`) goes to its place, the others fill the remaining places in
 * the order sent — so seed 001's `?iterations=7` reaches fibo's only parameter. Values beyond
 * the parameters are ignored, as the reference does.
 */
export function positionalArgs(input: RequestFields, fn: FunctionDescription | undefined): unknown[] | Record<string, unknown> {
  if (input.list) return input.list;
  const scalars = fn ? fn.params.filter((p) => p.type !== 'bytes' && p.type !== 'none') : undefined;
  if (!scalars) return Object.fromEntries(input.named);
  // Every parameter sent by its own name, in order (`?param0=12`): nothing to match up.
  if (inOrder(input.named, scalars)) return input.named.map(([, v]) => v);
  const named = new Map(input.named);
  const used = new Set<string>();
  const out: unknown[] = scalars.map((p, i) => {
    for (const key of [p.name, `param${i}`]) {
      if (named.has(key) && !used.has(key)) {
        used.add(key);
        return named.get(key);
      }
    }
    return undefined;
  });
  const rest = input.named.filter(([k]) => !used.has(k));
  for (let i = 0; i < out.length && rest.length > 0; i++) if (out[i] === undefined) out[i] = rest.shift()![1];
  return out;
}

/** Whether `named` holds exactly one value for each of `params`, named like it, in its order. */
function inOrder(named: [string, unknown][], params: { name: string }[]): boolean {
  if (named.length !== params.length) return false;
  for (let i = 0; i < params.length; i++) {
    if (named[i]![0] !== params[i]!.name) return false;
    for (let j = 0; j < i; j++) if (params[j]!.name === params[i]!.name) return false;
  }
  return true;
}

/** The `bytes` input of a function that takes bytes: the raw body, the part named like the parameter, or the only file sent. */
export function bytesInput(input: RequestFields, fn: FunctionDescription | undefined): Uint8Array | undefined {
  if (input.input) return input.input;
  if (!fn || !(fn.pointer || fn.params.some((p) => p.type === 'bytes'))) return undefined;
  const named = fn.params.find((p) => p.type === 'bytes')?.name;
  if (named && input.files[named]) return input.files[named];
  const parts = Object.values(input.files);
  return parts.length === 1 ? parts[0] : undefined;
}
