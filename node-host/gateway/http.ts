/**
 * HTTP plumbing of the gateway: named errors and their status codes (one table), the
 * reference's error shape, JSON and byte responses, and bounded body reading. Nothing
 * here knows about routes or the mesh.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { defineError, MeshError, PayloadTooLargeError } from '../../shared/errors.ts';
import { DEFAULT_JSON_LIMITS, scanJson } from '../../shared/protocol/json-limits.ts';

/** The URL matched no route (the reference answers 404 `{err: "Bad URL"}`). */
export const RouteNotFoundError = defineError('ERR_ROUTE_NOT_FOUND', 'RouteNotFoundError');
/** The route exists but not for this HTTP method. */
export const MethodNotAllowedError = defineError('ERR_METHOD_NOT_ALLOWED', 'MethodNotAllowedError');
/** A request body that should be JSON is not. */
export const BadJsonError = defineError('ERR_BAD_JSON', 'BadJsonError');
/** A multipart/form-data body that cannot be parsed, or lacks a required part. */
export const BadMultipartError = defineError('ERR_BAD_MULTIPART', 'BadMultipartError');
/** The client stopped sending the request body before its end. */
export const RequestAbortedError = defineError('ERR_REQUEST_ABORTED', 'RequestAbortedError');
/** A URL in a request is not an http(s) URL. */
export const BadUrlError = defineError('ERR_BAD_URL', 'BadUrlError');
/** Fetching a URL named in a request failed (any reason: what answered is not told). */
export const FetchFailedError = defineError('ERR_FETCH_FAILED', 'FetchFailedError');
/** A module has no file of that name, or a result file is no longer kept. */
export const UnknownFileError = defineError('ERR_UNKNOWN_FILE', 'UnknownFileError');
/** A device asked to be registered over HTTP: devices join the mesh themselves. */
export const JoinThroughMeshError = defineError('ERR_JOIN_THROUGH_MESH', 'JoinThroughMeshError');
/** No request with that id in the history. */
export const UnknownRequestError = defineError('ERR_UNKNOWN_REQUEST', 'UnknownRequestError');

/**
 * HTTP status of every named error a request can meet. A code not listed is a 500:
 * only errors that are ours end up there.
 */
export const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  // The request is wrong.
  ERR_INVALID_PARAMS: 400,
  ERR_INVALID_MANIFEST: 400,
  ERR_INVALID_WASM: 400,
  ERR_BAD_JSON: 400,
  ERR_BAD_MULTIPART: 400,
  ERR_BAD_URL: 400,
  ERR_REQUEST_ABORTED: 400,
  ERR_INVALID_HASH: 400,
  ERR_HASH_MISMATCH: 400,
  ERR_MISSING_PROVIDER: 400,
  ERR_CYCLIC_DEPENDENCY: 400,
  ERR_MEMORY_LIMIT: 400,
  ERR_MODULE_BUDGET: 400,
  ERR_IMPORT_NOT_SUPPORTED: 400,
  ERR_IMPORT_DENIED: 400,
  // It names something that does not exist.
  ERR_ROUTE_NOT_FOUND: 404,
  ERR_UNKNOWN_MODULE: 404,
  ERR_UNKNOWN_FUNCTION: 404,
  ERR_UNKNOWN_DEVICE: 404,
  ERR_UNKNOWN_DEPLOYMENT: 404,
  ERR_DEPLOYMENT_NOT_FOUND: 404,
  ERR_FUNCTION_NOT_FOUND: 404,
  ERR_UNKNOWN_FILE: 404,
  ERR_UNKNOWN_REQUEST: 404,
  ERR_BLOB_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  // It conflicts with the state of the mesh.
  ERR_MODULE_IN_USE: 409,
  ERR_DEPLOYMENT_EXISTS: 409,
  ERR_JOIN_THROUGH_MESH: 409,
  ERR_NO_PLACEMENT: 409,
  ERR_CAPABILITY_NOT_OFFERED: 409,
  ERR_MODULE_UNSIGNED: 403,
  ERR_MODULE_SIGNATURE_INVALID: 403,
  ERR_MEMORY_BUDGET: 409,
  ERR_DEPLOYMENT_FAILED: 409,
  ERR_PAYLOAD_TOO_LARGE: 413,
  ERR_MODULE_TOO_LARGE: 413,
  // Refused by the gateway's access checks or its outbound fetch policy.
  ERR_UNAUTHORIZED: 401,
  ERR_ORIGIN_DENIED: 403,
  ERR_FETCH_DENIED: 403,
  ERR_HOST_DENIED: 421,
  // A device or a URL upstream failed.
  ERR_FETCH_FAILED: 502,
  ERR_WASM_TRAP: 502,
  ERR_WASM_EXIT: 502,
  ERR_MEMORY_EXHAUSTED: 502,
  ERR_HOST_CALL: 502,
  ERR_MODULE_LOAD: 502,
  ERR_LINK_FAILED: 502,
  ERR_TOPIC_DENIED: 502,
  ERR_INSTANCE_CLOSED: 502,
  ERR_REMOTE_INTERNAL: 502,
  ERR_PEER_LEFT: 503,
  ERR_PEER_UNREACHABLE: 503,
  ERR_NOT_CONNECTED: 503,
  ERR_DEPLOYMENT_NOT_READY: 503,
  ERR_ABORTED: 503,
  ERR_RPC_TIMEOUT: 504,
  ERR_CALL_TIMEOUT: 504,
};

