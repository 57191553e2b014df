/**
 * Serving files from one directory safely: the request path is decoded once (a path that
 * does not decode, or holds a NUL or a backslash, is refused), resolved inside the root,
 * and the real path (symlinks followed) must still be inside the root's real path; only
 * regular files are served, with their media type and `nosniff`. Used by the PWA server
 * and by the gateway's `--gui-dir`.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';

/** Media types by file extension; anything else is application/octet-stream. */
export const MEDIA_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** What a request path names under a root. */
export type StaticLookup =
  | { kind: 'file'; path: string; size: number }
  | { kind: 'missing' }
  | { kind: 'bad-path' };

/** A directory of static files. */
export class StaticRoot {
  readonly root: string;
  #real: Promise<string> | undefined;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The file `pathname` (the URL's path, still percent-encoded) names, if it is one inside the root. */
  async lookup(pathname: string): Promise<StaticLookup> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return { kind: 'bad-path' };
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return { kind: 'bad-path' };
    const full = resolve(this.root, `.${decoded.startsWith('/') ? '' : '/'}${decoded}`);
    if (full !== this.root && !full.startsWith(this.root + sep)) return { kind: 'bad-path' };
    try {
      const real = await realpath(full);
      const root = await (this.#real ??= realpath(this.root));
      if (real !== root && !real.startsWith(root + sep)) return { kind: 'bad-path' };
      const info = await stat(real);
      return info.isFile() ? { kind: 'file', path: real, size: info.size } : { kind: 'missing' };
    } catch {
      return { kind: 'missing' };
    }
  }
}

/** Send `file` (from {@link StaticRoot.lookup}) with its media type; HEAD gets the headers only. */
export function sendFile(req: IncomingMessage, res: ServerResponse, file: { path: string; size: number }, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    'content-type': MEDIA_TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream',
    'content-length': String(file.size),
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(file.path);
  // A file that vanished or cannot be read after the headers went out: cut the answer short.
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
