/**
 * The CLI's view of a running mesh: a client of the HTTP gateway that a node peer serves
 * (`liquidmesh start` runs one on 127.0.0.1:3000). Requests go out with node:http so that
 * uploads can report progress; the gateway's error bodies (`{errorText, error, code}`)
 * become {@link CliError}s with the same code.
 */
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { CliError } from './cli-error.ts';

/** The gateway a command talks to unless told otherwise. */
export const DEFAULT_GATEWAY = 'http://127.0.0.1:3000';

/** One part of a multipart/form-data body. */
export interface FormPart {
  name: string;
  value: string | Uint8Array;
  filename?: string;
  contentType?: string;
}

/** A request body. */
export type Body = { json: unknown } | { form: FormPart[] } | undefined;

/** Called as the request body goes out. */
export type UploadProgress = (sent: number, total: number) => void;

/** A response. */
export interface Reply {
  status: number;
  contentType: string;
  bytes: Uint8Array;
}

const CHUNK = 64 * 1024;

/** Encode parts as multipart/form-data. */
export function encodeForm(parts: readonly FormPart[]): { body: Buffer; contentType: string } {
  const boundary = `----liquidmesh${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    const type = p.contentType ?? (typeof p.value === 'string' ? undefined : 'application/octet-stream');
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`));
    chunks.push(typeof p.value === 'string' ? Buffer.from(p.value) : Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A client of one gateway. */
export class GatewayClient {
  readonly base: URL;
  readonly #token: string | undefined;

  /** @param token the gateway's bearer token, sent as `Authorization: Bearer` (see gateway/token.ts). */
  constructor(base: string = DEFAULT_GATEWAY, token?: string) {
    this.#token = token;
    try {
      this.base = new URL(base);
    } catch {
      throw new CliError('ERR_USAGE', `--gateway: not a URL: ${base}`);
    }
  }

  /** Send a request; resolves with any status (see {@link GatewayClient.json} for checked calls). */
  request(method: string, path: string, body?: Body, onProgress?: UploadProgress): Promise<Reply> {
    const url = new URL(path, this.base);
    let payload: Buffer | undefined;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body && 'json' in body) {
      payload = Buffer.from(JSON.stringify(body.json));
      headers['content-type'] = 'application/json';
    } else if (body && 'form' in body) {
      const form = encodeForm(body.form);
      payload = form.body;
      headers['content-type'] = form.contentType;
    }
    if (payload) headers['content-length'] = String(payload.byteLength);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<Reply>((resolve, reject) => {
      const req = lib.request(url, { method, headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), bytes: new Uint8Array(Buffer.concat(parts)) }));
        res.on('error', reject);
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'EHOSTUNREACH') {
          reject(new CliError('ERR_GATEWAY_UNREACHABLE', `no gateway at ${this.base.origin} (${e.code}): is \`liquidmesh start\` running? Point elsewhere with --gateway URL or LIQUIDMESH_GATEWAY`));
        } else reject(new CliError('ERR_GATEWAY_UNREACHABLE', `request to ${url.href} failed: ${e.message}`));
      });
      if (!payload) {
        req.end();
        return;
      }
      // Write in chunks so that progress follows what the socket accepted.
      let sent = 0;
      const total = payload.byteLength;
      const body = payload;
      const pump = (): void => {
        while (sent < total) {
          const end = Math.min(total, sent + CHUNK);
          const more = req.write(body.subarray(sent, end));
          sent = end;
          onProgress?.(sent, total);
          if (!more) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
  }

  /** Send a request and parse a JSON (or text) answer; a non-2xx status throws a CliError. */
  async json<T = unknown>(method: string, path: string, body?: Body, onProgress?: UploadProgress): Promise<T> {
    const reply = await this.request(method, path, body, onProgress);
    const text = new TextDecoder().decode(reply.bytes);
    let parsed: unknown = text;
    if (reply.contentType.includes('json') && text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new CliError('ERR_BAD_REPLY', `${method} ${path}: the gateway sent invalid JSON (status ${reply.status})`);
      }
    }
    if (reply.status >= 200 && reply.status < 300) return parsed as T;
    throw gatewayError(method, path, reply.status, parsed);
  }

  /** Download bytes from a gateway URL (output files, module files). */
  async bytes(path: string): Promise<Uint8Array> {
    const reply = await this.request('GET', path);
    if (reply.status >= 200 && reply.status < 300) return reply.bytes;
    const text = new TextDecoder().decode(reply.bytes);
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: keep the text */
    }
    throw gatewayError('GET', path, reply.status, parsed);
  }
}

/** Turn a gateway error body into a CliError with its code and message. */
function gatewayError(method: string, path: string, status: number, body: unknown): CliError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const code = typeof b.code === 'string' ? b.code : typeof b.error === 'string' && /^ERR_/.test(b.error) ? b.error : `HTTP_${status}`;
  // `errorText` is the reference's summary ("Failed creating module"), `error` the detail.
  const summary = typeof b.errorText === 'string' ? b.errorText : typeof b.err === 'string' ? b.err : '';
  const detail = typeof b.error === 'string' && b.error !== code ? b.error : '';
  const message = [summary, detail].filter(Boolean).join(': ') || (typeof body === 'string' && body ? body : `${method} ${path} answered ${status}`);
  return new CliError(code, message, body);
}
