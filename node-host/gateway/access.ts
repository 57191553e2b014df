/**
 * Who may drive the gateway, checked on every request before routing (see
 * docs/decisions/0017-gateway-access.md):
 *
 * - `Host` must name this gateway (its bound addresses and names, with the port, plus
 *   `--allow-host`): a page that rebinds its own name to our address is refused (421).
 * - A state-changing request (not GET/HEAD/OPTIONS) that carries an `Origin` must come
 *   from the gateway's own origin or one the user allowed (`--allow-origin`); a request
 *   a browser marks cross-site or same-site (`Sec-Fetch-Site`) must too, whatever its
 *   method, since a GET runs functions (a camera) as well (403). curl sends neither.
 * - Beyond loopback, `Authorization: Bearer <token>` on every request but a preflight (401),
 *   or the sign-in cookie of a `--gui-dir` GUI opened once as `/?token=<token>`.
 *
 * Files of the `--gui-dir` GUI are static and change nothing: only their Host is checked.
 *
 * Allowed origins get CORS answers; others get none. Everything here is a few Set
 * lookups and one constant-time compare: it runs on every request.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { defineError, InvalidParamsError } from '../../shared/errors.ts';
import { isLoopbackHost, servedNames } from '../host-address.ts';

/** A request beyond loopback without the gateway's bearer token (or with a wrong one). */
export const UnauthorizedError = defineError('ERR_UNAUTHORIZED', 'UnauthorizedError');
/** A request from a web origin the user has not allowed. */
export const OriginDeniedError = defineError('ERR_ORIGIN_DENIED', 'OriginDeniedError');
/** A request whose `Host` header does not name this gateway (DNS rebinding, a stray proxy). */
export const HostDeniedError = defineError('ERR_HOST_DENIED', 'HostDeniedError');

/** What {@link AccessPolicy} is built from. */
export interface AccessOptions {
  /** The address the gateway is bound to (`127.0.0.1`, `10.0.0.5`, `0.0.0.0`, `::`). */
  bindHost: string;
  /** The port it listens on. */
  port: number;
  /** Web origins (`https://app.example:8443`) that may call the gateway, with CORS. */
  allowedOrigins?: readonly string[];
  /** More names the gateway may be addressed by (`name` or `name:port`). */
  allowedHosts?: readonly string[];
  /** Bearer token every request must carry; required when bound beyond loopback. */
  token?: string;
}

/** A refusal: the status and the named error to answer with. */
export interface Refusal {
  status: number;
  code: string;
  error: string;
  headers?: Record<string, string>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const CORS_METHODS = 'GET, HEAD, POST, PUT, DELETE';
const CORS_HEADERS = 'authorization, content-type';
const CORS_MAX_AGE = '600';

/** The cookie a GUI served by `--gui-dir` is signed in with (see AccessPolicy#signIn). */
export const SIGN_IN_COOKIE = 'liquidmesh-gateway-token';

/** `Bearer <token>` from the sign-in cookie of a `Cookie` header, if it has one. */
function signedInToken(cookie: string | undefined): string | undefined {
  if (cookie === undefined) return undefined;
  for (const pair of cookie.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === SIGN_IN_COOKIE) {
      try {
        return `Bearer ${decodeURIComponent(pair.slice(eq + 1).trim())}`;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** `https://Name:443/` → `https://name`; throws for anything that is not an origin. */
export function normalizeOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidParamsError(`--allow-origin ${text}: not an origin like https://app.example:8443`, { origin: text });
  }
  // Anything beyond scheme://host[:port] (a path, a query, user info) is not an origin.
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.href !== `${url.origin}/`) {
    throw new InvalidParamsError(`--allow-origin ${text}: an origin is scheme://host[:port], nothing more`, { origin: text });
  }
  return url.origin;
}

function authority(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${h.toLowerCase()}:${port}`;
}

/**
 * The `Host` values that name a gateway bound to `bindHost:port`: on loopback only the
 * loopback names (a rebound DNS name is never one of them); beyond it every name the
 * host is reached by (host-address.ts `servedNames`, the names its certificate covers).
 */
export function ownHosts(bindHost: string, port: number, extra: readonly string[] = []): Set<string> {
  const names = isLoopbackHost(bindHost)
    ? new Set(['127.0.0.1', 'localhost', '::1', bindHost.toLowerCase().replace(/^\[(.*)\]$/, '$1')])
    : new Set(servedNames(bindHost));
  const out = new Set<string>();
  for (const n of names) {
    out.add(authority(n, port));
    // Clients leave the default port out of Host.
    if (port === 80 || port === 443) out.add(authority(n, port).replace(/:\d+$/, ''));
  }
  for (const h of extra) {
    const t = h.trim().toLowerCase();
    if (t === '') continue;
    // `name:port` and `[v6]:port` are taken as they are; a bare name gets the gateway's port.
    out.add(/^(\[[^\]]+\]|[^:]+):\d+$/.test(t) ? t : authority(t, port));
  }
  return out;
}

/** The access checks of one gateway. */
export class AccessPolicy {
  /** `Host` values that name this gateway, lower case. */
  readonly hosts: ReadonlySet<string>;
  readonly #origins: Set<string>;
  readonly #own: Set<string>;
  readonly #bearer: Buffer | null;

  constructor(options: AccessOptions) {
    this.hosts = ownHosts(options.bindHost, options.port, options.allowedHosts);
    this.#origins = new Set((options.allowedOrigins ?? []).map(normalizeOrigin));
    this.#own = new Set([...this.hosts].flatMap((h) => [`http://${h}`, `https://${h}`]));
    this.#bearer = options.token ? Buffer.from(`Bearer ${options.token}`) : null;
  }

