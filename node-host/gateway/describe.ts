/**
 * Module descriptions from what WasmIoT clients send: the "describe" form of
 * `POST /file/module/:id/upload` (`fibo[method]=GET`, `fibo[param0]=integer`,
 * `fibo[output]=integer`, `fibo[mounts][0][name]`, …), OpenAPI documents and the
 * `paths` / `endpoints` / `mounts` of supervisor deployment manifests. Where they say
 * nothing, the export's signature decides (i32/i64 → integer, f32/f64 → number).
 */
import { createHash } from 'node:crypto';
import { InvalidParamsError } from '../../shared/errors.ts';
import { isPlainObject } from '../../shared/protocol/check.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { FunctionDescription, MountDescription } from '../../shared/registry/schema.ts';
import { encodeU32Leb, type ExportInfo, type FuncType } from '../../shared/wasm/binary.ts';

type Obj = Record<string, unknown>;
type ValueKind = FunctionDescription['params'][number]['type'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const;
/** Exports that are plumbing, never functions to call over HTTP. */
const PLUMBING = new Set(['_start', '_initialize', 'alloc', 'dealloc', 'malloc', 'free', 'memory']);

/** Value kind of a wasm type. */
function kindOfWasm(type: string | undefined): ValueKind {
  if (type === 'i32' || type === 'i64') return 'integer';
  if (type === 'f32' || type === 'f64') return 'number';
  return 'none';
}

/** The function exports of a module, by name, with their signatures. */
export function functionExports(exports: readonly ExportInfo[]): Map<string, FuncType> {
  return new Map(exports.filter((e) => e.kind === 'function' && e.type).map((e) => [e.name, e.type!]));
}

/** A description read from the signatures alone: every callable export with scalar parameters. */
export function describeFromSignatures(name: string, exports: readonly ExportInfo[], version = '1.0.0'): ModuleDescription {
  const functions: Record<string, FunctionDescription> = {};
  for (const [fn, type] of functionExports(exports)) {
    if (PLUMBING.has(fn) || fn.startsWith('__')) continue;
    if (type.params.some((p) => kindOfWasm(p) === 'none') || type.results.length > 1) continue;
    functions[fn] = fromSignature(type);
  }
  if (Object.keys(functions).length === 0) throw new InvalidParamsError('the module exports no function that can be called with scalar parameters; describe it');
  return { name, version, functions };
}

function fromSignature(type: FuncType): FunctionDescription {
  return {
    method: 'GET',
    params: type.params.map((p, i) => ({ name: `param${i}`, type: kindOfWasm(p) })),
    result: { type: kindOfWasm(type.results[0]) },
    mounts: [],
  };
}

/** A parameter or output type as the reference writes it. */
function kindOfText(text: unknown, where: string): ValueKind {
  const t = String(text).trim().toLowerCase();
  if (t === 'integer' || t === 'int' || t === 'i32' || t === 'i64') return 'integer';
  if (t === 'float' || t === 'number' || t === 'f32' || t === 'f64' || t === 'double') return 'number';
  if (t === 'string') return 'string';
  if (t === 'bytes' || t === 'binary') return 'bytes';
  throw new InvalidParamsError(`${where}: unknown type ${JSON.stringify(String(text)).slice(0, 40)} (integer, float, string or bytes)`);
}

function methodOf(value: unknown, fallback: FunctionDescription['method'], where: string): FunctionDescription['method'] {
  if (value === undefined || value === '') return fallback;
  const m = String(value).toUpperCase();
  if (!(METHODS as readonly string[]).includes(m)) throw new InvalidParamsError(`${where}: method must be one of ${METHODS.join(', ')}`);
  return m as FunctionDescription['method'];
}

function asList(value: unknown): unknown[] {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value)) return value;
  if (isPlainObject(value)) return Object.values(value);
  return [value];
}

/** What the describe form gives for the files it carries. */
export interface DescribedFile {
  mimeType: string;
}

/**
 * The description of `name` from the describe form. `form` is the nested form (or the
 * parsed `functions` JSON field); `files` are the uploaded parts by field name.
 * Deployment-stage mounts without a file are ERR_INVALID_PARAMS naming them.
 */