/** The reference's error shape plus our stable code (and the error's data, when any). */
export interface ErrorBody {
  errorText: string;
  error: string;
  code: string;
  data?: unknown;
}

/** Status and body for anything thrown by a handler. Non-mesh errors are ours: 500. */
export function errorResponse(error: unknown, errorText?: string, overrides: Readonly<Record<string, number>> = {}): { status: number; body: ErrorBody } {
  if (error instanceof MeshError) {
    const status = overrides[error.code] ?? STATUS_OF_CODE[error.code] ?? 500;
    const body: ErrorBody = { errorText: errorText ?? summary(status), error: error.message, code: error.code };
    if (error.data !== undefined) body.data = error.data;
    return { status, body };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, body: { errorText: errorText ?? summary(500), error: message, code: 'ERR_INTERNAL' } };
}

function summary(status: number): string {
  if (status === 404) return 'Not found';
  if (status === 413) return 'Request body too large';
  if (status < 500) return 'Bad request';
  if (status === 500) return 'Internal error of the gateway';
  return 'A device or an upstream server failed';
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** Answer with JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Answer 200 with JSON text already made (the hot call route's): the headers go as one
 * flat list, which node:http writes without first building and copying a header object.
 */
export function sendJsonText(res: ServerResponse, text: string): void {
  res.writeHead(200, ['content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(text))]);
  res.end(text);
}

/** Answer with bytes. */
export function sendBytes(res: ServerResponse, status: number, bytes: Uint8Array, contentType: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': bytes.byteLength, ...headers });
  res.end(bytes);
}

/** Answer with plain text. */
export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answer with no body. */
export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

/**
 * Read the whole body, at most `limit` bytes. A larger body (declared or sent) rejects
 * with ERR_PAYLOAD_TOO_LARGE; the rest of it is drained so the answer still reaches
 * the client.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    req.resume();
    return Promise.reject(new PayloadTooLargeError(`the body has ${declared} bytes; at most ${limit} are accepted`, { limit }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.byteLength;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new PayloadTooLargeError(`the body has more than ${limit} bytes`, { limit }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    req.on('error', (error) => {
      if (!failed) reject(new RequestAbortedError(`the request body ended early: ${error.message}`));
      failed = true;
    });
  });
}

/** The media type of a request, lower case, without parameters. */
export function mediaTypeOf(req: IncomingMessage): string {
  const type = req.headers['content-type'] ?? '';
  const semi = type.indexOf(';');
  return (semi < 0 ? type : type.slice(0, semi)).trim().toLowerCase();
}

/**
 * Parse a JSON body (an empty body is `undefined`). Its depth and size are checked
 * first, without parsing (shared/protocol/json-limits.ts): ERR_INVALID_PARAMS names the
 * limit, and nothing nested deeper ever reaches a handler.
 */
export function parseJson(body: Buffer): unknown {
  if (body.byteLength === 0) return undefined;
  scanJson(body, DEFAULT_JSON_LIMITS, 'the body');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadJsonError(`the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** A manifest would create a deployment whose id is taken (defined with the orchestrator's errors). */
export { DeploymentExistsError } from '../../shared/orchestrator/errors.ts';

/** An error with the reference's `errorText` for it and per-route status overrides. */
export class ExplainedError extends Error {
  /** What was thrown. */
  readonly inner: unknown;
  /** The reference's human summary (`Failed validating manifest`). */
  readonly errorText: string;
  /** Status codes that differ on this route from {@link STATUS_OF_CODE}. */
  readonly overrides: Readonly<Record<string, number>>;

  constructor(inner: unknown, errorText: string, overrides: Readonly<Record<string, number>> = {}) {
    super(errorText);
    this.inner = inner;
    this.errorText = errorText;
    this.overrides = overrides;
  }
}

/** Run `fn`; whatever it throws is explained by `errorText` (and answered with `overrides`). */
export async function explain<T>(errorText: string, fn: () => T | Promise<T>, overrides: Readonly<Record<string, number>> = {}): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw error instanceof ExplainedError ? error : new ExplainedError(error, errorText, overrides);
  }
}
