/**
 * Serves the built PWA (dist/web) on 127.0.0.1 (over HTTPS when given a certificate), cross-origin isolated (COOP + COEP, which
 * the sandbox's SharedArrayBuffer needs), with index.html for unknown paths so deep links
 * work. Builds the PWA first when asked to.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../shared/log.ts';
import { renewTls } from './tls/secure-context.ts';
import { answerError, guardHandler, guardServer } from './http-guard.ts';
import { sendFile, StaticRoot } from './static-files.ts';

/** Where `vite build` puts the PWA. */
export const PWA_DIR = fileURLToPath(new URL('../dist/web/', import.meta.url));

/** A running static server. */
export interface WebServer {
  url: string;
  port: number;
  /** Serve a renewed certificate to new connections (HTTPS servers only; a no-op on HTTP). */
  setTls(tls: { cert: string; key: string }): void;
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
export async function startWebServer(options: { host?: string; port?: number; root?: string; tls?: { cert: string; key: string } } = {}): Promise<WebServer> {
  const files = new StaticRoot(options.root ?? PWA_DIR);
  const log = createLogger('web');
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      answerError(res, 405, 'ERR_METHOD_NOT_ALLOWED', 'the PWA server serves GET and HEAD only', { allow: 'GET, HEAD' });
      return;
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let found = await files.lookup(q < 0 ? url : url.slice(0, q));
    if (found.kind === 'bad-path') {
      answerError(res, 400, 'ERR_BAD_URL', 'the path cannot be decoded or leaves the served directory');
      return;
    }
    // Deep links of the single-page app: unknown paths get index.html.
    if (found.kind === 'missing') found = await files.lookup('/index.html');
    if (found.kind !== 'file') {
      answerError(res, 404, 'ERR_NOT_BUILT', 'the PWA is not built: run npm run build');
      return;
    }
    sendFile(req, res, found);
  };
  // Off loopback the PWA must be served over HTTPS: browsers grant the secure-context APIs it needs only there.
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, guardHandler(handle, log)) : createServer(guardHandler(handle, log));
  guardServer(server, log);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://${hostInUrl(options.host ?? '127.0.0.1')}:${port}`,
    port,
    setTls: (tls) => renewTls(server, tls),
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

/** `::1` → `[::1]`: an IPv6 address as it appears in a URL. */
function hostInUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
