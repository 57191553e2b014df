/**
 * The PWA's service worker. vite-plugin-pwa (workbox-build's injectManifest) builds it
 * and replaces `self.__WB_MANIFEST` with the list of the app shell's files and their
 * revisions.
 *
 * - Install: every shell file goes into a cache named after the manifest's revisions, so
 *   a new build installs beside the old one; a new worker waits until the page accepts
 *   the update (workbox-window's `messageSkipWaiting`), except the very first one.
 * - Navigations: network first (so a running server always serves the current app),
 *   the cached `index.html` when the network fails or is slow — the app then opens
 *   offline and starts from the registry saved in IndexedDB.
 * - Shell files: cache first. Content-addressed files (a path ending in a sha256, or in a
 *   sha256 and a file name like the gateway's `/files/{sha256}/{name}`, or a `.wasm`):
 *   cache first in their own cache, and a response whose path names a sha256 is kept only
 *   when its bytes hash to it.
 * - Every response this worker serves carries COOP, COEP and CORP headers: a page or
 *   worker served from the cache without them would lose cross-origin isolation, and
 *   the sandbox its SharedArrayBuffer.
 *
 * - Sandbox bridge requests (`…/__liquidmesh/bridge/{id}`, sandbox-bridge.ts): a sandbox
 *   worker without SharedArrayBuffer blocks on one until the page posts the answer here.
 *
 * The DOM library's types are used (web/tsconfig.json covers this folder): the few
 * service-worker types needed are declared here.
 */

import { acceptBridgeAnswer, serveBridgeRequest } from './sandbox-bridge.ts';

interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}

interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): void;
}

interface PrecacheEntry {
  url: string;
  revision: string | null;
}

interface WorkerScope {
  readonly registration: { readonly scope: string };
  readonly clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install' | 'activate', listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', listener: (event: FetchEvent) => void): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}

const scope = self as unknown as WorkerScope;
// Replaced at build time by the precache manifest (the literal must stay as written).
const MANIFEST: PrecacheEntry[] = (self as unknown as { __WB_MANIFEST: PrecacheEntry[] }).__WB_MANIFEST;

/** Cross-origin isolation, as the server sends it. */
const ISOLATION: Record<string, string> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};
const SHELL_PREFIX = 'liquidmesh-shell-';
const BLOB_CACHE = 'liquidmesh-blobs';
/** A path whose last segment is a sha256 (with an extension), or a sha256 then a file name (`/files/{sha256}/{name}`). */
const SHA256_PATH = /\/([0-9a-f]{64})(?:\.[a-z0-9]+|\/[^/]+)?$/;
/** How long a navigation waits for the network before the cached shell answers. */
const NAVIGATION_TIMEOUT_MS = 4000;

/** FNV-1a of the revisions: names the shell cache of this build. */
function manifestHash(entries: PrecacheEntry[]): string {
  let h = 0x811c9dc5;
  for (const e of entries) {
    for (const ch of `${e.url}@${e.revision ?? ''};`) {
      h ^= ch.charCodeAt(0);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, '0');
}

const SHELL_CACHE = `${SHELL_PREFIX}${manifestHash(MANIFEST)}`;
const shellUrls = new Set(MANIFEST.map((e) => new URL(e.url, scope.registration.scope).href));
const indexUrl = new URL('index.html', scope.registration.scope).href;

/** A copy of `response` with the isolation headers (opaque responses cannot be changed). */
function isolated(response: Response): Response {
  if (response.type === 'opaque' || response.type === 'opaqueredirect') return response;
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(ISOLATION)) headers.set(k, v);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function install(): Promise<void> {
  const cache = await caches.open(SHELL_CACHE);
  await Promise.all(
    [...shellUrls].map(async (url) => {
      const response = await fetch(url, { cache: 'reload' });
      if (!response.ok) throw new Error(`precache ${url}: HTTP ${response.status}`);
      await cache.put(url, isolated(response));
    }),
  );
}

async function activate(): Promise<void> {
  for (const name of await caches.keys()) if (name.startsWith(SHELL_PREFIX) && name !== SHELL_CACHE) await caches.delete(name);
  await scope.clients.claim();
}

async function navigate(request: Request): Promise<Response> {
  const fallback = async (): Promise<Response | undefined> => (await caches.open(SHELL_CACHE)).match(indexUrl);
  try {
    const network = fetch(request);
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), NAVIGATION_TIMEOUT_MS));
    const first = await Promise.race([network, timeout]);
    if (first !== 'timeout') return first;
    const cached = await fallback();
    return cached ? isolated(cached) : await network;
  } catch (error) {
    const cached = await fallback();
    if (cached) return isolated(cached);
    throw error;
  }
}

async function fromShell(request: Request): Promise<Response> {
  const cached = await (await caches.open(SHELL_CACHE)).match(request.url);
  return isolated(cached ?? (await fetch(request)));
}

async function contentAddressed(request: Request, expected: string | undefined): Promise<Response> {
  const cache = await caches.open(BLOB_CACHE);
  const cached = await cache.match(request.url);
  if (cached) return isolated(cached);
  const response = await fetch(request);
  if (response.ok && response.type === 'basic') {
    const bytes = await response.clone().arrayBuffer();
    if (expected === undefined || (await sha256Hex(bytes)) === expected) await cache.put(request.url, isolated(response.clone()));
  }
  return isolated(response);
}

scope.addEventListener('install', (event) => {
  event.waitUntil(install());
});

scope.addEventListener('activate', (event) => {
  event.waitUntil(activate());
});

scope.addEventListener('message', (event) => {
  if (acceptBridgeAnswer(event.data)) return;
  if ((event.data as { type?: string } | null)?.type === 'SKIP_WAITING') void scope.skipWaiting();
});

scope.addEventListener('fetch', (event) => {
  if (serveBridgeRequest(event)) return;
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== new URL(scope.registration.scope).origin) return;
  if (request.mode === 'navigate') {
    event.respondWith(navigate(request));
    return;
  }
  const plain = `${url.origin}${url.pathname}`;
  if (shellUrls.has(plain)) {
    event.respondWith(fromShell(request));
    return;
  }
  const hash = SHA256_PATH.exec(url.pathname)?.[1];
  if (hash !== undefined || url.pathname.endsWith('.wasm')) event.respondWith(contentAddressed(request, hash));
});
