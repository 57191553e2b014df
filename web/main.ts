/**
 * The PWA's entry point: joins the mesh — the tabs of this browser over a
 * BroadcastChannel, everyone else over WebRTC through the signaling server — hosts
 * modules (Worker sandbox, IndexedDB, the device's camera) and shows the devices of the
 * shared registry with their liveness.
 * Query: `name` (this device), `mesh`, `secret`, `signal` (signaling server URL).
 */
import { BroadcastChannelTransport } from '../shared/adapters/broadcast-channel-transport.ts';
import { WebRtcTransport } from '../shared/adapters/webrtc-transport.ts';
import { enableDebug } from '../shared/log.ts';
import type { Transport } from '../shared/ports/transport.ts';
import { startBrowserPeer } from './browser-peer.ts';

const params = new URLSearchParams(location.search);
enableDebug(localStorage.getItem('debug') ?? undefined);
// One identity per tab, kept across reloads of that tab: two tabs must not share an id.
const name = params.get('name') ?? sessionStorage.getItem('liquidmesh-name') ?? `tab-${Math.random().toString(36).slice(2, 6)}`;
sessionStorage.setItem('liquidmesh-name', name);
const mesh = params.get('mesh') ?? 'liquidmesh';
const signal = params.get('signal');
const secret = params.get('secret') ?? '';

const transports: Transport[] = [new BroadcastChannelTransport({ channel: `${mesh}:${secret}` })];
if (signal) transports.push(new WebRtcTransport({ signalUrl: signal, mesh, secret }));
const started = await startBrowserPeer({ name, transports, dbName: `liquidmesh-${mesh}-${name}` });
const { peer, stop } = started;
// For scripts driving the page (headless peers, end-to-end tests) and for the console.
(globalThis as { liquidmesh?: unknown }).liquidmesh = started;

const list = document.getElementById('devices')!;
const status = document.getElementById('status')!;

function render(): void {
  const alive = new Set(peer.alive());
  list.replaceChildren(
    ...peer.registry.devices.values().map((d) => {
      const li = document.createElement('li');
      const isSelf = d.id === peer.id;
      li.className = `${isSelf || alive.has(d.id) ? 'alive' : ''} ${isSelf ? 'self' : ''}`;
      li.innerHTML = `<span class="dot"></span><strong></strong> <span class="muted"></span><br><code></code>`;
      li.querySelector('strong')!.textContent = d.name;
      li.querySelector('.muted')!.textContent = `${d.engine}${isSelf ? ' (this tab)' : ''} · grants ${d.capabilities.length} host imports`;
      li.querySelector('code')!.textContent = d.id;
      return li;
    }),
  );
  status.textContent = `mesh “${mesh}” as ${name}: ${alive.size + 1} of ${peer.registry.devices.size} devices alive`;
}

peer.registry.on('change', render);
peer.on('device-joined', render);
peer.on('device-left', render);
render();
addEventListener('pagehide', () => void stop());
