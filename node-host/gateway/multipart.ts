/**
 * multipart/form-data and urlencoded bodies: parts are parsed with busboy from the
 * already size-checked body, and bracketed field names (`fibo[mounts][0][name]`, as the
 * reference's forms send them) are turned into nested objects — with own properties
 * only, so a field named `__proto__` cannot reach any prototype.
 */
import type { IncomingHttpHeaders } from 'node:http';
import busboy from 'busboy';
import { InvalidParamsError } from '../../shared/errors.ts';
import { BadMultipartError } from './http.ts';

/** One uploaded file part. */
export interface FilePart {
  /** The part's field name (a mount name, or `module` for the wasm). */
  field: string;
  filename: string;
  mimeType: string;
  bytes: Uint8Array;
}

/** A parsed form. */
export interface Form {
  /** Text fields in the order sent. */
  fields: [string, string][];
  files: FilePart[];
}

/** Most parts and fields a form may have. */
const LIMITS = { files: 100, fields: 2000, parts: 2100, fieldSize: 1024 * 1024, fieldNameSize: 300 };

/** Parse a multipart/form-data body. Malformed input rejects with ERR_BAD_MULTIPART. */
export function parseMultipart(headers: IncomingHttpHeaders, body: Buffer): Promise<Form> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers, limits: { ...LIMITS, fileSize: body.byteLength } });
    } catch (error) {
      reject(new BadMultipartError(`not a multipart/form-data body: ${(error as Error).message}`));
      return;
    }
    const form: Form = { fields: [], files: [] };
    let failed = false;
    const fail = (message: string): void => {
      if (failed) return;
      failed = true;
      reject(new BadMultipartError(message));
    };
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated || info.nameTruncated) fail(`field ${name.slice(0, 60)} is too long`);
      else form.fields.push([name, value]);
    });
    parser.on('file', (field, stream, info) => {
      const chunks: Buffer[] = [];
      // A body that ends inside a file destroys that file's stream with the parser's error:
      // unheard, it would end the process.
      stream.on('error', (error: Error) => fail(`malformed multipart body: ${error.message}`));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        form.files.push({ field, filename: info.filename ?? field, mimeType: info.mimeType || 'application/octet-stream', bytes: new Uint8Array(Buffer.concat(chunks)) });
      });
    });
    parser.on('partsLimit', () => fail(`more than ${LIMITS.parts} parts`));
    parser.on('filesLimit', () => fail(`more than ${LIMITS.files} files`));
    parser.on('fieldsLimit', () => fail(`more than ${LIMITS.fields} fields`));
    parser.on('error', (error: Error) => fail(`malformed multipart body: ${error.message}`));
    parser.on('close', () => {
      if (!failed) resolve(form);
    });
    parser.end(body);
  });
}

/** Parse an application/x-www-form-urlencoded body. */
export function parseUrlEncoded(body: Buffer): Form {
  return { fields: [...new URLSearchParams(body.toString('utf8')).entries()], files: [] };
}

type Tree = Record<string, unknown>;

function setOwn(target: Tree, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Nest bracketed names: `f[method]=GET`, `f[mounts][0][name]=x` → `{f: {method: 'GET',
 * mounts: {0: {name: 'x'}}}}`. Objects whose keys are all 0..n-1 become arrays.
 * A name that clashes with a scalar (`f=1` and `f[a]=2`) is ERR_BAD_MULTIPART.
 */
export function nestFields(fields: readonly [string, string][]): Tree {
  const root: Tree = {};
  for (const [name, value] of fields) {
    const keys = splitName(name);
    let node = root;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const last = i === keys.length - 1;
      const existing = Object.hasOwn(node, key) ? node[key] : undefined;
      if (last) {
        if (existing !== undefined && typeof existing === 'object') throw new BadMultipartError(`field ${name} clashes with another field`);
        setOwn(node, key, value);
      } else {
        if (existing === undefined) setOwn(node, key, {});
        else if (typeof existing !== 'object') throw new BadMultipartError(`field ${name} clashes with another field`);
        node = node[key] as Tree;
      }
    }
  }
  return toArrays(root) as Tree;
}

/** Deepest bracketed field name accepted (`a[b][c]` is 3): far beyond any describe form. */
export const MAX_FIELD_DEPTH = 32;

function splitName(name: string): string[] {
  const first = name.indexOf('[');
  if (first <= 0 || !name.endsWith(']')) return [name];
  const rest = name.slice(first + 1, -1).split('][');
  // The tree is walked recursively below: its depth is bounded here, where it is made.
  if (rest.length + 1 > MAX_FIELD_DEPTH) throw new InvalidParamsError(`field ${name.slice(0, 60)}… is nested deeper than ${MAX_FIELD_DEPTH} levels (maxDepth)`, { limit: 'maxDepth', max: MAX_FIELD_DEPTH });
  return [name.slice(0, first), ...rest];
}

function toArrays(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const tree = value as Tree;
  const keys = Object.keys(tree);
  for (const k of keys) setOwn(tree, k, toArrays(tree[k]));
  if (keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => tree[k]);
  return tree;
}
