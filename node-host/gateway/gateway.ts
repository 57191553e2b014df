/**
 * The WasmIoT-compatible HTTP gateway of a Node peer: the reference orchestrator's API
 * (`/file/…`, `/execute`) and its supervisor's API (`/deploy`, `/{deployment}/modules/…`,
 * `/request-history`, `/.well-known/…`) on plain node:http, served from this peer's view
 * of the mesh — any peer's gateway sees and drives the same deployments. See
 * docs/decisions/0011-http-gateway.md; who may call it (Host, Origin, token, CORS) and
 * what `POST /deploy` may fetch: docs/decisions/0017-gateway-access.md.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { renewTls } from '../tls/secure-context.ts';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../shared/log.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { GatewayContext, type GatewayLimits } from './context.ts';
import { InvalidParamsError } from '../../shared/errors.ts';
import { isLoopbackHost } from '../host-address.ts';
import { guardHandler, guardServer } from '../http-guard.ts';
import { AccessPolicy } from './access.ts';
import { GuiFiles } from './gui-files.ts';
import { errorResponse, ExplainedError, sendJson } from './http.ts';
import { OutboundFetcher } from './outbound-fetch.ts';
import { ownResource, type UrlFetch } from './own-urls.ts';
import { cardRoutes } from './cards-api.ts';
import { deviceRoutes } from './device-api.ts';
import { exportRoutes } from './export-api.ts';
import { logRoutes } from './logs-api.ts';
import { migrationRoutes } from './migration-api.ts';
import { orchestratorRoutes } from './orchestrator-api.ts';
import { Router, routeContext } from './router.ts';
import { supervisor2026Routes } from './supervisor-2026-api.ts';
import { supervisorRoutes } from './supervisor-api.ts';
import { trustRoutes } from './trust-api.ts';

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
  /** Time limit of each URL fetched by `POST /deploy`, redirects included (default 30 s). */
  fetchTimeoutMs?: number;
  /** Web origins that may call the gateway, with CORS (`--allow-origin`). */
  allowedOrigins?: readonly string[];
  /** More `Host` names the gateway answers for (`--allow-host`, `name` or `name:port`). */
  allowedHosts?: readonly string[];
  /** Bearer token required on every request; a gateway bound beyond loopback refuses to start without one. */
  token?: string;
  /** Serve a static web GUI from this directory on GET paths no API route takes. */
  guiDir?: string;
  /** Local or private fetch targets `POST /deploy` may use (`--allow-fetch-from`: host, host:port or CIDR). */
  allowFetchFrom?: readonly string[];
  /** Turn the Host, Origin and token checks off — for the benchmark's baseline only. */
  unsafeNoAccessChecks?: boolean;
  /** Serve HTTPS with this certificate (PEM); plain HTTP without. */
  tls?: { cert: string; key: string };
}

/** A running gateway. */
export interface Gateway {
  /** `http://host:port` (`https://` with TLS). */
  url: string;
  /** Every API route (method and pattern), in matching order. */
  routes(): { method: string; pattern: string }[];
  /** Serve a renewed certificate to new connections (HTTPS only; a no-op on HTTP). */
  setTls(tls: { cert: string; key: string }): void;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
}

const HOST_HEADER = /^[\w.-]+(:\d+)?$|^\[[0-9a-fA-F:.]+\](:\d+)?$/;

/** What the access check may write to during a WebSocket upgrade: nothing is sent. */
const NO_RESPONSE = { setHeader: () => undefined, writeHead: () => undefined, end: () => undefined } as unknown as ServerResponse;

