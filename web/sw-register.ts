/**
 * Registers the service worker (sw/sw.ts, built by vite-plugin-pwa) through
 * workbox-window and offers updates: when a new version has installed and waits, the
 * app shows a prompt; accepting it activates the new worker and reloads the page once it
 * controls it. Only in built apps: the dev server has no service worker.
 */
import { Workbox } from 'workbox-window';

/** Options of {@link registerServiceWorker}. */
export interface ServiceWorkerHooks {
  /** A new version is waiting; call `accept` to switch to it. */
  onUpdate(accept: () => void): void;
}

type ViteEnv = { env?: { BASE_URL?: string }; hot?: unknown };

/**
 * True when the app runs from a build (where `sw.js` exists), not from the dev server.
 * Not `import.meta.env.PROD`: a build made under NODE_ENV=test (vitest's e2e suites) has
 * it false, yet it is a build with a service worker.
 */
function isBuilt(): boolean {
  return (import.meta as ImportMeta & ViteEnv).hot === undefined;
}

/** The app's base path (Vite's `base`), where `sw.js` sits. */
function base(): string {
  return (import.meta as ImportMeta & ViteEnv).env?.BASE_URL ?? '/';
}

/** Register `sw.js` next to the page; resolves with the Workbox, or null where there is none. */
export async function registerServiceWorker(hooks: ServiceWorkerHooks): Promise<Workbox | null> {
  if (!('serviceWorker' in navigator) || !isBuilt()) return null;
  const wb = new Workbox(`${base()}sw.js`, { scope: base(), type: 'classic' });
  wb.addEventListener('waiting', () => {
    hooks.onUpdate(() => {
      wb.addEventListener('controlling', () => location.reload());
      wb.messageSkipWaiting();
    });
  });
  try {
    await wb.register();
  } catch (error) {
    console.warn('service worker not registered:', error);
    return null;
  }
  return wb;
}
