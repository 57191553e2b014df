/**
 * The PWA's entry point: joins the mesh — the tabs of this browser over a
 * BroadcastChannel, everyone else over WebRTC through the signaling server (retried in
 * the background, so the app also opens offline) — hosts modules (Worker sandbox,
 * IndexedDB, the device's camera and motion sensors) and shows the Lit app
 * (web/ui/app.ts), or with `?kiosk` the device's full-screen dashboard. Registers the
 * service worker. A page that is not a secure, cross-origin isolated context cannot host
 * modules: it says so and how to reach the secure page instead, and starts nothing.
 * The page leaves the mesh when it is hidden, frozen or closed and joins again, as the
 * same device, when it is shown (web/page-lifecycle.ts, web/mesh-session.ts).
 * Query: `name` (this device; without it the browser's remembered name), `mesh`,
 * `invite` (an invitation to the mesh's roles, web/mesh-roles.ts),
 * `secret`, `signal` (signaling server URL), `trust` (the page serving the mesh's
 * certificate), `kiosk`, `nats` (+ `nats-user`/`nats-pass`/`nats-token`: the NATS backbone
 * over WebSocket, web/nats-link.ts).
 * `window.liquidmesh` is the running peer, for scripts driving the page (headless peers,
 * end-to-end tests) and for the console; `window.liquidmeshSession` the session.
 */
import { sharedMemoryAvailable } from '../shared/sandbox/worker-sandbox.ts';
import { enableDebug } from '../shared/log.ts';
import { currentBrowser } from './browser-info.ts';
import { insecureArrival } from './insecure-arrival.ts';
import { MeshSession } from './mesh-session.ts';
import { INVITE_PARAM, pageRoles } from './mesh-roles.ts';
import type { PeerRoles } from '../shared/registry/join-roles.ts';
import { natsLinkFromQuery } from './nats-link.ts';
import { followPageLifecycle, hiddenGraceMs } from './page-lifecycle.ts';
import { registerServiceWorker } from './sw-register.ts';
import { serviceWorkerAnswers } from './sandbox/service-worker-answers.ts';
import type { App } from './ui/app.ts';
import './ui/app.ts';

const params = new URLSearchParams(location.search);
enableDebug(localStorage.getItem('debug') ?? undefined);
const mesh = params.get('mesh') ?? 'liquidmesh';

// The invitation is read once: kept out of the address bar (a reload, a bookmark or a shared
// tab must not pass it on) and out of the join URL this page shows others.
let roles: PeerRoles | undefined;
let rolesError = '';
try {
  roles = pageRoles({ mesh, params });
} catch (error) {
  rolesError = `${(error as Error).message} (${String((error as { code?: unknown }).code ?? 'ERR_INVALID_GRANT')})`;
}
if (params.has(INVITE_PARAM)) {
  const clean = new URL(location.href);
  clean.searchParams.delete(INVITE_PARAM);
  history.replaceState(history.state, '', clean);
}

/** The URL another device opens to join this mesh: this one without our name, kiosk mode or invitation. */
function joinUrl(): string {
  const url = new URL(location.href);
  url.searchParams.delete('name');
  url.searchParams.delete('kiosk');
  url.searchParams.delete(INVITE_PARAM);
  url.hash = '';
  return url.toString();
}

const app = (document.querySelector('lm-app') ?? document.body.appendChild(document.createElement('lm-app'))) as App;
app.textContent = '';
app.mesh = mesh;
app.joinUrl = joinUrl();
app.trustUrl = params.get('trust') ?? '';
app.kiosk = params.has('kiosk');

const insecure = insecureArrival({
  href: location.href,
  secure: isSecureContext,
  isolated: crossOriginIsolated,
  trust: params.get('trust'),
  sharedMemory: typeof SharedArrayBuffer === 'function',
  webRtc: typeof RTCPeerConnection === 'function',
  backbone: params.has('nats'),
});
if (insecure) {
  app.insecure = insecure;
} else {
  // Without shared memory, host calls go through the service worker (ADR 0039): the
  // banner names what modules cannot use only where none answers them.
  const registered = registerServiceWorker({ onUpdate: (accept) => (app.updatePrompt = { accept }) });
  if (!sharedMemoryAvailable()) {
    void registered.then(() => serviceWorkerAnswers().available()).then((ok) => (app.noSharedMemory = !ok));
  }
  const browser = currentBrowser();
  const session = new MeshSession({
    nameParam: params.get('name'),
    kind: browser.formFactor === 'desktop' ? 'tab' : browser.formFactor,
    mesh,
    secret: params.get('secret') ?? '',
    signal: params.get('signal'),
    webRtc: typeof RTCPeerConnection === 'function',
    backbone: () => natsLinkFromQuery(params, mesh, params.get('secret') ?? ''),
    ...(roles ? { roles } : {}),
  });
  if (rolesError) app.startError = rolesError;
  (globalThis as { liquidmeshSession?: unknown }).liquidmeshSession = session;
  session.onChange((state) => {
    app.presence = state;
    if (state === 'joined') {
      app.link = session.link;
      app.node = session.node;
      app.savedAt = session.node?.registrySavedAt() ?? null;
      app.startError = rolesError;
      (globalThis as { liquidmesh?: unknown }).liquidmesh = session.node;
    }
    if (state === 'failed') {
      app.startError = session.error;
      console.error(session.error);
    }
  });
  followPageLifecycle(session, hiddenGraceMs(browser.formFactor, browser.headless));
  // A page opened in the background (a new tab behind the current one) joins when shown.
  if (document.visibilityState === 'visible' || hiddenGraceMs(browser.formFactor, browser.headless) !== 0) await session.join();
}