export function describeFromForm(name: string, version: string, form: Obj, files: ReadonlyMap<string, DescribedFile>, exports: readonly ExportInfo[]): ModuleDescription {
  const signatures = functionExports(exports);
  const functions: Record<string, FunctionDescription> = {};
  const missing: string[] = [];
  for (const [fn, raw] of Object.entries(form)) {
    if (!isPlainObject(raw)) continue;
    const where = `function ${fn}`;
    const type = signatures.get(fn);
    if (!type) throw new InvalidParamsError(`${where}: the module exports no such function (it exports: ${[...signatures.keys()].join(', ')})`, { function: fn });
    const mounts: MountDescription[] = asList(raw.mounts).map((m, i) => {
      if (!isPlainObject(m) || typeof m.name !== 'string' || m.name === '') throw new InvalidParamsError(`${where}: mounts[${i}] needs a name`);
      const stage = String(m.stage ?? 'execution');
      if (stage !== 'deployment' && stage !== 'execution' && stage !== 'output') throw new InvalidParamsError(`${where}: mounts[${i}].stage must be deployment, execution or output`);
      const mount: MountDescription = { name: m.name, stage };
      const mediaType = typeof m.mediaType === 'string' && m.mediaType ? m.mediaType : files.get(m.name)?.mimeType;
      if (mediaType) mount.mediaType = mediaType;
      if (stage === 'deployment' && !files.has(m.name)) missing.push(`${fn}: ${m.name}`);
      return mount;
    });
    const listed = Array.isArray(raw.parameters) ? raw.parameters : null;
    const params = listed
      ? listed.map((p, i) => (isPlainObject(p) ? { name: String(p.name ?? `param${i}`), type: kindOfText(p.type, `${where}.parameters[${i}]`) } : { name: `param${i}`, type: kindOfText(p, `${where}.parameters[${i}]`) }))
      : Object.keys(raw)
          .filter((k) => /^param\d+$/.test(k))
          .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
          .map((k) => ({ name: k, type: kindOfText(raw[k], `${where}.${k}`) }));
    const output = typeof raw.output === 'string' ? raw.output.trim() : '';
    const result: FunctionDescription['result'] = { type: kindOfWasm(type.results[0]) };
    if (output.includes('/')) {
      // The reference's output type is the output file's media type.
      result.mediaType = output;
      for (const m of mounts) if (m.stage === 'output' && !m.mediaType) m.mediaType = output;
    }
    else if (output !== '' && output.toLowerCase() !== 'none' && result.type !== 'none') result.type = kindOfText(output, `${where}.output`);
    const hasInput = mounts.some((m) => m.stage === 'execution') || params.some((p) => p.type === 'bytes');
    functions[fn] = { method: methodOf(raw.method, hasInput ? 'POST' : 'GET', where), params, result, mounts };
  }
  if (missing.length > 0) throw new InvalidParamsError(`deployment-stage mounts without a file: ${missing.join(', ')} (send each as a part named by its mount)`, { missing });
  if (Object.keys(functions).length === 0) throw new InvalidParamsError('the form describes no function (expected fields like fibo[method]=GET, fibo[param0]=integer)');
  return { name, version, functions };
}

/**
 * A function from an OpenAPI operation (a module's OpenAPI description, or seed 001's
 * `instructions…paths[""].get`): query parameters become scalar parameters, a
 * `requestBody` parameter or octet-stream body a `bytes` one, multipart properties
 * execution-stage mounts.
 */
