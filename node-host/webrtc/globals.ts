/**
 * Makes Node look like a browser to WebRTC code: RTCPeerConnection and friends from
 * node-datachannel (libdatachannel, prebuilt in its npm package; chosen in ADR 0008) and
 * WebSocket from ws (Node 20 has no global WebSocket), opening wss:// connections with
 * the CAs this process trusts (tls/node-trust.ts). Import this module before anything
 * that imports peerjs: PeerJS inspects the globals when it loads.
 */
import * as polyfill from 'node-datachannel/polyfill';
import WebSocket from 'ws';
import { clientTlsOptions } from '../tls/node-trust.ts';

/**
 * ws with the process's trusted CAs (browsers' WebSocket takes no TLS options, so PeerJS
 * passes none), and a browser's manners on failure: a refused connection is an `error`
 * event and then `close`, never a thrown exception. ws is an EventEmitter, so an `error`
 * nobody listens to would end the process — PeerJS sets no `onerror`, and a peer started
 * while its signaling server is down (reopened offline) died of it.
 */
class TrustingWebSocket extends WebSocket {
  constructor(address: string | URL, protocols?: string | string[], options?: WebSocket.ClientOptions) {
    super(address, protocols ?? [], { ...clientTlsOptions(), ...options });
    // The `close` that follows is what callers act on, as in a browser.
    this.on('error', () => undefined);
  }
}

const g = globalThis as Record<string, unknown>;
for (const [name, value] of Object.entries(polyfill)) {
  if (name.startsWith('RTC') && g[name] === undefined) g[name] = value;
}
if (g.WebSocket === undefined) g.WebSocket = TrustingWebSocket;

/** True once the globals are in place (import for the side effect). */
export const webRtcGlobalsInstalled: boolean = typeof g.RTCPeerConnection === 'function';
