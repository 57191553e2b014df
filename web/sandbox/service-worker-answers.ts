/**
 * The page's side of the sandbox bridge without shared memory (ADR 0039): answers go to
 * the service worker that controls this page, which hands each to the sandbox worker
 * blocked on it (sw/sandbox-bridge.ts). Available once a service worker controls the page
 * and answers the bridge's probe — not on the dev server, not before the first service
 * worker has taken control.
 */
import { ASYNC_BRIDGE_PATH, type AnswerChannel, BRIDGE_PROBE_ID, BRIDGE_STATUS_HEADER, type BridgeAnswerMessage } from '../../shared/sandbox/async-bridge.ts';

/** How long the first probe waits for a service worker that is installing to take control. */
const CONTROL_WAIT_MS = 5_000;

/**
 * An {@link AnswerChannel} through the service worker whose scope is `scope` (default:
 * the page's directory). Its workers must lie in that scope: a dedicated worker is
 * controlled by the registration its own URL falls under.
 */
export function serviceWorkerAnswers(scope = new URL('./', location.href).href): AnswerChannel {
  const url = new URL(ASYNC_BRIDGE_PATH, scope).href;
  let probed: Promise<boolean> | null = null;
  return {
    url,
    available() {
      // A failed probe is asked again next time: the service worker may take control later.
      probed ??= probe(url).then((ok) => {
        if (!ok) probed = null;
        return ok;
      });
      return probed;
    },
    likely() {
      return navigator.serviceWorker?.controller != null;
    },
    answer(id, status, data) {
      const message: BridgeAnswerMessage = { t: 'liquidmesh-bridge-answer', id, status, data };
      navigator.serviceWorker?.controller?.postMessage(message);
    },
  };
}

async function probe(url: string): Promise<boolean> {
  const container = navigator.serviceWorker as ServiceWorkerContainer | undefined;
  if (!container) return false;
  if (!container.controller) {
    // The page may be registering its service worker right now (a first visit): wait a
    // little for it to take control rather than answer for good.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CONTROL_WAIT_MS);
      container.addEventListener('controllerchange', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
    if (!container.controller) return false;
  }
  try {
    const response = await fetch(`${url}/${BRIDGE_PROBE_ID}`, { cache: 'no-store' });
    return response.headers.get(BRIDGE_STATUS_HEADER) === 'probe';
  } catch {
    return false;
  }
}
