/**
 * Puts the WebRTC transport through the transport acceptance suite, against a real
 * signaling server on 127.0.0.1. Used by the Node run (inside a loopback-only network
 * namespace) and by the Chromium run.
 */
import { WebRtcTransport } from '../../shared/adapters/webrtc-transport.ts';
import type { Transport } from '../../shared/ports/transport.ts';
import type { TransportHarness } from './transport.ts';

/** node-datachannel binds to loopback only (browsers ignore the key). */
export const LOOPBACK = { bindAddress: '127.0.0.1' };

/** A harness whose transports use the signaling server at `signalUrl()`. */
export function webRtcTransportHarness(name: string, signalUrl: () => string): TransportHarness {
  return {
    name,
    timeoutMs: 20_000,
    async setup(count, topology) {
      // A mesh of its own per setup, so suites sharing the server never meet.
      const mesh = `acceptance-${Math.random().toString(36).slice(2)}`;
      const links = topology.kind === 'hub-and-spoke' ? (a: string, b: string) => a === topology.hub || b === topology.hub : undefined;
      const make = (): Transport => new WebRtcTransport({ signalUrl: signalUrl(), mesh, secret: 'acceptance', announceMs: 500, rtcConfig: LOOPBACK, ...(links ? { links } : {}) });
      const transports = Array.from({ length: count }, make);
      const extras: Transport[] = [];
      return {
        transports,
        extra: () => {
          const t = make();
          extras.push(t);
          return t;
        },
        teardown: async () => {
          await Promise.all([...transports, ...extras].map((t) => t.disconnect()));
        },
      };
    },
  };
}
