/**
 * What a Chromium peer's page shows, read from outside: whether it is a secure context,
 * its device id once the peer started, which view is on screen (the kiosk dashboard or
 * the app) with its heading, and how many peers it sees alive. `liquidmesh peer --engine
 * chromium` reports it when it changes — in a kiosk's journal, that line says the screen
 * shows the dashboard and the device is in the mesh.
 */
import type { Page } from 'puppeteer-core';

/** A Chromium peer page's state. */
export interface PageStatus {
  /** `isSecureContext`: false means no crypto.subtle, service worker or camera (an http:// origin off loopback). */
  secure: boolean;
  /** The peer's device id; empty until it has started. */
  id: string;
  /** The view on screen. */
  view: 'kiosk' | 'app' | 'none';
  /** The view's main heading (the kiosk shows the device's name). */
  heading: string;
  /** Peers this one sees alive. */
  alive: number;
  /** Why the peer could not start, if it could not. */
  error?: string;
}

/** Read the page's state once. */
export async function readPageStatus(page: Page): Promise<PageStatus> {
  return page.evaluate(() => {
    // Runs in the page; node-host compiles without DOM types, so the little it reads is typed here.
    interface Node { shadowRoot: Node | null; textContent: string | null; querySelector(selector: string): Node | null }
    const g = globalThis as unknown as { isSecureContext: boolean; document: Node; liquidmesh?: { peer: { id: string; alive(): string[] } } };
    const app = g.document.querySelector('lm-app') as (Node & { startError?: string }) | null;
    const kiosk = app?.shadowRoot?.querySelector('lm-kiosk-view');
    const root = kiosk?.shadowRoot ?? app?.shadowRoot;
    const heading = root?.querySelector('h1')?.textContent?.trim() ?? '';
    const lm = g.liquidmesh;
    const status: PageStatus = { secure: g.isSecureContext, id: lm?.peer.id ?? '', view: kiosk ? 'kiosk' : app ? 'app' : 'none', heading, alive: lm ? lm.peer.alive().length : 0 };
    if (app?.startError) status.error = app.startError;
    return status;
  });
}

/** Call `report` with the page's state now and whenever it changes (checked every `everyMs`); returns a stop function. */
export function watchPageStatus(page: Page, report: (status: PageStatus) => void, everyMs = 2000): () => void {
  let last = '';
  let stopped = false;
  const check = async (): Promise<void> => {
    // A page that is navigating or closing cannot be read now; the next check will.
    const status = await readPageStatus(page).catch(() => null);
    if (stopped || !status) return;
    const text = JSON.stringify(status);
    if (text !== last) report(status);
    last = text;
  };
  const timer = setInterval(() => void check(), everyMs);
  void check();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
