/**
 * The PWA's entry point: joins the mesh — the tabs of this browser over a
 * BroadcastChannel, everyone else over WebRTC through the signaling server (retried in
 * the background, so the app also opens offline) — hosts modules (Worker sandbox,
 * IndexedDB, the device's camera) and shows the Lit app (web/ui/app.ts), or with
 * `?kiosk` the device's full-screen dashboard. Registers the service worker.
 * Query: `name` (this device), `mesh`, `secret`, `signal` (signaling server URL), `kiosk`.
 * `window.liquidmesh` is the started peer, for scripts driving the page (headless peers,
 * end-to-end tests) and for the console.
 */
import { BroadcastChannelTransport } from '../shared/adapters/broadcast-channel-transport.ts';
import { WebRtcTransport } from '../shared/adapters/webrtc-transport.ts';
import { enableDebug } from '../shared/log.ts';
import type { Transport } from '../shared/ports/transport.ts';
import { startBrowserPeer } from './browser-peer.ts';
import { ResilientTransport } from './resilient-transport.ts';
import { registerServiceWorker } from './sw-register.ts';
import type { App } from './ui/app.ts';
import './ui/app.ts';

const params = new URLSearchParams(location.search);
enableDebug(localStorage.getItem('debug') ?? undefined);
// One identity per tab, kept across reloads of that tab: two tabs must not share an id.
const name = params.get('name') ?? sessionStorage.getItem('liquidmesh-name') ?? `tab-${Math.random().toString(36).slice(2, 6)}`;
sessionStorage.setItem('liquidmesh-name', name);
const mesh = params.get('mesh') ?? 'liquidmesh';
const signal = params.get('signal');
const secret = params.get('secret') ?? '';

/** The URL another device opens to join this mesh: this one without our name and kiosk mode. */
function joinUrl(): string {
  const url = new URL(location.href);
  url.searchParams.delete('name');
  url.searchParams.delete('kiosk');
  url.hash = '';
  return url.toString();
}

const app = (document.querySelector('lm-app') ?? document.body.appendChild(document.createElement('lm-app'))) as App;
app.textContent = '';
app.mesh = mesh;
app.joinUrl = joinUrl();
app.kiosk = params.has('kiosk');

void registerServiceWorker({ onUpdate: (accept) => (app.updatePrompt = { accept }) });

const transports: Transport[] = [new BroadcastChannelTransport({ channel: `${mesh}:${secret}` })];
const link = signal ? new ResilientTransport(new WebRtcTransport({ signalUrl: signal, mesh, secret })) : undefined;
if (link) transports.push(link);
app.link = link;
try {
  const started = await startBrowserPeer({ name, transports, dbName: `liquidmesh-${mesh}-${name}` });
  (globalThis as { liquidmesh?: unknown }).liquidmesh = started;
  app.savedAt = started.registrySavedAt();
  app.node = started;
  addEventListener('pagehide', () => void started.stop());
} catch (error) {
  app.startError = error instanceof Error ? error.message : String(error);
  console.error(error);
}
