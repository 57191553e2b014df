/**
 * Serves the built PWA (dist/web) on 127.0.0.1, cross-origin isolated (COOP + COEP, which
 * the sandbox's SharedArrayBuffer needs), with index.html for unknown paths so deep links
 * work. Builds the PWA first when asked to.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `vite build` puts the PWA. */
export const PWA_DIR = fileURLToPath(new URL('../dist/web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.ico': 'image/x-icon',
};

/** A running static server. */
export interface WebServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Build the PWA with Vite into dist/web. */
export async function buildPwa(): Promise<void> {
  const { build } = await import('vite');
  // Vite picks packages' development builds (Lit's dev mode) unless NODE_ENV says
  // production; test runners set it to "test". The PWA is always built for production.
  const before = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)), logLevel: 'warn', mode: 'production' });
  } finally {
    if (before === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = before;
  }
}

/** Serve `root` (default dist/web). */
export async function startWebServer(options: { host?: string; port?: number; root?: string } = {}): Promise<WebServer> {
  const root = resolve(options.root ?? PWA_DIR);
  const server: Server = createServer(async (req, res) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = normalize(join(root, path));
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    const info = await stat(file).catch(() => null);
    if (!info || info.isDirectory()) file = join(root, 'index.html');
    const exists = await stat(file).catch(() => null);
    if (!exists) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('the PWA is not built: run npm run build');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