export function functionFromOperation(method: string, op: Obj, type: FuncType | undefined): FunctionDescription {
  const params: FunctionDescription['params'] = [];
  const mounts: MountDescription[] = [];
  for (const p of asList(op.parameters)) {
    if (!isPlainObject(p) || typeof p.name !== 'string') continue;
    if (p.in === 'path') continue;
    const schema = isPlainObject(p.schema) ? p.schema : {};
    if (p.in === 'requestBody') params.push({ name: p.name, type: 'bytes' });
    else params.push({ name: p.name, type: schema.type === undefined ? kindOfWasm(type?.params[params.length]) : kindOfText(schema.type, `parameter ${p.name}`) });
  }
  const body = isPlainObject(op.requestBody) && isPlainObject(op.requestBody.content) ? op.requestBody.content : {};
  const multipart = isPlainObject(body['multipart/form-data']) ? body['multipart/form-data'] : null;
  if (multipart) {
    const schema = isPlainObject(multipart.schema) && isPlainObject(multipart.schema.properties) ? multipart.schema.properties : {};
    const encoding = isPlainObject(multipart.encoding) ? multipart.encoding : {};
    for (const mount of Object.keys(schema)) {
      const enc = encoding[mount];
      const m: MountDescription = { name: mount, stage: 'execution' };
      if (isPlainObject(enc) && typeof enc.contentType === 'string') m.mediaType = enc.contentType;
      mounts.push(m);
    }
  } else if (Object.keys(body).length > 0 && !params.some((p) => p.type === 'bytes')) params.push({ name: 'data', type: 'bytes' });
  const result: FunctionDescription['result'] = { type: kindOfWasm(type?.results[0]) };
  const responses = isPlainObject(op.responses) ? op.responses : {};
  const ok = responses['200'] ?? responses[200];
  const content = isPlainObject(ok) && isPlainObject(ok.content) ? ok.content : {};
  const json = content['application/json'];
  const jsonType = isPlainObject(json) && isPlainObject(json.schema) ? json.schema.type : undefined;
  if ((jsonType === 'integer' || jsonType === 'number') && result.type !== 'none') result.type = jsonType;
  const other = Object.keys(content).find((t) => t !== 'application/json');
  if (other) result.mediaType = other;
  return { method: methodOf(method, 'GET', `operation ${method}`), params, result, mounts };
}

/**
 * Functions from a description document: our own format (`functions`) as it is, or an
 * OpenAPI document (`paths` ending in `/{function}`). Functions the module does not
 * export are left out.
 */
export function functionsFromDocument(doc: unknown, exports: readonly ExportInfo[]): Record<string, FunctionDescription> {
  const signatures = functionExports(exports);
  const out: Record<string, FunctionDescription> = {};
  if (!isPlainObject(doc)) return out;
  if (isPlainObject(doc.functions)) {
    for (const [fn, f] of Object.entries(doc.functions)) if (signatures.has(fn) && isPlainObject(f)) out[fn] = f as unknown as FunctionDescription;
    return out;
  }
  if (!isPlainObject(doc.paths)) return out;
  for (const [path, item] of Object.entries(doc.paths)) {
    const fn = decodeURIComponent(path.replace(/\/+$/, '').split('/').pop() ?? '');
    if (!signatures.has(fn) || !isPlainObject(item)) continue;
    const method = METHODS.map((m) => m.toLowerCase()).find((m) => isPlainObject(item[m]));
    if (method) out[fn] = functionFromOperation(method, item[method] as Obj, signatures.get(fn));
  }
  return out;
}

/** Fill in functions a manifest calls that a description left out, from their signatures. */
export function withSignatureDefaults(functions: Record<string, FunctionDescription>, wanted: readonly string[], exports: readonly ExportInfo[]): Record<string, FunctionDescription> {
  const signatures = functionExports(exports);
  const out = { ...functions };
  for (const fn of wanted) {
    const type = signatures.get(fn);
    if (!out[fn] && type) out[fn] = fromSignature(type);
  }
  return out;
}

/** Custom section that tells apart one binary published under several names. */
export const NAME_SECTION = 'liquidmesh.module-name';

/**
 * The bytes to publish `wasm` as module `name`. A module's id is the sha256 of its
 * binary and a record has one name, while WasmIoT lets the same binary be uploaded
 * under several names: when `wasm` is already published under another name, a custom
 * section holding `name` is appended (ignored by every engine), so each name is its own
 * module. `publishedName(hash)` gives the name a binary is published under, if any.
 */
export function binaryForName(wasm: Uint8Array, name: string, publishedName: (hash: string) => string | undefined): Uint8Array {
  const other = publishedName(createHash('sha256').update(wasm).digest('hex'));
  if (other === undefined || other === name) return wasm;
  const utf8 = new TextEncoder();
  const section = utf8.encode(NAME_SECTION);
  const payload = utf8.encode(name);
  const content = new Uint8Array([...encodeU32Leb(section.byteLength), ...section, ...payload]);
  return new Uint8Array([...wasm, 0x00, ...encodeU32Leb(content.byteLength), ...content]);
}