  /** True when `origin` may call the gateway with CORS. */
  allowsOrigin(origin: string): boolean {
    return this.#origins.has(origin);
  }

  /** True when `host` (`name:port`) is one of the gateway's own authorities. */
  isOwnHost(host: string): boolean {
    return this.hosts.has(host.toLowerCase());
  }

  /**
   * Check `req`; null when it may go on. Sets the CORS headers of an allowed origin on
   * `res`, and answers a preflight itself (then the return is `'answered'`). A
   * `staticFile` request (a `--gui-dir` file) is checked for its Host only.
   */
  check(req: IncomingMessage, res: ServerResponse, staticFile = false): Refusal | 'answered' | null {
    const headers = req.headers;
    const host = headers.host;
    if (host === undefined || !(this.hosts.has(host) || this.hosts.has(host.toLowerCase()))) {
      return { status: 421, code: 'ERR_HOST_DENIED', error: `this gateway does not answer for Host ${JSON.stringify((host ?? '').slice(0, 100))}; add it with --allow-host` };
    }
    // A GUI file (GET of a static file, no side effect) needs only the right Host: a browser
    // cannot add a token to a navigation, and the GUI's own API calls are checked in full.
    // Opened once as `…/?token=<token>`, it also signs the browser in (see #signIn).
    if (staticFile) return this.#bearer && (req.url ?? '').includes('token=') ? this.#signIn(req, res) : null;
    const origin = headers.origin;
    const method = req.method ?? 'GET';
    if (origin !== undefined) {
      const allowed = this.#origins.has(origin);
      if (allowed) {
        res.setHeader('access-control-allow-origin', origin);
        res.setHeader('vary', 'Origin');
      }
      if (method === 'OPTIONS' && headers['access-control-request-method'] !== undefined) {
        if (!allowed) return { status: 403, code: 'ERR_ORIGIN_DENIED', error: `origin ${origin.slice(0, 100)} may not call this gateway; allow it with --allow-origin`, headers: { vary: 'Origin' } };
        res.writeHead(204, {
          'access-control-allow-methods': CORS_METHODS,
          'access-control-allow-headers': CORS_HEADERS,
          'access-control-max-age': CORS_MAX_AGE,
          vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
          'content-length': '0',
        });
        res.end();
        return 'answered';
      }
      if (!allowed && !this.#own.has(origin) && !SAFE_METHODS.has(method)) return this.#originDenied(origin);
    }
    const site = headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none' && !(origin !== undefined && this.#origins.has(origin))) {
      // A browser says another site sent this: an <img>, a form, a fetch without CORS rights.
      return this.#originDenied(origin ?? `a ${site} page`);
    }
    // Preflights were answered above; every other request carries the token, in its
    // Authorization header or, from a GUI the browser was signed in to, in a cookie.
    if (this.#bearer) {
      const given = headers.authorization ?? signedInToken(headers.cookie);
      const bytes = given === undefined ? null : Buffer.from(given, 'latin1');
      if (bytes === null || bytes.length !== this.#bearer.length || !timingSafeEqual(bytes, this.#bearer)) {
        return this.#unauthorized();
      }
    }
    return null;
  }

  /**
   * `GET /any/gui/path?token=<token>`: with the right token, set a cookie that carries it on
   * the GUI's own API calls and send the browser to the same path without it (303), so the
   * token leaves the address bar and history; a wrong one is refused. The cookie is
   * HttpOnly (no script reads it), SameSite=Strict (no other site's request carries it, on
   * top of the Origin and Sec-Fetch-Site checks) and Secure over TLS.
   */
  #signIn(req: IncomingMessage, res: ServerResponse): Refusal | 'answered' | null {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const token = url.searchParams.get('token');
    if (token === null) return null;
    const bytes = Buffer.from(`Bearer ${token}`, 'latin1');
    if (bytes.length !== this.#bearer!.length || !timingSafeEqual(bytes, this.#bearer!)) return this.#unauthorized();
    url.searchParams.delete('token');
    const secure = (req.socket as { encrypted?: boolean }).encrypted === true ? '; Secure' : '';
    res.writeHead(303, {
      location: `${url.pathname}${url.search}`,
      'set-cookie': `${SIGN_IN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict${secure}`,
      'cache-control': 'no-store',
      'content-length': '0',
    });
    res.end();
    return 'answered';
  }

  #unauthorized(): Refusal {
    return { status: 401, code: 'ERR_UNAUTHORIZED', error: 'this gateway needs Authorization: Bearer <token> (the token is in the gateway-token file of its data directory)', headers: { 'www-authenticate': 'Bearer realm="liquidmesh"' } };
  }

  #originDenied(origin: string): Refusal {
    return { status: 403, code: 'ERR_ORIGIN_DENIED', error: `requests from ${origin.slice(0, 100)} may not change this gateway; allow the origin with --allow-origin` };
  }
}
