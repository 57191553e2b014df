/**
 * The WasmIoT-compatible HTTP gateway of a Node peer: the reference orchestrator's API
 * (`/file/…`, `/execute`) and its supervisor's API (`/deploy`, `/{deployment}/modules/…`,
 * `/request-history`, `/.well-known/…`) on plain node:http, served from this peer's view
 * of the mesh — any peer's gateway sees and drives the same deployments. See
 * docs/decisions/0011-http-gateway.md.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../shared/log.ts';
import type { SupervisedPeer } from '../../shared/supervised-peer.ts';
import { GatewayContext, type GatewayLimits } from './context.ts';
import { errorResponse, ExplainedError, sendJson } from './http.ts';
import { migrationRoutes } from './migration-api.ts';
import { orchestratorRoutes } from './orchestrator-api.ts';
import { Router } from './router.ts';
import { supervisorRoutes } from './supervisor-api.ts';

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  peer: SupervisedPeer;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 3000, the reference orchestrator's; 0 = any free port). */
  port?: number;
  limits?: Partial<GatewayLimits>;
  /** How long deploy requests wait for the deployment to settle (default 60 s). */
  deployTimeoutMs?: number;
  /** Time limit of each URL fetched by `POST /deploy` (default 30 s). */
  fetchTimeoutMs?: number;
}

/** A running gateway. */
export interface Gateway {
  /** `http://host:port`. */
  url: string;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
}

const HOST_HEADER = /^[\w.-]+(:\d+)?$|^\[[0-9a-fA-F:.]+\](:\d+)?$/;

/** Start the gateway for `options.peer`. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = createLogger('gateway');
  const g = new GatewayContext(options.peer, { jsonBytes: 1024 * 1024, bodyBytes: 64 * 1024 * 1024, ...options.limits });
  const router = new Router();
  const timing = { deployTimeoutMs: options.deployTimeoutMs ?? 60_000, fetchTimeoutMs: options.fetchTimeoutMs ?? 30_000 };
  orchestratorRoutes(router, g, timing);
  migrationRoutes(router, g);
  supervisorRoutes(router, g, timing);
  let fallbackBase = '';

  const fail = (res: ServerResponse, error: unknown): void => {
    const explained = error instanceof ExplainedError ? error : null;
    const { status, body } = errorResponse(explained ? explained.inner : error, explained?.errorText, explained?.overrides);
    // Only our own failures are logged; upstream ones are the client's to read.
    if (status === 500) log.warn(`${status} ${body.code}: ${body.error}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, status, body, status === 413 ? { connection: 'close' } : {});
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const match = router.match(method, path);
    if (match.kind !== 'found') {
      if (match.kind === 'none') sendJson(res, 404, { err: 'Bad URL', errorText: 'Bad URL', error: `no route for ${method} ${path.slice(0, 200)}`, code: 'ERR_ROUTE_NOT_FOUND' });
      else sendJson(res, 405, { errorText: 'Method not allowed', error: `${method} is not served on ${path.slice(0, 200)}; use ${match.allow.join(', ')}`, code: 'ERR_METHOD_NOT_ALLOWED' }, { allow: match.allow.join(', ') });
      return;
    }
    const host = req.headers.host;
    const base = host && HOST_HEADER.test(host) ? `http://${host}` : fallbackBase;
    try {
      const done = match.handler({ req, res, params: match.params, query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)), base });
      if (done) done.catch((error: unknown) => fail(res, error));
    } catch (error) {
      fail(res, error);
    }
  };

  const server = createServer({ keepAliveTimeout: 10_000 }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => log.warn(`server error: ${error.message}`));
  const address = server.address() as AddressInfo;
  const hostText = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  fallbackBase = `http://${hostText}:${address.port}`;
  return {
    url: fallbackBase,
    close: async () => {
      g.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
