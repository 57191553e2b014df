// The page side of firefox-link.ts: one WebRtcTransport in Firefox, driven from outside.
import { WebRtcTransport } from '../../../shared/adapters/webrtc-transport.ts';

const q = new URLSearchParams(location.search);
const transport = new WebRtcTransport({ signalUrl: q.get('signal')!, mesh: q.get('mesh')!, secret: 'engines', announceMs: 500 });
const state = { joined: [] as string[], received: [] as number[], error: '' };
(globalThis as { linkState?: typeof state }).linkState = state;
transport.on('peer-joined', (peer) => {
  state.joined.push(peer);
  // The largest message the transport takes, each way.
  transport.send(peer, new Uint8Array(transport.maxMessageSize).fill(7)).catch((e: unknown) => (state.error = String(e)));
});
transport.on('message', (m) => state.received.push(m.data.byteLength));
transport.connect(q.get('id')!).catch((e: unknown) => (state.error = String(e)));