/** Start the gateway for `options.peer`. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = createLogger('gateway');
  const g = new GatewayContext(options.peer, { jsonBytes: 1024 * 1024, bodyBytes: 64 * 1024 * 1024, ...options.limits });
  const router = new Router();
  const bindHost = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(bindHost) && !options.token && !options.unsafeNoAccessChecks) {
    throw new InvalidParamsError(`a gateway bound to ${bindHost} (beyond loopback) needs a bearer token`, { host: bindHost });
  }
  const timing = { deployTimeoutMs: options.deployTimeoutMs ?? 60_000, fetchTimeoutMs: options.fetchTimeoutMs ?? 30_000 };
  const outbound = new OutboundFetcher({ allowFrom: options.allowFetchFrom ?? [], logger: log.child('fetch') });
  // Set once the port is known (before any request can arrive).
  let access: AccessPolicy | null = null;
  let policy: AccessPolicy | null = null;
  const fetchForRequest: UrlFetch = (url, limit) => {
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch {
      parsed = null;
    }
    if (parsed && (parsed.protocol === 'http:' || parsed.protocol === 'https:') && policy?.isOwnHost(parsed.host)) return ownResource(g, parsed, limit);
    return outbound.fetch(url, limit, timing.fetchTimeoutMs);
  };
  deviceRoutes(router, g);
  orchestratorRoutes(router, g, timing);
  migrationRoutes(router, g);
  exportRoutes(router, g);
  cardRoutes(router, g);
  trustRoutes(router, g);
  const logs = logRoutes(router, g);
  supervisor2026Routes(router, g);
  supervisorRoutes(router, g, { deployTimeoutMs: timing.deployTimeoutMs, fetch: fetchForRequest });
  const gui = options.guiDir ? new GuiFiles(options.guiDir) : null;
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
    const guiFile = gui !== null && match.kind === 'none' && (method === 'GET' || method === 'HEAD');
    if (access) {
      const verdict = access.check(req, res, guiFile);
      if (verdict === 'answered') return;
      if (verdict) {
        sendJson(res, verdict.status, { errorText: verdict.status === 401 ? 'Unauthorized' : 'Forbidden', error: verdict.error, code: verdict.code }, verdict.headers);
        return;
      }
    }
    if (guiFile) {
      gui.serve(req, res, path).catch((error: unknown) => fail(res, error));
      return;
    }
    if (match.kind !== 'found') {
      if (match.kind === 'none') sendJson(res, 404, { err: 'Bad URL', errorText: 'Bad URL', error: `no route for ${method} ${path.slice(0, 200)}`, code: 'ERR_ROUTE_NOT_FOUND' });
      else sendJson(res, 405, { errorText: 'Method not allowed', error: `${method} is not served on ${path.slice(0, 200)}; use ${match.allow.join(', ')}`, code: 'ERR_METHOD_NOT_ALLOWED' }, { allow: match.allow.join(', ') });
      return;
    }
    const host = req.headers.host;
    const base = host && HOST_HEADER.test(host) ? `${scheme}://${host}` : fallbackBase;
    try {
      const done = match.handler(routeContext(req, res, match.params, q < 0 ? '' : url.slice(q + 1), base));
      if (done) done.catch((error: unknown) => fail(res, error));
    } catch (error) {
      fail(res, error);
    }
  };

  const scheme = options.tls ? 'https' : 'http';
  const listener = guardHandler(handle, log);
  const server: Server = options.tls
    ? createHttpsServer({ keepAliveTimeout: 10_000, cert: options.tls.cert, key: options.tls.key }, listener)
    : createServer({ keepAliveTimeout: 10_000 }, listener);
  guardServer(server, log);
  // WebSockets (/ws/logs) pass the same Host and token checks as requests.
  server.on('upgrade', (req, socket, head) => {
    const refused = access ? access.check(req, NO_RESPONSE) : null;
    if (refused || !logs.upgrade(req, socket, head, (origin) => access?.allowsOrigin(origin) ?? false)) socket.destroy();
  });
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
  fallbackBase = `${scheme}://${hostText}:${address.port}`;
  policy = new AccessPolicy({ bindHost, port: address.port, allowedOrigins: options.allowedOrigins ?? [], allowedHosts: options.allowedHosts ?? [], ...(options.token ? { token: options.token } : {}) });
  if (!options.unsafeNoAccessChecks) access = policy;
  return {
    url: fallbackBase,
    routes: () => router.list(),
    setTls: (tls) => renewTls(server, tls),
    close: async () => {
      g.close();
      logs.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
