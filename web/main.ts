/**
 * The PWA's entry point. For now it joins the tabs of this browser into one mesh over a
 * BroadcastChannel and shows the devices of the shared registry with their liveness.
 * `?name=…` names this device; `?mesh=…` picks the mesh.
 */
import { BroadcastChannelTransport } from '../shared/adapters/broadcast-channel-transport.ts';
import { enableDebug } from '../shared/log.ts';
import { MemoryBlobStore } from '../shared/memory/memory-blob-store.ts';
import { MemoryKeyValueStore } from '../shared/memory/memory-key-value-store.ts';
import { Peer } from '../shared/peer.ts';

const params = new URLSearchParams(location.search);
enableDebug(localStorage.getItem('debug') ?? undefined);
const name = params.get('name') ?? `tab-${Math.random().toString(36).slice(2, 6)}`;
const mesh = params.get('mesh') ?? 'liquidmesh';

const peer = new Peer({
  transports: [new BroadcastChannelTransport({ channel: mesh })],
  store: { blobs: new MemoryBlobStore(), kv: new MemoryKeyValueStore() },
  device: {
    name,
    engine: navigator.webdriver ? 'chromium' : 'browser',
    platform: {
      cpu: { humanReadableName: navigator.userAgent.slice(0, 120), cores: navigator.hardwareConcurrency || 1 },
      memory: { bytes: ((navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 0) * 1024 ** 3 },
    },
  },
});

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
      li.querySelector('.muted')!.textContent = `${d.engine}${isSelf ? ' (this tab)' : ''}`;
      li.querySelector('code')!.textContent = d.id;
      return li;
    }),
  );
  status.textContent = `mesh “${mesh}” as ${name}: ${alive.size + 1} of ${peer.registry.devices.size} devices alive`;
}

await peer.start();
peer.registry.on('change', render);
peer.on('device-joined', render);
peer.on('device-left', render);
render();
addEventListener('pagehide', () => void peer.stop());
