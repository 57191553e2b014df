/**
 * A small router for the gateway: routes are `METHOD /literal/:param/...` patterns,
 * tried in registration order; matches are cached by method and path, so a hot route
 * (`/{deployment}/modules/{module}/{function}`) costs one Map lookup per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a handler receives. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Decoded path parameters. */
  params: Record<string, string>;
  /** The query string, parsed (on first use). */
  readonly query: URLSearchParams;
  /** The query string as sent, without its `?` ('' when none). */
  rawQuery: string;
  /** `http://host:port` as the client addressed the gateway (for links in answers). */
  base: string;
}

/**
 * The context of one request. The query string is parsed when a handler first reads
 * `query`: the hot call route reads `rawQuery` (see query.ts) and most routes take none.
 */
export function routeContext(req: IncomingMessage, res: ServerResponse, params: Record<string, string>, rawQuery: string, base: string): RouteContext {
  let parsed: URLSearchParams | undefined;
  return {
    req, res, params, rawQuery, base,
    get query(): URLSearchParams {
      return (parsed ??= new URLSearchParams(rawQuery));
    },
  };
}

/** A route handler; it answers through `ctx.res` (or throws a named error). */
export type Handler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

/** The outcome of {@link Router.match}. */
export type Match =
  | { kind: 'found'; handler: Handler; params: Record<string, string> }
  | { kind: 'method'; allow: string[] }
  | { kind: 'none' };

const CACHE_LIMIT = 2048;

/** Routes by method and path pattern. */
export class Router {
  readonly #routes: Route[] = [];
  readonly #cache = new Map<string, Match>();

  /** Add a route; `pattern` is like `/file/module/:id/upload`. */
  on(method: string, pattern: string, handler: Handler): this {
    this.#routes.push({ method, segments: pattern.split('/').slice(1), handler });
    this.#cache.clear();
    return this;
  }

  /** Every route, as registered: for documentation and for tests that visit each one. */
  list(): { method: string; pattern: string }[] {
    return this.#routes.map((r) => ({ method: r.method, pattern: `/${r.segments.join('/')}` }));
  }

  /** The route for `method` and `path` (the path without its query string). */
  match(method: string, path: string): Match {
    const key = `${method} ${path}`;
    const cached = this.#cache.get(key);
    if (cached) return cached;
    const found = this.#find(method, path);
    // Bounded: a client sending endless distinct paths cannot grow it forever.
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(key, found);
    return found;
  }

  #find(method: string, path: string): Match {
    const parts = path.split('/').slice(1);
    if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
    const allow: string[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { kind: 'found', handler: route.handler, params };
      if (!allow.includes(route.method)) allow.push(route.method);
    }
    return allow.length > 0 ? { kind: 'method', allow } : { kind: 'none' };
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const part = parts[i]!;
    if (p.startsWith(':')) {
      if (part === '') return null;
      let value: string;
      try {
        value = decodeURIComponent(part);
      } catch {
        return null;
      }
      Object.defineProperty(params, p.slice(1), { value, enumerable: true, writable: true, configurable: true });
    } else if (p !== part) return null;
  }
  return params;
}
