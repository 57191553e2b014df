// Registers the test pages' service worker (bridge-sw.ts) for the sandbox suites without
// shared memory, as the PWA's own service worker serves the bridge for its pages.
import { sharedMemoryAvailable } from '../../shared/sandbox/worker-sandbox.ts';
import { serviceWorkerAnswers } from '../../web/sandbox/service-worker-answers.ts';

/** Where the bridge's service worker script is served (web-test-runner.config.mjs lets it claim '/'). */
export const BRIDGE_SW_URL = '/test/browser/bridge-sw.ts';

/**
 * Register the bridge's service worker and wait until it controls this page; true when a
 * sandbox's workers can now block on it (the bridge's probe answers).
 */
export async function installBridgeServiceWorker(): Promise<boolean> {
  if (!('serviceWorker' in navigator)) return false;
  const container = navigator.serviceWorker;
  const controlled = container.controller ? Promise.resolve() : new Promise<void>((resolve) => container.addEventListener('controllerchange', () => resolve(), { once: true }));
  await container.register(BRIDGE_SW_URL, { scope: '/', type: 'module' });
  await controlled;
  return serviceWorkerAnswers().available();
}

/**
 * On a page without shared memory, install the bridge's service worker before the suite
 * makes its sandboxes; with shared memory, nothing (the sandbox blocks on Atomics).
 */
export async function bridgeWhereNeeded(): Promise<void> {
  if (!sharedMemoryAvailable()) await installBridgeServiceWorker();
}
