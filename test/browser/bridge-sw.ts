// The test pages' service worker: only the sandbox bridge's part of the PWA's
// (sw/sandbox-bridge.ts), taking control at once so the suite's workers are controlled.
import { acceptBridgeAnswer, serveBridgeRequest, type BridgeFetchEvent } from '../../sw/sandbox-bridge.ts';

interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
const scope = self as unknown as {
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  addEventListener(type: 'install' | 'activate', listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', listener: (event: BridgeFetchEvent) => void): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
};
scope.addEventListener('install', (event) => event.waitUntil(scope.skipWaiting()));
scope.addEventListener('activate', (event) => event.waitUntil(scope.clients.claim()));
scope.addEventListener('fetch', (event) => {
  serveBridgeRequest(event);
});
scope.addEventListener('message', (event) => {
  acceptBridgeAnswer(event.data);
});
